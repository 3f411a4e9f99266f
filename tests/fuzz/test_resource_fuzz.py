"""Bounded fuzzing of the delegation resource in front of a real engine: whatever body a known
peer POSTs, the answer is one of the documented statuses, never a 500, and the engine goes on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from zope.interface import implementer

from dmdelegation.protocol.examples import EXAMPLES
from dmdelegation.web.delegation import DelegationResource, make_site
from tests.engine.harness import DMS2, Pair
from tests.web.certs import certs, registry

DOCUMENTED = {200, 204, 400, 403, 404, 409, 413, 415}
CONTENT_TYPE = b"application/vnd.dm.delegation+xml"


class _Certificate:
    def __init__(self, certificate: Any) -> None:
        self.certificate = certificate

    def to_cryptography(self) -> Any:
        return self.certificate


@implementer(ISSLTransport)
class _PeerTransport(StringTransport):
    """A connection whose TLS client certificate is the peer's."""

    def getPeerCertificate(self) -> Any:
        return _Certificate(certs().peer.certificate)

    def setTcpNoDelay(self, enabled: bool) -> None:
        pass

    def getTcpNoDelay(self) -> bool:
        return True

    def setTcpKeepAlive(self, enabled: bool) -> None:
        pass

    def getTcpKeepAlive(self) -> bool:
        return False

    def loseWriteConnection(self) -> None:
        self.loseConnection()

    def getHandle(self) -> Any:
        return None


class _Server:
    def __init__(self, tmp: Path) -> None:
        self.pair = Pair(tmp)
        self.requests = 0
        resource = DelegationResource(self.pair.dms1.receive, registry(), 64 * 1024)
        self.site = make_site(
            resource, "/delegation", 64 * 1024, timeout=10, reactor=self.pair.clock
        )
        self.site.startFactory()

    def post(self, body: bytes) -> int | None:
        transport = _PeerTransport()
        channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 4321))
        assert channel is not None
        channel.makeConnection(transport)
        channel.dataReceived(
            b"POST /delegation HTTP/1.1\r\nHost: x\r\nContent-Type: "
            + CONTENT_TYPE
            + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
            + body
        )
        self.pair.settle(60)
        answer = transport.value()
        channel.connectionLost(Failure(ConnectionDone()))
        if not answer:
            return None  # still waiting (a held message): no answer is no 500
        return int(answer.split(b" ", 2)[1])


SEEDS = [m.encode() for m in EXAMPLES.values()]


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=1500))
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if draw(st.booleans()) and data:
            data[at] = draw(st.integers(0, 255))
        else:
            data[at:at] = draw(st.sampled_from([b"<", b"&", b"<x/>", b"\xff", b"DELEGATION_"]))
    return bytes(data)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> _Server:
    return _Server(tmp_path_factory.mktemp("server"))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=bodies())
def test_any_body_gets_a_documented_answer(server: _Server, body: bytes) -> None:
    status = server.post(body)
    assert status is None or status in DOCUMENTED, (status, body[:200])
    # and a well-formed request from the same peer, for a device of its own, is still answered
    server.requests += 1
    valid = EXAMPLES["DELEGATION_REQ"].encode().replace(b"dms1.operator.example", DMS2.encode())
    valid = valid.replace(b"IMEI:490154203237518", b"IMEI:%015d" % server.requests)
    valid = valid.replace(b"6f1c0e6a9d2b4f8e8a3c7b5d1e2f3a4b", b"%032x" % server.requests)
    assert server.post(valid) == 200
