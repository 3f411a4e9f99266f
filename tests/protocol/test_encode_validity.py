"""``encode`` writes without parsing or schema-checking its output: it refuses exactly the values
the XSD refuses, so every document it returns is valid (checked here against the XSD itself)."""

from __future__ import annotations

import enum
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from dmdelegation.protocol import (
    MESSAGE_TYPES,
    AddrType,
    AppAddr,
    AppAuth,
    AuthLevel,
    AuthType,
    DMAcc,
    EncodeError,
    Message,
)
from dmdelegation.protocol import limits as L
from dmdelegation.protocol.schema import SCHEMA

from .strategies import BY_ATTRIBUTE, XML_CHAR, message

CHECKED = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Characters that sit on the XSD types' edges: spaces of both kinds, the URI and URL separators,
# and characters XML cannot carry (controls, a lone surrogate, U+FFFE).
_EDGY = st.sampled_from([" ", "\t", "\n", "\r", "\u00a0", "\u2028", "/", ".", ":", "a", "-", "~"])
_BAD = st.sampled_from(["\x00", "\x07", "\x1f", "\ud800", "\udfff", "\ufffe", "\uffff"])
_CHAR = st.one_of(XML_CHAR, _EDGY, _BAD)


def _length_near(limit: int) -> st.SearchStrategy[str]:
    """Text of a length around ``limit`` (within two), of an ordinary character."""
    return st.integers(max(0, limit - 2), limit + 2).map(lambda n: "x" * n)


_WILD_TEXT = st.one_of(
    st.text(_CHAR, max_size=24),
    st.text(_EDGY, max_size=6),
    st.builds(
        lambda a, b, c: a + b + c,
        st.text(_EDGY, max_size=2),
        st.text(XML_CHAR, max_size=4),
        st.text(_EDGY, max_size=2),
    ),
    st.sampled_from(
        [L.IDENTIFIER_MAX, L.SESSION_ID_MIN, L.SESSION_ID_MAX, L.TREE_URI_MAX, L.SECRET_MAX]
    ).flatmap(_length_near),
    st.sampled_from([".", "./", "./a", "./a/", ".//a", "a/b", "http:", "http:x", "1a:x", "a b:c"]),
)
_WILD_INT = st.integers(-5, 70_000) | st.sampled_from([99, 100, 599, 600, 0, 1, 65535, 65536])


