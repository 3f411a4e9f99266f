"""Hostile documents: entity expansion, external entities, DTDs, huge and deep documents.

Each is refused with a precise reason and a 400-class status; no entity text ever appears (in the
reason, or anywhere: nothing is returned), and no connection or file is opened. The tests assert
the refusal and its reason, never a duration.
"""

from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from dmdelegation.protocol import DEFAULT_MAX_SIZE, ProtocolError, decode
from dmdelegation.protocol.examples import EXAMPLES
from dmdelegation.protocol.parsing import depth_bound, document_depth, parse_untrusted

REQ = EXAMPLES["DELEGATION_REQ"].encode()
BODY = REQ.split(b"\n", 1)[1]  # without the XML declaration


def _with_dtd(internal_subset: bytes, marker: bytes = b"Acme") -> bytes:
    return b"<!DOCTYPE DELEGATION_REQ [" + internal_subset + b"]>" + BODY.replace(marker, b"&e;")


def _refused(doc: bytes, **limits: int) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        decode(doc, **limits)
    assert 400 <= caught.value.status < 500
    return caught.value


BILLION_LAUGHS = _with_dtd(
    b'<!ENTITY lol "lollollollollollollollollollol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b'<!ENTITY e "&lol9;">'
)
QUADRATIC = _with_dtd(b'<!ENTITY big "' + b"B" * 20000 + b'">').replace(b"&e;", b"&big;" * 1500)


def test_billion_laughs_is_refused_without_expansion() -> None:
    error = _refused(BILLION_LAUGHS)
    assert "DOCTYPE" in error.reason
    assert "lollol" not in error.reason


def test_quadratic_blowup_is_refused_without_expansion() -> None:
    assert len(QUADRATIC) < DEFAULT_MAX_SIZE  # refused for the DTD, not for its size
    error = _refused(QUADRATIC)
    assert "DOCTYPE" in error.reason
    assert "BBBB" not in error.reason


def test_external_file_entity_is_refused_and_not_read(tmp_path: pytest.TempPathFactory) -> None:
    secret = tmp_path / "secret.txt"  # type: ignore[operator]
    secret.write_text("TOP-SECRET-CONTENT")
    error = _refused(_with_dtd(b'<!ENTITY e SYSTEM "file://' + str(secret).encode() + b'">'))
    assert "DOCTYPE" in error.reason
    assert "TOP-SECRET" not in error.reason


def test_external_http_entity_is_refused_and_nothing_connects() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        doc = _with_dtd(b'<!ENTITY e SYSTEM "http://127.0.0.1:%d/entity">' % port)
        error = _refused(doc)
        assert "DOCTYPE" in error.reason
        # A parameter entity and an external DTD subset, too.
        _refused(b'<!DOCTYPE DELEGATION_REQ SYSTEM "http://127.0.0.1:%d/x.dtd">' % port + BODY)
        _refused(b'<!DOCTYPE r [<!ENTITY %% p SYSTEM "http://127.0.0.1:%d/p">%%p;]>' % port + BODY)
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()


@pytest.mark.parametrize(
    "doc",
    [
        b'<!DOCTYPE DELEGATION_REQ SYSTEM "delegation.dtd">' + BODY,
        b'<!DOCTYPE DELEGATION_REQ PUBLIC "-//X//DTD X//EN" "x.dtd">' + BODY,
        b"<!DOCTYPE DELEGATION_REQ []>" + BODY,
        b"<!DOCTYPE DELEGATION_REQ>" + BODY,
        b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE DELEGATION_REQ>' + BODY,
        b'<!DOCTYPE DELEGATION_REQ [<!ATTLIST DELEGATION_REQ a CDATA "x">]>' + BODY,
    ],
)
def test_any_dtd_is_refused(doc: bytes) -> None:
    assert "DOCTYPE" in _refused(doc).reason


def test_dtd_hidden_in_another_encoding_is_refused() -> None:
    utf16 = (b"<!DOCTYPE r [<!ENTITY e 'x'>]>" + BODY.replace(b"Acme", b"&e;")).decode()
    for encoding in ("utf-16", "utf-16-le", "utf-16-be"):
        error = _refused(utf16.encode(encoding))
        assert "DOCTYPE" in error.reason or "UTF-8" in error.reason


