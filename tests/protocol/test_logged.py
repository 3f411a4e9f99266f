"""The message log's document of a message: the bytes it came as, unless they must be redacted
or hold markup the message does not."""

from __future__ import annotations

import attrs

from dmdelegation.protocol import AppAuth, AuthLevel, AuthType, BootstrapConfirmed, decode
from dmdelegation.protocol.examples import EXAMPLE_DMACC, EXAMPLES
from dmdelegation.protocol.redaction import logged, shown

MARKER = "S3CR3T-MARKER"
REQUEST = EXAMPLES["DELEGATION_REQ"]


def spaced(body: bytes) -> bytes:
    """``body`` spelled another way: each element on a line of its own, indented."""
    return body.replace(b"><", b">\n  <")


def test_a_message_with_nothing_to_redact_is_kept_as_it_came() -> None:
    body = spaced(REQUEST.encode())
    assert body != REQUEST.encode()
    assert decode(body) == REQUEST
    assert logged(REQUEST, body) == body.decode("utf-8")


def test_without_its_bytes_a_message_is_encoded() -> None:
    assert logged(REQUEST) == REQUEST.encode().decode("utf-8") == shown(REQUEST)


def test_a_comment_or_processing_instruction_is_not_kept() -> None:
    encoded = REQUEST.encode()
    head, _, tail = encoded.partition(b"?>")
    for extra in (f"<!-- {MARKER} -->", f"<?note {MARKER}?>", f"<!--{MARKER}-->\n"):
        body = head + b"?>" + extra.encode() + tail
        assert decode(body) == REQUEST
        assert logged(REQUEST, body) == shown(REQUEST)
        assert MARKER not in logged(REQUEST, body)
    cdata = encoded.replace(
        b"<deviceMan>Acme</deviceMan>", b"<deviceMan><![CDATA[Acme]]></deviceMan>"
    )
    assert cdata != encoded
    assert logged(REQUEST, cdata) == shown(REQUEST)


def test_bytes_that_are_not_utf8_are_not_kept() -> None:
    assert logged(REQUEST, b"\xff\xfe<DELEGATION_REQ/>") == shown(REQUEST)


def test_a_credential_is_redacted_even_with_the_bytes_at_hand() -> None:
    auth = AppAuth(level=AuthLevel.SERVER, type=AuthType.HMAC, name="n", secret=MARKER)
    message = BootstrapConfirmed(
        reason_code=200,
        session_id="s" * 32,
        is_client_bootstrapped=False,
        dmacc=attrs.evolve(EXAMPLE_DMACC, app_auths=(auth,)),
    )
    body = message.encode()
    assert MARKER.encode() in body
    document = logged(message, body)
    assert MARKER not in document
    assert "<AAuthSecret>***</AAuthSecret>" in document
    assert document == shown(message)
