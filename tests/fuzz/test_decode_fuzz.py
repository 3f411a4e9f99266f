"""Bounded fuzzing of ``decode``: whatever the bytes, it returns a message or raises
``ProtocolError`` with a 400-class status; nothing else escapes (a long run: ``fuzz/``)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmdelegation.protocol import Message, ProtocolError, decode
from dmdelegation.protocol.examples import EXAMPLES

SEEDS = [m.encode() for m in EXAMPLES.values()]
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _decodes_or_refuses(data: bytes) -> None:
    refusal: ProtocolError | None = None
    try:
        message = decode(data)
    except ProtocolError as e:
        refusal = e
    if refusal is not None:
        assert 400 <= refusal.status < 500
        assert refusal.reason
        return
    assert isinstance(message, Message)
    assert decode(message.encode()) == message


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    _decodes_or_refuses(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid message with bytes flipped, cut, repeated or inserted."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "repeat"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at : at + draw(st.integers(1, 40))]
        elif action == "insert":
            piece = draw(
                st.sampled_from(
                    [
                        b"<",
                        b">",
                        b"&",
                        b"&amp;",
                        b"<!--",
                        b"-->",
                        b"<![CDATA[",
                        b"]]>",
                        b"<x>",
                        b"</x>",
                        b"<?pi?>",
                        b"\x00",
                        b"\xff",
                        b"\xc3",
                        b"<!DOCTYPE r>",
                        b"&#0;",
                        b"&#x110000;",
                        b" xmlns='urn:x'",
                        b"<a/>" * 20,
                    ]
                )
            )
            data[at:at] = piece
        else:
            end = min(len(data), at + draw(st.integers(1, 60)))
            data[at:at] = data[at:end] * draw(st.integers(1, 30))
    return bytes(data)


@FUZZ
@given(mutated())
def test_mutated_messages(data: bytes) -> None:
    _decodes_or_refuses(data)


@pytest.mark.parametrize("seed", SEEDS, ids=[m.ROOT for m in EXAMPLES.values()])
def test_every_prefix_of_a_valid_message(seed: bytes) -> None:
    """A body cut anywhere (a truncated upload) is refused, never half-read."""
    for end in range(len(seed)):
        with pytest.raises(ProtocolError):
            decode(seed[:end])