def test_one_mebibyte_document_is_refused_for_its_size() -> None:
    padding = b"x" * (1024 * 1024)
    doc = BODY.replace(b"Acme", padding)
    error = _refused(doc)
    assert error.status == 413
    assert str(DEFAULT_MAX_SIZE) in error.reason


def test_size_limit_is_exact() -> None:
    assert decode(REQ, max_size=len(REQ)) == EXAMPLES["DELEGATION_REQ"]
    assert _refused(REQ, max_size=len(REQ) - 1).status == 413


DEEP = b"<a>" * 100_000 + b"</a>" * 100_000


def test_hundred_thousand_deep_document_is_refused() -> None:
    assert _refused(DEEP).status == 413  # too large, first of all


def test_hundred_thousand_deep_document_is_refused_for_depth_before_parsing() -> None:
    error = _refused(DEEP, max_size=len(DEEP))
    assert "deeper" in error.reason


def test_deep_document_with_short_tags_and_leaves() -> None:
    doc = b"<a>" * 30 + b"<b>leaf</b><c/>" + b"</a>" * 30
    assert "deeper" in _refused(doc, max_depth=8).reason


def test_depth_limit_is_exact() -> None:
    doc = b"<DELEGATION_CONFIRMED>" + b"<x>" * 6 + b"</x>" * 6 + b"</DELEGATION_CONFIRMED>"
    assert document_depth(doc) == 7
    with pytest.raises(ProtocolError, match="deeper than 6"):
        parse_untrusted(doc, max_depth=6)
    parse_untrusted(doc, max_depth=7)  # passes the depth check (the schema would refuse it)


@pytest.mark.parametrize(
    ("doc", "depth"),
    [
        (b"<a/>", 1),
        (b"<a>t</a>", 1),
        (b"<a><b/></a>", 2),
        (b"<a><b>x</b><c><d>t</d></c></a>", 3),
        (b'<?xml version="1.0"?><a><b><c/></b></a>', 3),
        (b"<a><!-- <x><y><z> --><b/></a>", 2),
        (b"<a><![CDATA[<x><y><z>]]></a>", 1),
    ],
)
def test_document_depth(doc: bytes, depth: int) -> None:
    assert document_depth(doc) == depth


@pytest.mark.parametrize(
    ("doc", "bound"),
    [
        (b"<a/>", 1),
        (b"<a>t</a>", 1),
        (b"<a><b/></a>", 2),
        (b"<a>\n  <b>x</b>\n  <c><d>t</d></c>\n</a>", 3),
        (b"<a><!-- <x><y><z> --><b/></a>", 5),  # counts too many: never too few
        (b"<a><![CDATA[<x>]]></a>", 2),
        (b"<a><b><c><d>t</d></c></b></a>", 4),
    ],
)
def test_depth_bound(doc: bytes, bound: int) -> None:
    assert depth_bound(doc) == bound
    assert depth_bound(doc) >= document_depth(doc)


_TAGS = st.sampled_from(["a", "bb", "c d='&gt;'", "e"])
_FILLERS = [b"", b"t", b"\n  ", b"<!-- <x><y> -->", b"<?p <z>?>", b"<![CDATA[<q>]]>"]


@st.composite
def _tree(draw: st.DrawFn, depth: int = 0) -> bytes:
    tag = draw(_TAGS)
    name = tag.split()[0].encode()
    filler = draw(
        st.sampled_from([b"", b"t", b"\n  ", b"<!-- <x><y> -->", b"<?p <z>?>", b"<![CDATA[<q>]]>"])
    )
    if depth >= 9 or draw(st.integers(0, 3)) == 0:
        leaf = draw(
            st.sampled_from(
                [
                    b"<" + tag.encode() + b"/>",
                    b"<" + tag.encode() + b">" + filler + b"</" + name + b">",
                ]
            )
        )
        return leaf
    children = draw(st.lists(_tree(depth + 1), min_size=1, max_size=3))
    return b"<" + tag.encode() + b">" + filler + filler.join(children) + b"</" + name + b">"


def _true_depth(element: etree._Element) -> int:
    return 1 + max((_true_depth(c) for c in element if isinstance(c.tag, str)), default=0)


@settings(max_examples=300, deadline=None)
@given(doc=_tree())
def test_depth_bound_is_never_below_the_parsed_depth(doc: bytes) -> None:
    depth = _true_depth(etree.fromstring(doc))
    assert document_depth(doc) == depth
    assert depth_bound(doc) >= depth
