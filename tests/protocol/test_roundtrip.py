"""Every message survives encode then decode unchanged, over every value the vocabulary allows."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from dmdelegation.protocol import (
    BY_ROOT,
    DEFAULT_MAX_SIZE,
    MESSAGE_TYPES,
    AddrType,
    AppAddr,
    AppAuth,
    AuthLevel,
    AuthType,
    BootstrapConfirmed,
    DelegationConfirmed,
    DelegationMethod,
    DelegationRequest,
    DelegationResponse,
    DMAcc,
    Message,
    decode,
)
from dmdelegation.protocol import limits as L
from dmdelegation.protocol.examples import EXAMPLES

from .strategies import changed, message

ROUND_TRIP = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_fourteen_messages_one_class_each() -> None:
    assert len(MESSAGE_TYPES) == 14
    assert len(BY_ROOT) == 14
    assert set(EXAMPLES) == set(BY_ROOT)


@pytest.mark.parametrize("cls", MESSAGE_TYPES, ids=lambda c: c.ROOT)
@ROUND_TRIP
@given(data=st.data())
def test_round_trip(cls: type[Message], data: st.DataObject) -> None:
    m = data.draw(message(cls))
    encoded = m.encode()
    assert len(encoded) <= DEFAULT_MAX_SIZE
    decoded = decode(encoded)
    assert type(decoded) is cls
    assert decoded == m


@pytest.mark.parametrize("cls", MESSAGE_TYPES, ids=lambda c: c.ROOT)
def test_examples_round_trip(cls: type[Message]) -> None:
    m = EXAMPLES[cls.ROOT]
    assert decode(m.encode()) == m


WORST = "&"  # the longest escape (&amp;), 5 bytes for one character
WIDE = "\U0001f600"  # 4 bytes of UTF-8


def _largest(cls: type[Message], char: str) -> Message:
    """Every field at its longest, every optional present, every repeat at its maximum."""
    ident = char * L.IDENTIFIER_MAX
    full_text = char * L.TEXT_MAX
    auth = AppAuth(
        level=AuthLevel.SERVER,
        type=AuthType.HMAC,
        name=ident,
        secret=char * L.SECRET_MAX,
        data=b"\xff" * L.AUTH_DATA_MAX_OCTETS,
    )
    addr = AppAddr(
        addr=char * L.ADDRESS_MAX,
        addr_type=AddrType.IPV6,
        ports=(65535,) * L.PORTS_MAX,
    )
    values = {
        "server_id": ident,
        "device_id": ident,
        "device_man": full_text,
        "device_mod": full_text,
        "dm_tree_uri": "./" + char * (L.TREE_URI_MAX - 2),
        "is_delegation_full": True,
        "is_acknowledged": False,
        "is_client_bootstrapped": False,
        "session_id": "a" * L.SESSION_ID_MAX,
        "delegation_method": DelegationMethod.BOOTSTRAP_SERVER_URL,
        "reason_code": 503,
        "bootstrap_url": "h:" + char * (L.URL_MAX - 2),
        "dmacc": DMAcc(
            server_id=ident,
            name=full_text,
            pref_con_ref=full_text,
            app_addrs=(addr,) * L.APP_ADDR_MAX,
            aauth_pref=AuthType.HMAC,
            app_auths=(auth,) * L.APP_AUTH_MAX,
        ),
    }
    return cls(**{f.attr: values[f.attr] for f in cls.FIELDS if f.attr is not None})


@pytest.mark.parametrize("char", [WORST, WIDE, "é"])
@pytest.mark.parametrize("cls", MESSAGE_TYPES, ids=lambda c: c.ROOT)
def test_largest_documents_round_trip_under_the_size_limit(cls: type[Message], char: str) -> None:
    m = _largest(cls, char)
    encoded = m.encode()
    assert len(encoded) <= DEFAULT_MAX_SIZE
    assert decode(encoded) == m


def test_largest_bootstrap_confirmed_is_the_biggest_and_sizeable() -> None:
    """The limits are not vacuous: the biggest document uses most of the 64 KiB."""
    size = len(_largest(BootstrapConfirmed, WORST).encode())
    assert DEFAULT_MAX_SIZE // 2 < size <= DEFAULT_MAX_SIZE


def test_sender_writes_the_specification_spelling() -> None:
    resp = DelegationResponse(reason_code=200, is_acknowledged=True, session_id="s" * 32)
    assert b"<isAknowledged>true</isAknowledged>" in resp.encode()
    bc = BootstrapConfirmed(reason_code=200, is_client_bootstrapped=True, session_id="s" * 32)
    assert b"<isClientBootstapped>true</isClientBootstapped>" in bc.encode()


def test_receiver_accepts_the_corrected_spellings() -> None:
    resp = EXAMPLES["DELEGATION_RESP"].encode().replace(b"isAknowledged", b"isAcknowledged")
    assert decode(resp) == EXAMPLES["DELEGATION_RESP"]
    bc = EXAMPLES["BOOTSTRAP_CONFIRMED"].encode()
    assert (
        decode(bc.replace(b"isClientBootstapped", b"isClientBootstrapped"))
        == (EXAMPLES["BOOTSTRAP_CONFIRMED"])
    )


def test_values_are_typed() -> None:
    m = decode(EXAMPLES["BOOTSTRAP_CONFIRMED"].encode())
    assert isinstance(m, BootstrapConfirmed)
    assert m.reason_code == 200
    assert type(m.reason_code) is int
    assert m.is_client_bootstrapped is False
    assert isinstance(m.dmacc, DMAcc)
    assert m.dmacc.app_addrs[0].ports == (8443,)
    assert m.dmacc.app_auths[0].data == b"\x8f\x12nonce"


def test_pretty_printed_input_and_whitespace_around_scalars_is_read() -> None:
    root = etree.fromstring(EXAMPLES["DELEGATION_REQ"].encode())
    etree.indent(root)
    root.find("isDelegationFull").text = " true\n"  # type: ignore[union-attr]
    m = decode(etree.tostring(root))
    assert m == changed(EXAMPLES["DELEGATION_REQ"], is_delegation_full=True)


def test_absent_delegation_method_means_dmacc() -> None:
    req = changed(EXAMPLES["DELEGATION_REQ"], delegation_method=None)
    assert isinstance(req, DelegationRequest)
    decoded = decode(req.encode())
    assert isinstance(decoded, DelegationRequest)
    assert decoded.delegation_method is None
    assert decoded.method is DelegationMethod.DMACC
    assert b"delegationMethod" not in req.encode()


def test_messages_are_immutable() -> None:
    m = EXAMPLES["DELEGATION_CONFIRMED"]
    assert isinstance(m, DelegationConfirmed)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        m.session_id = "x"  # type: ignore[misc]
