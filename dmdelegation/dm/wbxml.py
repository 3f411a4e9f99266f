"""SyncML DM 1.2 in WBXML (``application/vnd.syncml.dm+wbxml``): WBXML 1.2 with the SyncML
code page (0) and the MetInf code page (1) of the SyncML Representation Protocol 1.2.

No maintained Python WBXML library exists (the ``wbxml`` package on PyPI wraps libwbxml and was
last released in 2015), so this is the project's own, limited to what SyncML DM needs: tags,
inline strings, string-table references and opaque data; no attributes, entities, processing
instructions, literals or extensions (each refused). Decoding is bounded the way XML parsing is:
size first, nesting depth, number of elements and the string table's size.
"""

from __future__ import annotations

import base64

from lxml import etree

from dmdelegation.dm.elements import METINF_NS, OPAQUE, SYNCML_NS, from_element, to_element
from dmdelegation.dm.message import MalformedMessage, Message

CONTENT_TYPE = "application/vnd.syncml.dm+wbxml"
PUBLIC_ID_SYNCML12 = 0x1201
PUBLIC_ID_TEXT = b"-//SYNCML//DTD SyncML 1.2//EN"
CHARSET_UTF8 = 106
MAX_DEPTH = 10
MAX_ELEMENTS = 8192

_SWITCH_PAGE, _END, _ENTITY, _STR_I, _LITERAL = 0x00, 0x01, 0x02, 0x03, 0x04
_STR_T, _OPAQUE = 0x83, 0xC3

_SYNCML_TAGS = [
    "Add",
    "Alert",
    "Archive",
    "Atomic",
    "Chal",
    "Cmd",
    "CmdID",
    "CmdRef",
    "Copy",
    "Cred",
    "Data",
    "Delete",
    "Exec",
    "Final",
    "Get",
    "Item",
    "Lang",
    "LocName",
    "LocURI",
    "Map",
    "MapItem",
    "Meta",
    "MsgID",
    "MsgRef",
    "NoResp",
    "NoResults",
    "Put",
    "Replace",
    "RespURI",
    "Results",
    "Search",
    "Sequence",
    "SessionID",
    "SftDel",
    "Source",
    "SourceRef",
    "Status",
    "Sync",
    "SyncBody",
    "SyncHdr",
    "SyncML",
    "Target",
    "TargetRef",
    "_reserved",
    "VerDTD",
    "VerProto",
    "NumberOfChanges",
    "MoreData",
    "Field",
    "Filter",
    "Record",
    "FilterType",
    "SourceParent",
    "TargetParent",
    "Move",
    "Correlator",
]
_METINF_TAGS = [
    "Anchor",
    "EMI",
    "Format",
    "FreeID",
    "FreeMem",
    "Last",
    "Mark",
    "MaxMsgSize",
    "Mem",
    "MetInf",
    "Next",
    "NextNonce",
    "SharedMem",
    "Size",
    "Type",
    "Version",
    "MaxObjSize",
    "FieldLevel",
]

_PAGES = {
    0: (SYNCML_NS, {5 + i: t for i, t in enumerate(_SYNCML_TAGS) if t != "_reserved"}),
    1: (METINF_NS, {5 + i: t for i, t in enumerate(_METINF_TAGS)}),
}
_TOKENS = {
    (ns, name): (page, token)
    for page, (ns, names) in _PAGES.items()
    for token, name in names.items()
}


