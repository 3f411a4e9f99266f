"""The message log keeps an inbound message as it came: the body the peer sent (or answered
with), not the message encoded again; a message with a credential is still redacted."""

from __future__ import annotations

from pathlib import Path

from twisted.internet.defer import Deferred

from dmdelegation.engine.model import Outcome
from dmdelegation.protocol import DelegationResponse, decode

from .harness import DEVICE, DMS1, DMS2, SUBTREE, Endpoint, Pair, delegation_request, fired


def spaced(body: bytes) -> bytes:
    """``body`` spelled another way: each element on a line of its own, indented."""
    return body.replace(b"><", b">\n  <")


class Respelling(Endpoint):
    """Every answer comes back spelled as :func:`spaced` does."""

    def request(self, peer: str, body: bytes) -> Deferred[bytes]:
        return super().request(peer, body).addCallback(spaced)


def test_an_inbound_message_is_logged_as_it_came(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    request = delegation_request()
    body = spaced(request.encode())
    assert body != request.encode()
    answer = fired(pair.dms1.receive(DMS2, decode(body), body))
    assert isinstance(answer, DelegationResponse)
    assert answer.is_acknowledged
    log = pair.dms1.store.message_log(request.session_id)
    assert [(line.direction, line.root) for line in log] == [
        ("in", "DELEGATION_REQ"),
        ("out", "DELEGATION_RESP"),
    ]
    assert log[0].document == body.decode("utf-8")
    assert log[1].document == answer.encode().decode("utf-8")


def test_an_answer_to_our_request_is_logged_as_it_came(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    pair.dms1.transport = Respelling(pair.wire, DMS1)
    session = pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.settle()
    assert fired(pair.dms1.wait(session.session_id)).outcome is Outcome.DELEGATED
    ours = pair.dms1.store.message_log(session.session_id)
    theirs = pair.dms2.store.message_log(session.session_id)
    (sent,) = [line for line in theirs if line.root == "DELEGATION_RESP"]
    (came,) = [line for line in ours if line.root == "DELEGATION_RESP"]
    assert came.direction == "in"
    assert came.document == spaced(sent.document.encode("utf-8")).decode("utf-8")
    assert came.document != sent.document


def test_a_comment_in_an_inbound_message_is_not_logged(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    request = delegation_request()
    head, _, tail = request.encode().partition(b"?>")
    body = head + b"?><!-- a note from the peer -->" + tail
    fired(pair.dms1.receive(DMS2, decode(body), body))
    (line,) = [x for x in pair.dms1.store.message_log(request.session_id) if x.direction == "in"]
    assert "a note from the peer" not in line.document
    assert line.document == request.encode().decode("utf-8")
