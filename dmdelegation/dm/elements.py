"""The SyncML message to and from an element tree: the part both codecs share.

The XML codec serialises the tree as text; the WBXML codec as tokens. Binary data (``bytes``)
is written as base64 text marked with the ``OPAQUE`` attribute, which the WBXML codec turns into
opaque data and the XML codec drops (XML carries base64, the node's format says so). Reading is
strict on what a DM session relies on (a missing CmdID, a status that is not a number: 400) and
ignores elements it does not use.
"""

from __future__ import annotations

import base64
import binascii

from lxml import etree

from dmdelegation.dm.message import (
    BodyElement,
    Chal,
    Command,
    Cred,
    Header,
    Item,
    MalformedMessage,
    Message,
    Meta,
    Results,
    Status,
)

SYNCML_NS = "SYNCML:SYNCML1.2"
METINF_NS = "syncml:metinf"
OPAQUE = "{urn:dmdelegation:wbxml}opaque"
"""Attribute marking base64 text that is binary data (WBXML opaque)."""
RAW = "{urn:dmdelegation:xml}raw"
"""Attribute marking the text of a ``<NextNonce>`` that came in a CDATA section: raw bytes, not
base64 (the XML codec sets it)."""

MAX_BODY_ELEMENTS = 512
MAX_ITEMS = 256
MAX_TEXT = 64 * 1024

_CONTAINERS = ("Atomic", "Sequence")
_COMMANDS = ("Add", "Alert", "Atomic", "Copy", "Delete", "Exec", "Get", "Replace", "Sequence")


def _s(tag: str) -> str:
    return f"{{{SYNCML_NS}}}{tag}"


def _m(tag: str) -> str:
    return f"{{{METINF_NS}}}{tag}"


# Writing.


def _text(parent: etree._Element, tag: str, text: str) -> etree._Element:
    if tag.startswith(f"{{{METINF_NS}}}"):
        child = etree.SubElement(parent, tag, nsmap={None: METINF_NS})  # type: ignore[dict-item]
    else:
        child = etree.SubElement(parent, tag)
    child.text = text
    return child


def _loc(parent: etree._Element, tag: str, uri: str) -> None:
    _text(etree.SubElement(parent, _s(tag)), _s("LocURI"), uri)


def _data(parent: etree._Element, tag: str, data: str | bytes) -> None:
    if isinstance(data, bytes):
        el = _text(parent, tag, base64.b64encode(data).decode("ascii"))
        el.set(OPAQUE, "1")
    else:
        _text(parent, tag, data)


def _meta(parent: etree._Element, meta: Meta) -> None:
    el = etree.SubElement(parent, _s("Meta"))
    if meta.format is not None:
        _text(el, _m("Format"), meta.format)
    if meta.type is not None:
        _text(el, _m("Type"), meta.type)
    if meta.max_msg_size is not None:
        _text(el, _m("MaxMsgSize"), str(meta.max_msg_size))
    if meta.next_nonce is not None:
        _text(el, _m("NextNonce"), base64.b64encode(meta.next_nonce).decode("ascii"))


def _item(parent: etree._Element, item: Item) -> None:
    el = etree.SubElement(parent, _s("Item"))
    if item.target is not None:
        _loc(el, "Target", item.target)
    if item.source is not None:
        _loc(el, "Source", item.source)
    if item.meta is not None:
        _meta(el, item.meta)
    if item.data is not None:
        _data(el, _s("Data"), item.data)


def _command(parent: etree._Element, command: Command) -> None:
    el = etree.SubElement(parent, _s(command.name))
    _text(el, _s("CmdID"), command.cmd_id)
    if command.meta is not None:
        _meta(el, command.meta)
    if command.data is not None:
        _text(el, _s("Data"), command.data)
    for item in command.items:
        _item(el, item)
    for child in command.children:
        _command(el, child)


def _body_element(parent: etree._Element, element: BodyElement) -> None:
    if isinstance(element, Command):
        _command(parent, element)
        return
    el = etree.SubElement(parent, _s(type(element).__name__))
    _text(el, _s("CmdID"), element.cmd_id)
    _text(el, _s("MsgRef"), element.msg_ref)
    _text(el, _s("CmdRef"), element.cmd_ref)
    if isinstance(element, Results):
        for item in element.items:
            _item(el, item)
        return
    _text(el, _s("Cmd"), element.cmd)
    if element.target_ref is not None:
        _text(el, _s("TargetRef"), element.target_ref)
    if element.source_ref is not None:
        _text(el, _s("SourceRef"), element.source_ref)
    if element.chal is not None:
        chal = etree.SubElement(el, _s("Chal"))
        _meta(chal, Meta(format=element.chal.format, type=element.chal.type))
        meta = chal[0]
        _text(meta, _m("NextNonce"), base64.b64encode(element.chal.next_nonce).decode("ascii"))
    _text(el, _s("Data"), str(element.code))