def _mb_u_int32(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def encode(message: Message) -> bytes:
    out = bytearray([0x02])
    out += _mb_u_int32(PUBLIC_ID_SYNCML12) + _mb_u_int32(CHARSET_UTF8) + _mb_u_int32(0)
    page = 0

    def element(el: etree._Element) -> None:
        nonlocal page
        qname = etree.QName(el)
        tag_page, token = _TOKENS[(qname.namespace or SYNCML_NS, qname.localname)]
        if tag_page != page:
            out.extend((_SWITCH_PAGE, tag_page))
            page = tag_page
        children = list(el)
        text = el.text or ""
        opaque = el.get(OPAQUE) is not None
        if not children and not text and not opaque:
            out.append(token)
            return
        out.append(token | 0x40)
        if text or opaque:
            if opaque or "\x00" in text:
                raw = base64.b64decode(text) if opaque else text.encode("utf-8")
                out.append(_OPAQUE)
                out.extend(_mb_u_int32(len(raw)))
                out.extend(raw)
            else:
                out.append(_STR_I)
                out.extend(text.encode("utf-8"))
                out.append(0)
        for child in children:
            element(child)
        out.append(_END)

    element(to_element(message))
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise MalformedMessage("WBXML ends too early")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def mb_u_int32(self) -> int:
        value = 0
        for _ in range(5):
            b = self.byte()
            value = (value << 7) | (b & 0x7F)
            if not b & 0x80:
                if value > 0xFFFFFFFF:
                    break
                return value
        raise MalformedMessage("WBXML integer longer than 32 bits")

    def take(self, length: int) -> bytes:
        if length > len(self.data) - self.pos:
            raise MalformedMessage("WBXML data runs past the end")
        chunk = self.data[self.pos : self.pos + length]
        self.pos += length
        return chunk

    def cstring(self) -> bytes:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise MalformedMessage("WBXML string without its terminator")
        chunk = self.data[self.pos : end]
        self.pos = end + 1
        return chunk


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedMessage("WBXML string is not UTF-8") from None


def decode(data: bytes, max_size: int) -> Message:
    """The message in ``data``; `MalformedMessage` (400, 413 when too large, 415 for another
    character set or document type) otherwise."""
    if len(data) > max_size:
        raise MalformedMessage(f"message of {len(data)} bytes exceeds {max_size}", 413)
    r = _Reader(data)
    if r.byte() not in (0x01, 0x02, 0x03):
        raise MalformedMessage("not WBXML 1.x")
    public_id = r.mb_u_int32()
    text_id = r.mb_u_int32() if public_id == 0 else None
    if r.mb_u_int32() != CHARSET_UTF8:
        raise MalformedMessage("WBXML character set is not UTF-8", 415)
    table = r.take(r.mb_u_int32())
    if text_id is not None:
        end = table.find(b"\x00", text_id)
        if text_id >= len(table) or end < 0 or table[text_id:end] != PUBLIC_ID_TEXT:
            raise MalformedMessage("WBXML document is not SyncML 1.2", 415)
    elif public_id != PUBLIC_ID_SYNCML12:
        raise MalformedMessage("WBXML document is not SyncML 1.2", 415)

    page = 0
    stack: list[etree._Element] = []
    root: etree._Element | None = None
    count = 0

    def add_text(text: str) -> None:
        if not stack:
            raise MalformedMessage("WBXML text outside the root element")
        el = stack[-1]
        try:
            if len(el):
                el[-1].tail = (el[-1].tail or "") + text
            else:
                el.text = (el.text or "") + text
        except ValueError:  # a control character XML cannot hold
            raise MalformedMessage("WBXML string holds a character XML cannot carry") from None

    while True:
        token = r.byte()
        if token == _SWITCH_PAGE:
            page = r.byte()
            if page not in _PAGES:
                raise MalformedMessage(f"WBXML code page {page} is not SyncML's")
        elif token == _END:
            if not stack:
                raise MalformedMessage("WBXML END without an open element")
            stack.pop()
            if not stack:
                break
        elif token == _STR_I:
            add_text(_utf8(r.cstring()))
        elif token == _STR_T:
            offset = r.mb_u_int32()
            end = table.find(b"\x00", offset)
            if offset >= len(table) or end < 0:
                raise MalformedMessage("WBXML string-table reference out of range")
            add_text(_utf8(table[offset:end]))
        elif token == _OPAQUE:
            raw = r.take(r.mb_u_int32())
            add_text(base64.b64encode(raw).decode("ascii"))
            if stack:
                stack[-1].set(OPAQUE, "1")
        elif (token & 0x3F) < 5 or token & 0x80:
            raise MalformedMessage(
                f"WBXML token 0x{token:02X} (attributes, entities, literals, extensions) refused"
            )
        else:
            namespace, names = _PAGES[page]
            name = names.get(token & 0x3F)
            if name is None:
                raise MalformedMessage(f"WBXML tag 0x{token & 0x3F:02X} unknown in page {page}")
            count += 1
            if count > MAX_ELEMENTS:
                raise MalformedMessage(f"WBXML document has more than {MAX_ELEMENTS} elements")
            tag = f"{{{namespace}}}{name}"
            if stack:
                el = etree.SubElement(stack[-1], tag)
            elif root is None:
                el = root = etree.Element(tag, nsmap={None: SYNCML_NS})  # type: ignore[dict-item]
            else:
                raise MalformedMessage("WBXML holds more than one root element")
            if token & 0x40:
                stack.append(el)
                if len(stack) > MAX_DEPTH:
                    raise MalformedMessage(f"document nests deeper than {MAX_DEPTH} elements")
            elif not stack:
                break
    if r.pos != len(data):
        raise MalformedMessage("WBXML has bytes after its root element")
    assert root is not None
    return from_element(root)
