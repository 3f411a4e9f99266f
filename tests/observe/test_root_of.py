"""root_of names a document's root element without parsing it: as the scan it replaced did,
for every document, ours or not."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dmdelegation.engine.observer import root_of
from dmdelegation.protocol.examples import EXAMPLES


def scanned(body: bytes) -> str:
    """The byte-by-byte scan root_of used to be."""
    start = body.find(b"<", body.find(b"?>") + 1 if body.startswith(b"<?") else 0)
    end = start + 1
    while end < len(body) and body[end : end + 1] not in b" >/\t\r\n":
        end += 1
    return body[start + 1 : end].decode("ascii", "replace") if start >= 0 else "?"


def test_each_message_is_named_by_its_root() -> None:
    for root, message in EXAMPLES.items():
        assert root_of(message.encode()) == root


@given(
    st.lists(st.sampled_from([b"<", b">", b"?", b"/", b" ", b"\t", b"\n", b"A", b"\xff", b"?>"]))
)
def test_any_bytes_are_named_as_the_scan_named_them(parts: list[bytes]) -> None:
    body = b"".join(parts)
    assert root_of(body) == scanned(body)
    assert root_of(b"<?xml?>" + body) == scanned(b"<?xml?>" + body)
