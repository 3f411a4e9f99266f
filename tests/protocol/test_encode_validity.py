"""``encode`` writes without parsing or schema-checking its output: it refuses exactly the values
the XSD refuses, so every document it returns is valid (checked here against the XSD itself)."""

from __future__ import annotations

import base64
import enum
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from dmdelegation.protocol import (
    MESSAGE_TYPES,
    AddrType,
    AppAddr,
    BootstrapConfirmed,
    DMAcc,
    EncodeError,
    Message,
    decode,
)
from dmdelegation.protocol import limits as L
from dmdelegation.protocol.examples import EXAMPLE_DMACC
from dmdelegation.protocol.schema import SCHEMA

from .strategies import APP_ADDR, APP_AUTH, DMACC, XML_CHAR, message

CHECKED = settings(
    max_examples=200,
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


_NEAR_LIMITS = st.sampled_from(
    sorted(
        {L.IDENTIFIER_MAX, L.TEXT_MAX, L.SESSION_ID_MIN, L.SESSION_ID_MAX, L.TREE_URI_MAX}
        | {L.URL_MAX, L.ADDRESS_MAX, L.SECRET_MAX}
    )
).flatmap(_length_near)
_WILD_TEXT = st.one_of(
    st.text(_CHAR, max_size=24),
    st.text(_EDGY, max_size=6),
    st.builds(
        lambda a, b, c: a + b + c,
        st.text(_EDGY, max_size=2),
        st.text(XML_CHAR, max_size=4),
        st.text(_EDGY, max_size=2),
    ),
    _NEAR_LIMITS,
    st.sampled_from([".", "./", "./a", "./a/", ".//a", "a/b", "http:", "http:x", "1a:x", "a b:c"]),
)
_WILD_INT = st.integers(-5, 70_000) | st.sampled_from([99, 100, 599, 600, 0, 1, 65535, 65536])


def _wild(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return valid | _WILD_TEXT


def _text_near(limit: int) -> st.SearchStrategy[str]:
    """Wild text, or text of a length around ``limit`` (this field's own)."""
    return _WILD_TEXT | _length_near(limit)


_LIMIT_OF = {
    "server_id": L.IDENTIFIER_MAX,
    "device_id": L.IDENTIFIER_MAX,
    "device_man": L.TEXT_MAX,
    "device_mod": L.TEXT_MAX,
    "dm_tree_uri": L.TREE_URI_MAX,
    "bootstrap_url": L.URL_MAX,
    "session_id": L.SESSION_ID_MAX,
}


@st.composite
def _one_changed(draw: st.DrawFn, valid: st.SearchStrategy[Any], wild: dict[str, Any]) -> Any:
    """A valid value of ``valid``, with one of its attributes drawn from ``wild`` instead."""
    value = draw(valid)
    attr = draw(st.sampled_from(sorted(wild)))
    return attrs.evolve(value, **{attr: draw(wild[attr])})


def _with_one(item: st.SearchStrategy[Any], wild_item: st.SearchStrategy[Any], high: int) -> Any:
    """Tuples of ``item``: of any length around 1 to ``high``, or with one ``wild_item``."""
    return st.lists(item, max_size=high + 1).map(tuple) | st.builds(
        lambda items, odd, at: (*items[:at], odd, *items[at:]),
        st.lists(item, max_size=high - 1),
        wild_item,
        st.integers(0, high - 1),
    )


_WILD_APP_ADDR = _one_changed(
    APP_ADDR,
    {
        "addr": _wild(st.text(XML_CHAR, min_size=1, max_size=8)) | _length_near(L.ADDRESS_MAX),
        "ports": st.lists(_WILD_INT, max_size=L.PORTS_MAX + 1).map(tuple),
    },
)
_WILD_APP_AUTH = _one_changed(
    APP_AUTH,
    {
        "name": _text_near(L.IDENTIFIER_MAX),
        "secret": _text_near(L.SECRET_MAX),
        "data": st.integers(766, 770).map(lambda n: b"\xff" * n),
    },
)
_WILD_DMACC = _one_changed(
    DMACC,
    {
        "server_id": _text_near(L.IDENTIFIER_MAX),
        "name": _text_near(L.TEXT_MAX),
        "pref_con_ref": _text_near(L.TEXT_MAX),
        "app_addrs": _with_one(APP_ADDR, _WILD_APP_ADDR, L.APP_ADDR_MAX),
        "app_auths": _with_one(APP_AUTH, _WILD_APP_AUTH, L.APP_AUTH_MAX),
    },
)


def _wild_value(attr: str) -> st.SearchStrategy[Any]:
    if attr == "reason_code":
        return _WILD_INT
    if attr == "dmacc":
        return _WILD_DMACC
    return _text_near(_LIMIT_OF[attr])


def wild_message(cls: type[Message]) -> st.SearchStrategy[Message]:
    """Instances of ``cls`` of the right Python types with one or two fields drawn from values
    around and beyond the vocabulary's limits (each may or may not be valid)."""
    wild = {
        f.attr: _wild_value(f.attr)
        for f in cls.FIELDS
        if f.attr is not None and not f.attr.startswith("is_") and f.attr != "delegation_method"
    }
    return _one_changed(message(cls), wild).flatmap(
        lambda m: _one_changed(st.just(m), wild) | st.just(m)
    )


def _sub(parent: etree._Element, tag: str, value: Any) -> None:
    child = etree.SubElement(parent, tag)
    if isinstance(value, bool):
        child.text = "true" if value else "false"
    elif isinstance(value, enum.Enum):
        child.text = str(value.value)
    elif isinstance(value, bytes):
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
    _assert_same_verdict(data.draw(wild_message(cls)))


def _assert_same_verdict(m: Message) -> None:
    accepted = schema_accepts(m)
    try:
        document = m.encode()
    except EncodeError:
        assert not accepted, "encode refused a message the XSD accepts"
    else:
        assert accepted, "encode wrote a message the XSD refuses"
        assert _valid(document)


@settings(CHECKED, max_examples=1000)
@given(dmacc=_WILD_DMACC)
def test_encode_refuses_exactly_what_the_schema_refuses_in_a_dmacc(dmacc: DMAcc) -> None:
    _assert_same_verdict(
        BootstrapConfirmed(
            reason_code=200, session_id="s" * 32, is_client_bootstrapped=False, dmacc=dmacc
        )
    )


def test_a_dmacc_may_name_its_enumerated_values_as_strings() -> None:
    dmacc = attrs.evolve(
        EXAMPLE_DMACC,
        app_addrs=(AppAddr(addr="10.0.0.1", addr_type="IPv4"),),  # type: ignore[arg-type]
        aauth_pref="HMAC",  # type: ignore[arg-type]
    )
    m = BootstrapConfirmed(reason_code=200, session_id="s" * 32, dmacc=dmacc)
    assert decode(m.encode()) == attrs.evolve(
        m, dmacc=attrs.evolve(dmacc, app_addrs=(AppAddr("10.0.0.1", AddrType.IPV4),))
    )
    with pytest.raises(EncodeError, match="AddrType"):
        attrs.evolve(m, dmacc=attrs.evolve(dmacc, app_addrs=(AppAddr("a", "IPv5"),))).encode()  # type: ignore[arg-type]
