"""Secrets stay out of reprs and reasons; messages out of the vocabulary's range can't be sent."""

from __future__ import annotations

from typing import cast

import attrs
import pytest
from lxml import etree

from dmdelegation.protocol import (
    AppAuth,
    AuthLevel,
    AuthType,
    BootstrapConfirmed,
    DelegationConfirmed,
    DelegationRequest,
    EncodeError,
    ProtocolError,
    decode,
)
from dmdelegation.protocol import limits as L
from dmdelegation.protocol.examples import EXAMPLE_DMACC, EXAMPLES
from dmdelegation.protocol.schema import schema_source

from .strategies import changed

MARKER = "S3CR3T-MARKER"


def test_repr_masks_credentials() -> None:
    auth = AppAuth(
        level=AuthLevel.SERVER, type=AuthType.HMAC, name="n", secret=MARKER, data=MARKER.encode()
    )
    message = BootstrapConfirmed(
        reason_code=200,
        session_id="s" * 32,
        is_client_bootstrapped=False,
        dmacc=attrs.evolve(EXAMPLE_DMACC, app_auths=(auth,)),
    )
    assert MARKER not in repr(message)
    assert MARKER not in str(message)
    assert "'***'" in repr(auth)


def _confirmed_with(tag: str, value: str) -> bytes:
    root = etree.fromstring(EXAMPLES["BOOTSTRAP_CONFIRMED"].encode())
    element = next(root.iter(tag))
    element.text = value
    return etree.tostring(root)


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        ("AAuthSecret", MARKER * 100),  # too long
        ("AAuthData", MARKER),  # not base64
        ("AAuthData", "QUJD" * 300),  # too long
    ],
)
def test_refusal_reason_never_repeats_a_credential(tag: str, value: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(_confirmed_with(tag, value))
    assert tag in caught.value.reason
    assert MARKER not in caught.value.reason
    assert "QUJD" not in caught.value.reason


def test_encode_error_never_repeats_a_credential() -> None:
    auth = AppAuth(level=AuthLevel.SERVER, type=AuthType.HMAC, secret=MARKER * 100)
    message = BootstrapConfirmed(
        reason_code=200,
        session_id="s" * 32,
        is_client_bootstrapped=False,
        dmacc=attrs.evolve(EXAMPLE_DMACC, app_auths=(auth,)),
    )
    with pytest.raises(EncodeError) as caught:
        message.encode()
    assert "AAuthSecret" in str(caught.value)
    assert MARKER not in str(caught.value)


@pytest.mark.parametrize(
    "message",
    [
        DelegationConfirmed(reason_code=200, session_id="too-short"),
        DelegationConfirmed(reason_code=99, session_id="s" * 32),
        DelegationConfirmed(reason_code=200, session_id="s" * (L.SESSION_ID_MAX + 1)),
        changed(EXAMPLES["DELEGATION_REQ"], device_man="bell \x07"),
        changed(EXAMPLES["DELEGATION_REQ"], device_man="\ud800"),
        changed(EXAMPLES["DELEGATION_REQ"], device_man="\ufffe"),
        changed(EXAMPLES["DELEGATION_REQ"], dm_tree_uri="Vendor"),
        changed(EXAMPLES["DELEGATION_REQ"], server_id=""),
    ],
)
def test_out_of_range_messages_cannot_be_encoded(message: DelegationRequest) -> None:
    with pytest.raises(EncodeError):
        message.encode()


@pytest.mark.parametrize(
    "message",
    [
        DelegationConfirmed(reason_code="200", session_id="s" * 32),  # type: ignore[arg-type]
        DelegationConfirmed(reason_code=True, session_id="s" * 32),
        DelegationConfirmed(reason_code=200, session_id=None),  # type: ignore[arg-type]
        changed(EXAMPLES["DELEGATION_REQ"], is_delegation_full="false"),
        changed(EXAMPLES["DELEGATION_REQ"], delegation_method="DMAcc"),
    ],
)
def test_wrongly_typed_fields_cannot_be_encoded(message: DelegationRequest) -> None:
    with pytest.raises(EncodeError):
        message.encode()


def test_markup_in_text_is_escaped_not_injected() -> None:
    sneaky = "</deviceMan><surprise/><deviceMan>&amp;]]>\r\n"
    message = changed(EXAMPLES["DELEGATION_REQ"], device_man=sneaky)
    assert decode(message.encode()) == message


def _facet(xsd: etree._Element, type_name: str, facet: str) -> str:
    ns = {"xs": "http://www.w3.org/2001/XMLSchema"}
    path = f"//xs:simpleType[@name='{type_name}']//xs:{facet}/@value"
    found = cast(list[str], xsd.xpath(path, namespaces=ns))
    assert len(found) == 1, (type_name, facet)
    return str(found[0])


def test_limits_module_states_what_the_xsd_enforces() -> None:
    xsd = etree.fromstring(schema_source())
    assert int(_facet(xsd, "Identifier", "maxLength")) == L.IDENTIFIER_MAX
    assert int(_facet(xsd, "Text", "maxLength")) == L.TEXT_MAX
    assert int(_facet(xsd, "TreeURI", "maxLength")) == L.TREE_URI_MAX
    assert int(_facet(xsd, "URL", "maxLength")) == L.URL_MAX
    assert int(_facet(xsd, "Address", "maxLength")) == L.ADDRESS_MAX
    assert int(_facet(xsd, "Secret", "maxLength")) == L.SECRET_MAX
    assert int(_facet(xsd, "Base64", "maxLength")) == L.AUTH_DATA_MAX_OCTETS * 4 // 3
    assert _facet(xsd, "SessionId", "pattern") == (
        f"[A-Za-z0-9._~:\\-]{{{L.SESSION_ID_MIN},{L.SESSION_ID_MAX}}}"
    )
    ns = {"xs": "http://www.w3.org/2001/XMLSchema"}
    for name, most in (
        ("AppAddr", L.APP_ADDR_MAX),
        ("Port", L.PORTS_MAX),
        ("AppAuth", L.APP_AUTH_MAX),
    ):
        (occurs,) = cast(
            list[str], xsd.xpath(f"//xs:element[@name='{name}']/@maxOccurs", namespaces=ns)
        )
        assert int(occurs) == most