def to_element(message: Message) -> etree._Element:
    root = etree.Element(_s("SyncML"), nsmap={None: SYNCML_NS})  # type: ignore[dict-item]
    header = message.header
    hdr = etree.SubElement(root, _s("SyncHdr"))
    _text(hdr, _s("VerDTD"), header.ver_dtd)
    _text(hdr, _s("VerProto"), header.ver_proto)
    _text(hdr, _s("SessionID"), header.session_id)
    _text(hdr, _s("MsgID"), header.msg_id)
    _loc(hdr, "Target", header.target)
    _loc(hdr, "Source", header.source)
    if header.resp_uri is not None:
        _text(hdr, _s("RespURI"), header.resp_uri)
    if header.cred is not None:
        cred = etree.SubElement(hdr, _s("Cred"))
        _meta(cred, Meta(format=header.cred.format, type=header.cred.type))
        _text(cred, _s("Data"), header.cred.data)
    if header.max_msg_size is not None:
        _meta(hdr, Meta(max_msg_size=header.max_msg_size))
    body = etree.SubElement(root, _s("SyncBody"))
    for element in message.body:
        _body_element(body, element)
    if message.final:
        etree.SubElement(body, _s("Final"))
    return root


# Reading.


def _name(el: etree._Element) -> str:
    if not isinstance(el.tag, str):
        return ""
    return etree.QName(el).localname