def _wild(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return valid | _WILD_TEXT


_WILD_APP_ADDR = st.builds(
    AppAddr,
    addr=_wild(st.text(XML_CHAR, min_size=1, max_size=8)),
    addr_type=st.sampled_from(AddrType),
    ports=st.lists(_WILD_INT, max_size=L.PORTS_MAX + 1).map(tuple),
)
_WILD_APP_AUTH = st.builds(
    AppAuth,
    level=st.sampled_from(AuthLevel),
    type=st.sampled_from(AuthType),
    name=st.none() | _WILD_TEXT,
    secret=st.none() | _WILD_TEXT,
    data=st.none() | st.binary(max_size=4) | st.integers(766, 770).map(lambda n: b"\xff" * n),
)
_WILD_DMACC = st.builds(
    DMAcc,
    server_id=_WILD_TEXT,
    app_addrs=st.lists(_WILD_APP_ADDR, max_size=L.APP_ADDR_MAX + 1).map(tuple),
    app_auths=st.lists(_WILD_APP_AUTH, max_size=L.APP_AUTH_MAX + 1).map(tuple),
    name=st.none() | _WILD_TEXT,
    pref_con_ref=st.none() | _WILD_TEXT,
    aauth_pref=st.none() | st.sampled_from(AuthType),
)


def _wild_value(attr: str) -> st.SearchStrategy[Any]:
    valid = BY_ATTRIBUTE[attr]
    if attr == "reason_code":
        return valid | _WILD_INT
    if attr == "dmacc":
        return valid | _WILD_DMACC
    if attr.startswith("is_") or attr == "delegation_method":
        return valid
    return _wild(valid)


def wild_message(cls: type[Message]) -> st.SearchStrategy[Message]:
    """Instances of ``cls`` of the right Python types, valid or not for the vocabulary."""
    kwargs = {
        f.attr: (st.none() | _wild_value(f.attr)) if f.optional else _wild_value(f.attr)
        for f in cls.FIELDS
        if f.attr is not None
    }
    return st.builds(cls, **kwargs)


def _sub(parent: etree._Element, tag: str, value: Any) -> None:
    child = etree.SubElement(parent, tag)
    if isinstance(value, bool):
        child.text = "true" if value else "false"
    elif isinstance(value, enum.Enum):
        child.text = str(value.value)
    elif isinstance(value, bytes):
        import base64

        child.text = base64.b64encode(value).decode("ascii")
    else:
        child.text = str(value)


def _dmacc_element(parent: etree._Element, tag: str, acc: DMAcc) -> None:
    e = etree.SubElement(parent, tag)
    _sub(e, "AppID", acc.app_id)
    _sub(e, "ServerID", acc.server_id)
    for name, value in (("Name", acc.name), ("PrefConRef", acc.pref_con_ref)):
        if value is not None:
            _sub(e, name, value)
    for addr in acc.app_addrs:
        a = etree.SubElement(e, "AppAddr")
        _sub(a, "Addr", addr.addr)
        _sub(a, "AddrType", addr.addr_type)
        for number in addr.ports:
            _sub(etree.SubElement(a, "Port"), "PortNbr", number)
    if acc.aauth_pref is not None:
        _sub(e, "AAuthPref", acc.aauth_pref)
    for auth in acc.app_auths:
        a = etree.SubElement(e, "AppAuth")
        _sub(a, "AAuthLevel", auth.level)
        _sub(a, "AAuthType", auth.type)
        for name, value in (("AAuthName", auth.name), ("AAuthSecret", auth.secret)):
            if value is not None:
                _sub(a, name, value)
        if auth.data is not None:
            _sub(a, "AAuthData", auth.data)


def schema_accepts(m: Message) -> bool:
    """Whether the XSD accepts ``m``'s values, judged by lxml on a tree built independently of
    the codec's writers (lxml itself refuses characters XML cannot carry)."""
    try:
        root = etree.Element(m.ROOT)
        for f in m.FIELDS:
            if f.attr is None:
                _sub(root, f.xml, m.STATUS)
                continue
            value = getattr(m, f.attr)
            if value is None:
                if f.optional:
                    continue
                return False
            if isinstance(value, DMAcc):
                _dmacc_element(root, f.xml, value)
            else:
                _sub(root, f.xml, value)
    except ValueError:  # a character XML cannot carry
        return False
    return bool(SCHEMA.validate(root))


def _valid(document: bytes) -> bool:
    return bool(SCHEMA.validate(etree.fromstring(document)))


@pytest.mark.parametrize("cls", MESSAGE_TYPES, ids=lambda c: c.ROOT)
@CHECKED
@given(data=st.data())
def test_every_encodable_message_encodes_to_a_valid_document(
    cls: type[Message], data: st.DataObject
) -> None:
    assert _valid(data.draw(message(cls)).encode())


@pytest.mark.parametrize("cls", MESSAGE_TYPES, ids=lambda c: c.ROOT)
@CHECKED
@given(data=st.data())
def test_encode_refuses_exactly_what_the_schema_refuses(
    cls: type[Message], data: st.DataObject
) -> None:
    m = data.draw(wild_message(cls))
    accepted = schema_accepts(m)
    try:
        document = m.encode()
    except EncodeError:
        assert not accepted, "encode refused a message the XSD accepts"
    else:
        assert accepted, "encode wrote a message the XSD refuses"
        assert _valid(document)
