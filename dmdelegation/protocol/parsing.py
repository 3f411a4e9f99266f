"""Hardened parsing of untrusted bodies.

Order of checks, cheapest first, each refusing with a :class:`ProtocolError`:

1. size, before anything is looked at (413);
2. encoding: UTF-8 only (a UTF-16/32 byte order mark or another declared encoding is 415), so
   the byte-level checks below cannot be side-stepped by another encoding;
3. any ``<!DOCTYPE`` or ``<!ENTITY`` (400): no DTD, hence no entity can ever be declared;
4. nesting depth, by a scan of the tags (400), before lxml builds any tree;
5. the parse itself, by an lxml parser that resolves no entity, loads no DTD, never touches the
   network, keeps libxml2's own limits (no huge-tree mode) and drops comments and processing
   instructions; the parsed document is checked once more for a DOCTYPE.

lxml 6.1 or newer is required: older releases resolve external entities in ``iterparse`` and
``ETCompatXMLParser``; neither is used here, and the floor is also enforced at import.
"""

from __future__ import annotations

import re

from lxml import etree

from dmdelegation.protocol.errors import ProtocolError

if etree.LXML_VERSION < (6, 1):  # pragma: no cover - guarded by the dependency floor
    raise ImportError(f"lxml 6.1 or newer is required, found {etree.__version__}")

DEFAULT_MAX_SIZE = 64 * 1024
"""Bytes; the largest valid message is well under it (docs/spec-notes.md)."""

DEFAULT_MAX_DEPTH = 8
"""Element nesting; the deepest valid message has 5 levels (root/DMAcc/AppAddr/Port/PortNbr)."""


def make_parser() -> etree.XMLParser:
    """An lxml parser that resolves no entity, loads no DTD and never touches the network."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
        encoding="utf-8",
    )


_PARSER = make_parser()

_FORBIDDEN_BOMS = (
    b"\xff\xfe",  # UTF-16 LE (and UTF-32 LE)
    b"\xfe\xff",  # UTF-16 BE
    b"\x00\x00\xfe\xff",  # UTF-32 BE
)
_DECLARED_ENCODING = re.compile(
    rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*["']([^"']*)["']"""
)

# Markup that holds no element but may hold '<' and '>': comments, CDATA, processing instructions.
_NOT_ELEMENTS = re.compile(rb"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>", re.DOTALL)
# A leaf element: a start tag, text without markup, its end tag; or an empty-element tag.
_LEAF = re.compile(rb"<[^<>!?/][^<>]*(?<!/)>[^<]*</[^<>]*>|<[^<>!?/][^<>]*/>")
# Of a tag: group 1 is "/" for an end tag, group 2 is "/" for an empty-element tag.
_TAG = re.compile(rb"<(/?)[^<>!?/][^<>]*?(/?)>")
# A start tag whose content opens with markup other than an end tag: an interior element (or
# one that holds a comment, CDATA or a processing instruction, which only counts too many).
_INTERIOR = re.compile(rb"<[^<>!?/][^<>]*+(?<!/)>[^<]*+(?=<[^/])")  # possessive: no backtracking


def depth_bound(data: bytes) -> int:
    """An upper bound of the nesting depth of ``data``'s elements, by one C-speed scan.

    Every element on the path from the root to its deepest leaf but that leaf is interior: its
    start tag is followed, after text, by markup that is not an end tag. So the interior start
    tags, plus one, bound the depth from above (markup inside comments or CDATA, or ill-formed
    markup, can only add to the count).
    """
    return len(_INTERIOR.findall(data)) + 1


def document_depth(data: bytes) -> int:
    """The nesting depth of ``data``'s elements, from its bytes alone.

    Comments, CDATA sections and processing instructions are dropped first. Every path from the
    root ends in a leaf, so removing all leaves (one C-speed substitution) lowers the depth by
    exactly one; the few interior tags left are then counted in order. Malformed markup can only
    make the count too high, which errs on the side of refusal; libxml2's own limit (256 levels
    without huge-tree mode) stands behind this check in any case.
    """
    if b"<!" in data or b"<?" in data:
        data = _NOT_ELEMENTS.sub(b"", data)
    interior = _LEAF.sub(b"", data)
    leaves = 1 if len(interior) != len(data) else 0
    depth = deepest = 0
    for end, empty in _TAG.findall(interior):
        if empty:
            continue
        if end:
            depth -= 1
        else:
            depth += 1
            if depth > deepest:
                deepest = depth
    return deepest + leaves


def check_depth(data: bytes, max_depth: int) -> None:
    """Refuse ``data`` if its elements nest deeper than ``max_depth``, before any tree exists.

    A document with no more markup openings than ``max_depth`` (every ``<`` that does not
    start an end tag), or no more interior elements than ``max_depth - 1`` (:func:`depth_bound`),
    cannot nest deeper, and is let through without the exact count. Counting ``</`` costs
    more than counting ``<`` (a two-byte search), so it is done only where it can pass: in a
    document of at most about ``max_depth`` elements.
    """
    markup = data.count(b"<")
    if markup <= max_depth:
        return
    if markup <= 2 * max_depth + 1 and markup - data.count(b"</") <= max_depth:
        return
    if depth_bound(data) <= max_depth:
        return
    if document_depth(data) > max_depth:
        raise ProtocolError(f"document nests deeper than {max_depth} elements", 400)


_USUAL_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'


def check_encoding(data: bytes) -> None:
    """Refuse any encoding but UTF-8 (the parser is also forced to read UTF-8)."""
    if data.startswith(_USUAL_DECLARATION) and b"\x00" not in data:
        return
    if data.startswith(_FORBIDDEN_BOMS):
        raise ProtocolError("document is not UTF-8 (byte order mark of UTF-16 or UTF-32)", 415)
    if b"\x00" in data:  # never in UTF-8 XML; always in UTF-16/32 markup
        raise ProtocolError("document is not UTF-8 (it holds NUL bytes)", 415)
    declared = _DECLARED_ENCODING.match(data)
    if declared is not None and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        name = declared.group(1).decode("ascii", "replace")
        raise ProtocolError(f"document declares encoding {name!r}; only UTF-8 is accepted", 415)


def parse_untrusted(
    data: bytes,
    max_size: int = DEFAULT_MAX_SIZE,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> etree._Element:
    """Parse an untrusted body into its root element, or raise :class:`ProtocolError`."""
    if not isinstance(data, bytes):
        raise TypeError("parse_untrusted takes the raw body as bytes")
    if len(data) > max_size:
        raise ProtocolError(f"document of {len(data)} bytes exceeds the limit of {max_size}", 413)
    check_encoding(data)
    # "!" first: a one-byte search is several times faster than any longer one, and most
    # messages hold no "!" at all.
    if b"!" in data and (b"<!DOCTYPE" in data or b"<!ENTITY" in data):
        raise ProtocolError("document type declarations (DOCTYPE) are refused", 400)
    check_depth(data, max_depth)
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as e:
        raise ProtocolError(f"not well-formed XML: {e}", 400) from None
    docinfo: etree.DocInfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:  # type: ignore[attr-defined]
        raise ProtocolError("document type declarations (DOCTYPE) are refused", 400)
    return root
