"""The peer client keeps at most ``connections`` requests in flight per peer; the rest wait
their turn instead of opening a connection (a mutual-TLS handshake) each."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.web.client import BrowserLikePolicyForHTTPS

from dmdelegation.daemon.config import PeerConfig
from dmdelegation.web.client import HTTPSPeerTransport
from dmdelegation.web.peers import PeerRegistry

PEERS = PeerRegistry(
    [
        PeerConfig(server_id="a.example", url="https://a.example:8443/d", name="a.example"),
        PeerConfig(server_id="b.example", url="https://b.example:8443/d", name="b.example"),
    ]
)


class Recording(HTTPSPeerTransport):
    def __init__(self, connections: int) -> None:
        policy: Any = BrowserLikePolicyForHTTPS()  # never used: nothing is sent
        super().__init__(Clock(), PEERS, policy, connections=connections)
        self.sent: list[tuple[str, Deferred[bytes]]] = []

    def _send(self, url: str, body: bytes, accepted: tuple[int, ...]) -> Deferred[bytes]:
        d: Deferred[bytes] = Deferred()
        self.sent.append((url, d))
        return d


def test_requests_beyond_the_bound_wait_for_a_free_connection() -> None:
    transport = Recording(connections=2)
    answers = [transport.request("a.example", b"<x/>") for _ in range(5)]
    assert len(transport.sent) == 2
    transport.sent[0][1].callback(b"one")
    assert len(transport.sent) == 3
    transport.sent[1][1].errback(RuntimeError("refused"))  # a failure frees its slot too
    assert len(transport.sent) == 4
    results: list[object] = []
    answers[0].addBoth(results.append)
    assert results == [b"one"]
    answers[1].addErrback(lambda f: None)


def test_each_peer_has_its_own_bound() -> None:
    transport = Recording(connections=1)
    transport.request("a.example", b"<x/>")
    transport.request("a.example", b"<x/>")
    transport.deliver("b.example", b"<x/>")
    assert [url for url, _ in transport.sent] == [
        "https://a.example:8443/d",
        "https://b.example:8443/d",
    ]
