"""SyncML DM 1.2 in XML (``application/vnd.syncml.dm+xml``), parsed as hardened as the
delegation interface's documents (`dmdelegation.protocol.parsing`): size first, UTF-8 only,
no DTD or entity, a nesting limit checked before any tree is built."""

from __future__ import annotations

import re

from lxml import etree

from dmdelegation.dm.elements import OPAQUE, RAW, from_element, to_element
from dmdelegation.dm.message import MalformedMessage, Message
from dmdelegation.protocol.errors import ProtocolError
from dmdelegation.protocol.parsing import parse_untrusted

CONTENT_TYPE = "application/vnd.syncml.dm+xml"
MAX_DEPTH = 10
"""Element nesting; the deepest message a DM session sends or reads has 8 levels
(SyncML/SyncBody/Atomic/Add/Item/Meta/MetInf/Format)."""


_NEXT_NONCE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?NextNonce(?:\s[^>]*?)?(/?)>(\s*<!\[CDATA\[)?")


def _mark_raw_nonces(data: bytes, root: etree._Element) -> None:
    """Mark the ``<NextNonce>`` elements whose text came in a CDATA section (some clients put
    the nonce's raw bytes there, not base64). The parser keeps no trace of CDATA: the tags are
    matched in the text, in document order, and nothing is marked when they do not pair up."""
    if b"<![CDATA[" not in data:
        return
    found = [m.group(2) is not None and not m.group(1) for m in _NEXT_NONCE.finditer(data)]
    nonces = [
        el
        for el in root.iter()
        if isinstance(el.tag, str) and etree.QName(el).localname == "NextNonce"
    ]
    if len(found) != len(nonces):
        return
    for el, cdata in zip(nonces, found, strict=True):
        if cdata:
            el.set(RAW, "1")


def encode(message: Message) -> bytes:
    root = to_element(message)
    for el in root.iter():
        if el.get(OPAQUE) is not None:
            del el.attrib[OPAQUE]
    etree.cleanup_namespaces(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def decode(data: bytes, max_size: int) -> Message:
    """The message in ``data``; `MalformedMessage` (400, or 413 when too large, 415 when not
    UTF-8) otherwise."""
    try:
        root = parse_untrusted(data, max_size=max_size, max_depth=MAX_DEPTH)
    except ProtocolError as e:
        raise MalformedMessage(str(e), e.status) from None
    for el in root.iter():
        if el.attrib:  # SyncML elements take no attribute but xmlns
            raise MalformedMessage("SyncML elements take no attributes")
    _mark_raw_nonces(data, root)
    return from_element(root)
