"""HTTPSPeerTransport talks to DelegationResource over real mutual TLS on 127.0.0.1."""

from __future__ import annotations

import pytest
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource

from dmdelegation.daemon.config import PeerConfig
from dmdelegation.engine.interfaces import PeerError
from dmdelegation.protocol import DelegationResponse, decode
from dmdelegation.web.client import AnswerTooLarge, HTTPSPeerTransport
from dmdelegation.web.peers import PeerRegistry
from dmdelegation.web.tls import ClientTLSPolicy

from .certs import PEER, US, certs, temp_dir, write_tls
from .serving import UNKNOWN_SESSION, Server, confirmed, delegation_request, serve


class BigAnswer(Resource):
    isLeaf = True

    def render_POST(self, request: object) -> bytes:
        return b"x" * 300_000


REQUEST = delegation_request(US)
CONFIRMED = confirmed()


class PeerTransport(TestCase):
    """We are US; the server on 127.0.0.1 is PEER and knows US as its peer."""

    def setUp(self) -> Deferred[None]:  # type: ignore[override]
        tmp = temp_dir(self)
        server_peers = PeerRegistry(
            [PeerConfig(server_id=US, url="https://dms1.operator.example/delegation", name=US)]
        )
        d = serve(self, tmp, identity=certs().peer, peers=server_peers)

        def ready(server: Server) -> None:
            self.server = server
            self.registry = PeerRegistry(
                [
                    PeerConfig(
                        server_id=PEER,
                        url=f"https://127.0.0.1:{server.port}/delegation",
                        name="127.0.0.1",
                    )
                ]
            )
            self.policy = ClientTLSPolicy(write_tls(tmp / "client", certs().us), self.registry)
            self.transport = self.make(self.policy)

        return d.addCallback(ready)

    def make(self, policy: ClientTLSPolicy, **kw: int) -> HTTPSPeerTransport:
        transport = HTTPSPeerTransport(reactor, self.registry, policy, timeout=20, **kw)
        self.addCleanup(transport.close)
        return transport

    async def test_request_fires_with_the_200_body(self) -> None:
        body = await self.transport.request(PEER, REQUEST.encode())
        answer = decode(body)
        assert isinstance(answer, DelegationResponse)
        assert self.server.receive.calls == [(US, REQUEST)]

    async def test_deliver_fires_on_204(self) -> None:
        await self.transport.deliver(PEER, CONFIRMED.encode())
        assert self.server.receive.calls == [(US, CONFIRMED)]

    async def test_a_refusal_is_a_peer_error_with_status_and_reason(self) -> None:
        message = confirmed(UNKNOWN_SESSION)
        with pytest.raises(PeerError) as caught:
            await self.transport.deliver(PEER, message.encode())
        assert caught.value.status == 404
        assert caught.value.reason == f"unknown session {UNKNOWN_SESSION}"

    async def test_a_request_answered_204_is_an_error(self) -> None:
        with pytest.raises(PeerError) as caught:
            await self.transport.request(PEER, CONFIRMED.encode())
        assert caught.value.status == 204

    async def test_a_bad_body_is_refused_400(self) -> None:
        with pytest.raises(PeerError) as caught:
            await self.transport.deliver(PEER, b"<nope/>")
        assert caught.value.status == 400

    async def test_connections_are_kept_alive_with_tcp_nodelay(self) -> None:
        for _ in range(3):
            await self.transport.request(PEER, REQUEST.encode())
        # one cached connection in the pool, reused (private pool state: checked, not used)
        cached = [p for ps in self.transport.pool._connections.values() for p in ps]
        assert len(cached) == 1
        tcp = cached[0].transport.transport  # HTTP -> TLS -> TCP
        assert tcp.getTcpNoDelay()

    async def test_an_answer_over_the_limit_fails(self) -> None:
        """A peer answering 300 kB gets its transfer stopped past max_answer."""
        tmp = temp_dir(self)
        big = await serve(self, tmp, identity=certs().peer, resource=BigAnswer())
        registry = PeerRegistry(
            [PeerConfig(PEER, url=f"https://127.0.0.1:{big.port}/delegation", name="127.0.0.1")]
        )
        policy = ClientTLSPolicy(write_tls(tmp / "client", certs().us), registry)
        transport = HTTPSPeerTransport(reactor, registry, policy, max_answer=4096)
        self.addCleanup(transport.close)
        with pytest.raises(AnswerTooLarge):
            await transport.request(PEER, REQUEST.encode())

    async def test_an_unknown_peer_fails_with_key_error(self) -> None:
        with pytest.raises(KeyError):
            await self.transport.deliver("nobody", CONFIRMED.encode())
