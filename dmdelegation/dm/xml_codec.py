"""SyncML DM 1.2 in XML (``application/vnd.syncml.dm+xml``), parsed as hardened as the
delegation interface's documents (`dmdelegation.protocol.parsing`): size first, UTF-8 only,
no DTD or entity, a nesting limit checked before any tree is built."""

from __future__ import annotations

from lxml import etree

from dmdelegation.dm.elements import OPAQUE, from_element, to_element
from dmdelegation.dm.message import MalformedMessage, Message
from dmdelegation.protocol.errors import ProtocolError
from dmdelegation.protocol.parsing import parse_untrusted

CONTENT_TYPE = "application/vnd.syncml.dm+xml"
MAX_DEPTH = 10
"""Element nesting; the deepest message a DM session sends or reads has 8 levels
(SyncML/SyncBody/Atomic/Add/Item/Meta/MetInf/Format)."""


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
    return from_element(root)