def _children(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def _find(el: etree._Element, name: str) -> etree._Element | None:
    for child in _children(el):
        if _name(child) == name:
            return child
    return None


def _all(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in _children(el) if _name(c) == name]


def _leaf_text(el: etree._Element) -> str:
    if _children(el):
        raise MalformedMessage(f"<{_name(el)}> holds elements where text is expected")
    text = el.text or ""
    if len(text) > MAX_TEXT:
        raise MalformedMessage(f"<{_name(el)}> is too long")
    return text.strip() if _name(el) != "Data" else text


def _opt_text(el: etree._Element, name: str) -> str | None:
    child = _find(el, name)
    return None if child is None else _leaf_text(child)


def _req_text(el: etree._Element, name: str) -> str:
    text = _opt_text(el, name)
    if not text:
        raise MalformedMessage(f"<{_name(el)}> lacks <{name}>")
    return text


def _loc_uri(el: etree._Element, name: str) -> str | None:
    child = _find(el, name)
    if child is None:
        return None
    return _req_text(child, "LocURI")


def _nonce(el: etree._Element) -> bytes:
    """The nonce of ``<NextNonce>``: base64 text decoded (the spec's ``<Format>b64</Format>``;
    the Format is not relied on, some clients leave it out). Tolerated and taken as the bytes
    they are: text in a CDATA section, text that is not base64; WBXML opaque data too."""
    if el.get(RAW) is not None:
        return (el.text or "").encode("utf-8")
    text = _leaf_text(el)
    if el.get(OPAQUE) is not None:
        return base64.b64decode(text.encode("ascii"))
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return text.encode("utf-8")


def _int(text: str, what: str) -> int:
    if not text.isdigit() or len(text) > 10:
        raise MalformedMessage(f"<{what}> is not a number")
    return int(text)


def _read_meta(el: etree._Element | None) -> Meta | None:
    if el is None:
        return None
    inner = _find(el, "MetInf")  # a MetInf wrapper is allowed
    source = el if inner is None else inner
    size = _opt_text(source, "MaxMsgSize")
    nonce = _find(source, "NextNonce")
    return Meta(
        format=_opt_text(source, "Format"),
        type=_opt_text(source, "Type"),
        max_msg_size=None if size is None else _int(size, "MaxMsgSize"),
        next_nonce=None if nonce is None else _nonce(nonce),
    )


def _read_data(el: etree._Element | None) -> str | bytes | None:
    if el is None:
        return None
    text = _leaf_text(el)
    if el.get(OPAQUE) is not None:
        return base64.b64decode(text.encode("ascii"))
    return text


def _read_item(el: etree._Element) -> Item:
    return Item(
        target=_loc_uri(el, "Target"),
        source=_loc_uri(el, "Source"),
        meta=_read_meta(_find(el, "Meta")),
        data=_read_data(_find(el, "Data")),
    )


def _read_items(el: etree._Element) -> tuple[Item, ...]:
    items = _all(el, "Item")
    if len(items) > MAX_ITEMS:
        raise MalformedMessage(f"<{_name(el)}> holds more than {MAX_ITEMS} items")
    return tuple(_read_item(i) for i in items)


def _read_command(el: etree._Element, nested: bool = False) -> Command:
    name = _name(el)
    children: tuple[Command, ...] = ()
    if name in _CONTAINERS:
        if nested:
            raise MalformedMessage(f"<{name}> nested in another container")
        inner = [c for c in _children(el) if _name(c) in _COMMANDS]
        children = tuple(_read_command(c, nested=True) for c in inner)
    data = _find(el, "Data")
    return Command(
        name=name,
        cmd_id=_req_text(el, "CmdID"),
        items=_read_items(el),
        data=None if data is None else _leaf_text(data).strip(),
        meta=_read_meta(_find(el, "Meta")),
        children=children,
    )


def _read_status(el: etree._Element) -> Status:
    chal = None
    chal_el = _find(el, "Chal")
    if chal_el is not None:
        meta = _read_meta(_find(chal_el, "Meta"))
        if meta is None or meta.type is None or meta.next_nonce is None:
            raise MalformedMessage("<Chal> lacks its Type or NextNonce")
        chal = Chal(type=meta.type, next_nonce=meta.next_nonce, format=meta.format or "b64")
    return Status(
        cmd_id=_req_text(el, "CmdID"),
        msg_ref=_req_text(el, "MsgRef"),
        cmd_ref=_req_text(el, "CmdRef"),
        cmd=_req_text(el, "Cmd"),
        code=_int(_req_text(el, "Data"), "Data"),
        target_ref=_opt_text(el, "TargetRef"),
        source_ref=_opt_text(el, "SourceRef"),
        chal=chal,
    )


def _read_header(el: etree._Element) -> Header:
    target, source = _loc_uri(el, "Target"), _loc_uri(el, "Source")
    if target is None or source is None:
        raise MalformedMessage("<SyncHdr> lacks its Target or Source")
    cred = None
    cred_el = _find(el, "Cred")
    if cred_el is not None:
        meta = _read_meta(_find(cred_el, "Meta"))
        if meta is None or meta.type is None:
            raise MalformedMessage("<Cred> lacks its Type")
        cred = Cred(type=meta.type, data=_req_text(cred_el, "Data"), format=meta.format)
    meta = _read_meta(_find(el, "Meta"))
    return Header(
        ver_dtd=_req_text(el, "VerDTD"),
        ver_proto=_req_text(el, "VerProto"),
        session_id=_req_text(el, "SessionID"),
        msg_id=_req_text(el, "MsgID"),
        target=target,
        source=source,
        cred=cred,
        max_msg_size=None if meta is None else meta.max_msg_size,
        resp_uri=_opt_text(el, "RespURI"),
    )


def from_element(root: etree._Element) -> Message:
    if _name(root) != "SyncML":
        raise MalformedMessage("the document is not <SyncML>")
    hdr, body = _find(root, "SyncHdr"), _find(root, "SyncBody")
    if hdr is None or body is None:
        raise MalformedMessage("<SyncML> lacks its SyncHdr or SyncBody")
    header = _read_header(hdr)
    elements: list[BodyElement] = []
    final = False
    children = _children(body)
    if len(children) > MAX_BODY_ELEMENTS:
        raise MalformedMessage(f"<SyncBody> holds more than {MAX_BODY_ELEMENTS} elements")
    for child in children:
        name = _name(child)
        if name == "Final":
            final = True
        elif name == "Status":
            elements.append(_read_status(child))
        elif name == "Results":
            elements.append(
                Results(
                    cmd_id=_req_text(child, "CmdID"),
                    msg_ref=_req_text(child, "MsgRef"),
                    cmd_ref=_req_text(child, "CmdRef"),
                    items=_read_items(child),
                )
            )
        else:
            elements.append(_read_command(child))
    return Message(header=header, body=tuple(elements), final=final)
