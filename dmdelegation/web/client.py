"""The engine's way to its peers: treq over an Agent whose TLS policy presents this server's
certificate and checks the peer's (:class:`dmdelegation.web.tls.ClientTLSPolicy`).

Connections are kept alive in a persistent pool (Twisted's HTTP client sets TCP_NODELAY on
them). An answer is read up to ``max_answer`` bytes; a larger one fails the call.
"""

from __future__ import annotations

from typing import Any

from treq.client import HTTPClient
from twisted.internet.defer import Deferred, DeferredSemaphore, fail
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.web.client import Agent, HTTPConnectionPool, ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.iweb import IResponse
from zope.interface import implementer

from dmdelegation.engine.interfaces import IPeerTransport, PeerError
from dmdelegation.protocol import CONTENT_TYPE, DEFAULT_MAX_SIZE
from dmdelegation.web.peers import PeerRegistry
from dmdelegation.web.tls import ClientTLSPolicy

_CONTENT_TYPE: list[bytes | str] = [CONTENT_TYPE.encode("ascii")]
_HEADER: bytes | str = b"Content-Type"
_REASON_SHOWN = 512  # characters of a refusal's text kept in PeerError


_DONE = Failure(ResponseDone())


class AnswerTooLarge(Exception):
    """The peer's answer passed ``max_answer`` bytes; the connection was dropped."""


@implementer(IPeerTransport)
class HTTPSPeerTransport:
    """POST encoded documents to the peers' delegation interfaces."""

    def __init__(
        self,
        reactor: Any,
        registry: PeerRegistry,
        policy: ClientTLSPolicy,
        timeout: float = 30,
        *,
        max_answer: int = DEFAULT_MAX_SIZE,
        connections: int = 16,
    ) -> None:
        self.reactor = reactor
        self.registry = registry
        self.timeout = timeout
        self.max_answer = max_answer
        self.policy = policy
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        # At most this many requests in flight per peer, each on a kept-alive connection: a
        # burst of processes queues here instead of opening a connection (a full mutual-TLS
        # handshake at both ends) per request, most of which the pool would then drop.
        self.connections = connections
        self.pool.maxPersistentPerHost = connections
        self._slots: dict[str, DeferredSemaphore] = {}
        self.agent = Agent(reactor, contextFactory=policy, pool=self.pool)
        self.http = HTTPClient(self.agent)

    def request(self, peer: str, body: bytes) -> Deferred[bytes]:
        """POST a synchronous request; fires with the 200 answer's body."""
        return self._post(peer, body, (200,))

    def deliver(self, peer: str, body: bytes) -> Deferred[None]:
        """POST an asynchronous message; fires once the peer answered 204 (or 200)."""
        d = self._post(peer, body, (204, 200))
        return d.addCallback(lambda _: None)

    def close(self) -> Deferred[None]:
        """Close the kept-alive connections (on stop, and at the end of a test)."""
        closed: Deferred[None] = self.pool.closeCachedConnections()
        return closed

    def _post(self, peer: str, body: bytes, accepted: tuple[int, ...]) -> Deferred[bytes]:
        try:
            url = self.registry.url_for(peer)
        except KeyError:
            return fail(KeyError(f"no peer {peer!r} is configured"))
        slots = self._slots.get(peer)
        if slots is None:
            slots = self._slots[peer] = DeferredSemaphore(self.connections)
        sent: Deferred[bytes] = slots.run(self._send, url, body, accepted)
        return sent

    def _send(self, url: str, body: bytes, accepted: tuple[int, ...]) -> Deferred[bytes]:
        posted = self.http.post(
            url,
            data=body,
            headers={_HEADER: _CONTENT_TYPE},
            allow_redirects=False,  # a peer answers itself; a redirect is an error status
            unbuffered=True,  # read by _read, within max_answer
        )
        answered: Deferred[bytes] = posted.addCallback(self._read, accepted)
        answered.addTimeout(self.timeout, self.reactor)
        return answered

    def _read(self, response: IResponse, accepted: tuple[int, ...]) -> Deferred[bytes]:
        body = _LimitedBody(self.max_answer)
        response.deliverBody(body)

        def done(data: bytes) -> bytes:
            if response.code not in accepted:
                text = data.decode("utf-8", "replace").strip()[:_REASON_SHOWN]
                raise PeerError(response.code, text or response.phrase.decode("latin-1"))
            return data

        return body.finished.addCallback(done)


class _LimitedBody(Protocol):
    """Collects a response body up to ``limit`` bytes. Past it, stops the transfer (the
    connection is dropped) and fails with :class:`AnswerTooLarge` once the body has ended,
    so that the connection is settled when the caller hears of it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.chunks: list[bytes] = []
        self.too_large = False
        self.finished: Deferred[bytes] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        if self.too_large:
            return
        self.size += len(data)
        if self.size > self.limit:
            self.too_large = True
            self.chunks.clear()
            if self.transport is not None:
                self.transport.stopProducing()  # type: ignore[attr-defined]
            return
        self.chunks.append(data)

    def connectionLost(self, reason: Failure = _DONE) -> None:
        if self.too_large:
            self.finished.errback(AnswerTooLarge(f"answer larger than {self.limit} bytes"))
        elif reason.check(ResponseDone, PotentialDataLoss):
            self.finished.callback(b"".join(self.chunks))
        else:
            self.finished.errback(reason)
