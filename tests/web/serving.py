"""Real sockets on 127.0.0.1 for the delegation interface: a server under test, a raw TLS
client that sends exact bytes, a receive() that records its calls, and the log lines."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from attrs import define, field
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol, wrapClientTLS
from twisted.internet.interfaces import IListeningPort, IOpenSSLClientConnectionCreator
from twisted.internet.protocol import Protocol
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from dmdelegation.engine.engine import Refused
from dmdelegation.lab import pki
from dmdelegation.protocol import (
    DelegationConfirmed,
    DelegationRequest,
    DelegationResponse,
    Message,
)
from dmdelegation.protocol.examples import SESSION
from dmdelegation.web.delegation import DelegationResource, make_site
from dmdelegation.web.peers import PeerRegistry
from dmdelegation.web.tls import listen, server_options

from .certs import US, certs, registry, write_tls


def delegation_request(server_id: str, session_id: str = SESSION) -> DelegationRequest:
    """A valid DELEGATION_REQ sent by ``server_id``."""
    return DelegationRequest(
        server_id=server_id,
        device_id="IMEI:490154203237518",
        device_man="Acme",
        device_mod="Phone 3",
        dm_tree_uri="./Vendor/Enterprise",
        is_delegation_full=False,
        session_id=session_id,
    )


def confirmed(session_id: str = SESSION) -> DelegationConfirmed:
    return DelegationConfirmed(reason_code=200, session_id=session_id)


UNKNOWN_SESSION = "0000000000000000unknownsession"
OUT_OF_ORDER = "00000000000000000outoforder000"


@define
class Recorder:
    """A receive() that records every call and answers as the engine would, simply:
    a DELEGATION_REQ whose serverId is not the sender's is refused 403, two session ids
    are unknown (404) or out of order (409); a DELEGATION_REQ is answered, the rest 204."""

    calls: list[tuple[str, Message]] = field(factory=list)
    bodies: list[bytes | None] = field(factory=list)  # the body handed over with each call
    raise_instead: Exception | None = None

    def __call__(
        self, peer: str, message: Message, body: bytes | None = None
    ) -> Deferred[Message | None]:
        self.calls.append((peer, message))
        self.bodies.append(body)
        if self.raise_instead is not None:
            return fail(self.raise_instead)
        session = getattr(message, "session_id", "")
        if isinstance(message, DelegationRequest):
            if message.server_id != peer:
                return fail(Refused(403, f"serverId {message.server_id!r} is not the sender"))
            if session == OUT_OF_ORDER:
                return fail(Refused(409, f"session {session} already exists"))
            return succeed(
                DelegationResponse(reason_code=200, is_acknowledged=True, session_id=session)
            )
        if session == UNKNOWN_SESSION:
            return fail(Refused(404, f"unknown session {session}"))
        if session == OUT_OF_ORDER:
            return fail(Refused(409, f"out of order for session {session}"))
        return succeed(None)


@implementer(ILogObserver)
class LogLines:
    """The log events of the dmdelegation namespaces, while a test runs."""

    def __init__(self, test: TestCase) -> None:
        self.events: list[LogEvent] = []
        self._waiting: list[tuple[Callable[[str], bool], Deferred[str]]] = []
        globalLogPublisher.addObserver(self)
        test.addCleanup(globalLogPublisher.removeObserver, self)

    def __call__(self, event: LogEvent) -> None:
        if not str(event.get("log_namespace", "")).startswith("dmdelegation"):
            return
        self.events.append(event)
        line = self.text(event)
        for waiting in list(self._waiting):
            if waiting[0](line):
                self._waiting.remove(waiting)
                waiting[1].callback(line)

    @staticmethod
    def text(event: LogEvent) -> str:
        return formatEvent(event)

    @property
    def lines(self) -> list[str]:
        return [self.text(e) for e in self.events]

    def warnings(self) -> list[str]:
        return [self.text(e) for e in self.events if e["log_level"].name in ("warn", "error")]

    def wait_for(self, fragment: str) -> Deferred[str]:
        """Fires with the first line (already logged or to come) that contains ``fragment``."""
        for line in self.lines:
            if fragment in line:
                return succeed(line)
        d: Deferred[str] = Deferred()
        self._waiting.append((lambda line: fragment in line, d))
        return d


@define
class Server:
    port: int
    receive: Recorder
    registry: PeerRegistry
    listening: IListeningPort


def serve(
    test: TestCase,
    tmp: Path,
    *,
    max_body: int = 4096,
    timeout: float = 30,
    resource: Any = None,
    receive: Recorder | None = None,
    peers: PeerRegistry | None = None,
    identity: pki.Issued | None = None,
) -> Deferred[Server]:
    """Listen with mutual TLS on 127.0.0.1 (a free port) as ``identity`` (US by default);
    stops at the test's end."""
    recorder = receive or Recorder()
    reg = peers or registry()
    tls = write_tls(tmp / "server", identity or certs().us)
    resource = resource or DelegationResource(recorder, reg, max_body)
    site = make_site(resource, "/delegation", max_body, timeout)
    d = listen(reactor, "tcp:0:interface=127.0.0.1", server_options(tls), site)

    def started(port: IListeningPort) -> Server:
        test.addCleanup(port.stopListening)
        address = port.getHost()
        assert isinstance(address, IPv4Address)
        return Server(address.port, recorder, reg, port)

    return d.addCallback(started)


@define
class Exchange:
    """What a raw client got back: the bytes, and why the connection ended."""

    data: bytes
    reason: Failure

    @property
    def status(self) -> int | None:
        if not self.data.startswith(b"HTTP/1."):
            return None
        return int(self.data.split(b" ", 2)[1])

    @property
    def headers(self) -> dict[bytes, bytes]:
        head = self.data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
        return {k.strip().lower(): v.strip() for k, _, v in (h.partition(b":") for h in head)}

    @property
    def body(self) -> bytes:
        return self.data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in self.data else b""


class _Raw(Protocol):
    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts
        self.received: list[bytes] = []
        self.done: Deferred[Exchange] = Deferred()

    def connectionMade(self) -> None:
        for part in self.parts:
            self.transport.write(part)  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.received.append(data)

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:  # noqa: B008
        self.done.callback(Exchange(b"".join(self.received), reason))


def exchange(
    port: int, creator: IOpenSSLClientConnectionCreator, *parts: bytes
) -> Deferred[Exchange]:
    """Connect with ``creator``'s TLS, send ``parts``, and collect everything until the server
    closes the connection (requests carry ``Connection: close``)."""
    protocol = _Raw(list(parts))
    endpoint = wrapClientTLS(creator, TCP4ClientEndpoint(reactor, "127.0.0.1", port))
    connected = connectProtocol(endpoint, protocol)
    connected.addErrback(protocol.done.errback)
    return protocol.done


def post(
    body: bytes,
    *,
    method: bytes = b"POST",
    path: bytes = b"/delegation",
    content_type: bytes | None = b"application/vnd.dm.delegation+xml",
    extra: bytes = b"",
) -> bytes:
    head = [b"%s %s HTTP/1.1" % (method, path), b"Host: localhost", b"Connection: close"]
    if content_type is not None:
        head.append(b"Content-Type: " + content_type)
    head.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(head) + b"\r\n" + extra + b"\r\n" + body


__all__ = ["US"]
