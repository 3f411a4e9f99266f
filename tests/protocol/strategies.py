"""Hypothesis strategies for every value the vocabulary allows, up to its limits."""

from __future__ import annotations

import string
from typing import Any, cast

import attrs
from hypothesis import strategies as st

from dmdelegation.protocol import (
    AddrType,
    AppAddr,
    AppAuth,
    AuthLevel,
    AuthType,
    BootstrapConfirmed,
    DelegationMethod,
    DMAcc,
    Message,
)
from dmdelegation.protocol import limits as L


def is_xml_char(c: str) -> bool:
    o = ord(c)
    return (
        o in (0x9, 0xA, 0xD)
        or 0x20 <= o <= 0xD7FF
        or 0xE000 <= o <= 0xFFFD
        or 0x10000 <= o <= 0x10FFFF
    )


XML_CHAR = st.characters(codec="utf-8").filter(is_xml_char)
XSD_SPACE = " \t\n\r"
# XSD's "." excludes CR and LF, "\S" excludes the four XSD space characters.
NON_SPACE = XML_CHAR.filter(lambda c: c not in XSD_SPACE)
NO_NEWLINE = XML_CHAR.filter(lambda c: c not in "\r\n")


def text(max_size: int = L.TEXT_MAX) -> st.SearchStrategy[str]:
    return st.text(XML_CHAR, max_size=max_size)


@st.composite
def identifier(draw: st.DrawFn, max_size: int = L.IDENTIFIER_MAX) -> str:
    first = draw(NON_SPACE)
    if max_size == 1 or draw(st.booleans()):
        return first
    middle = draw(st.text(NO_NEWLINE, max_size=max_size - 2))
    return first + middle + draw(NON_SPACE)


SESSION_ID = st.text(
    st.sampled_from(L.SESSION_ID_ALPHABET), min_size=L.SESSION_ID_MIN, max_size=L.SESSION_ID_MAX
)
REASON = st.integers(L.REASON_CODE_MIN, L.REASON_CODE_MAX)


@st.composite
def tree_uri(draw: st.DrawFn) -> str:
    segments = draw(st.lists(st.text(XML_CHAR.filter(lambda c: c != "/"), min_size=1), max_size=8))
    uri = "/".join([".", *segments])
    return uri[: L.TREE_URI_MAX].rstrip("/") if len(uri) > L.TREE_URI_MAX else uri


@st.composite
def url(draw: st.DrawFn) -> str:
    scheme = draw(st.text(st.sampled_from(string.ascii_letters), min_size=1, max_size=8)) + draw(
        st.text(st.sampled_from(string.ascii_letters + string.digits + "+.-"), max_size=4)
    )
    rest = draw(st.text(NON_SPACE, min_size=1, max_size=L.URL_MAX - len(scheme) - 1))
    return f"{scheme}:{rest}"


APP_ADDR = st.builds(
    AppAddr,
    addr=st.text(NON_SPACE, min_size=1, max_size=L.ADDRESS_MAX),
    addr_type=st.sampled_from(AddrType),
    ports=st.lists(st.integers(1, 65535), max_size=L.PORTS_MAX).map(tuple),
)
APP_AUTH = st.builds(
    AppAuth,
    level=st.sampled_from(AuthLevel),
    type=st.sampled_from(AuthType),
    name=st.none() | identifier(),
    secret=st.none() | text(L.SECRET_MAX),
    data=st.none() | st.binary(max_size=L.AUTH_DATA_MAX_OCTETS),
)
DMACC = st.builds(
    DMAcc,
    server_id=identifier(),
    app_addrs=st.lists(APP_ADDR, min_size=1, max_size=L.APP_ADDR_MAX).map(tuple),
    app_auths=st.lists(APP_AUTH, min_size=1, max_size=L.APP_AUTH_MAX).map(tuple),
    name=st.none() | text(),
    pref_con_ref=st.none() | text(),
    aauth_pref=st.none() | st.sampled_from(AuthType),
)

BY_ATTRIBUTE: dict[str, st.SearchStrategy[Any]] = {
    "server_id": identifier(),
    "device_id": identifier(),
    "device_man": text(),
    "device_mod": text(),
    "dm_tree_uri": tree_uri(),
    "is_delegation_full": st.booleans(),
    "is_acknowledged": st.booleans(),
    "is_client_bootstrapped": st.booleans(),
    "session_id": SESSION_ID,
    "delegation_method": st.sampled_from(DelegationMethod),
    "reason_code": REASON,
    "bootstrap_url": url(),
    "dmacc": DMACC,
}


def changed(message: Message, **changes: Any) -> Any:
    """``attrs.evolve`` for a message typed only as :class:`Message`."""
    return attrs.evolve(cast(Any, message), **changes)


def _promises_its_account(m: Message) -> bool:
    return not (
        isinstance(m, BootstrapConfirmed) and m.is_client_bootstrapped is False and m.dmacc is None
    )


def message(cls: type[Message]) -> st.SearchStrategy[Message]:
    """Any valid instance of ``cls``: every field drawn over its whole range."""
    kwargs: dict[str, st.SearchStrategy[Any]] = {}
    for f in cls.FIELDS:
        if f.attr is None:
            continue
        value = BY_ATTRIBUTE[f.attr]
        kwargs[f.attr] = st.none() | value if f.optional else value
    built = st.builds(cls, **kwargs)
    if cls is BootstrapConfirmed:  # "not bootstrapped" promises the account (docs/wire.md)
        return built.filter(_promises_its_account)
    return built
