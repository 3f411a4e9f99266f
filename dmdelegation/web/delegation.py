"""The delegation interface (docs/wire.md): one POST resource behind mutual TLS.

Checks, in this order, each answered with a ``text/plain`` reason and one log line:

====  =========================================================================================
405   a method other than POST (with ``Allow: POST``); any path but the interface's is 404
415   a content type other than ``application/vnd.dm.delegation+xml`` (``; charset=utf-8`` ok)
413   a body over ``max_body``, refused while it arrives: an announced ``Content-Length`` at
      once, a chunked body as soon as it passes the limit; the connection is then closed
403   a certificate the peer registry does not recognise
400   a body that is not a well-formed, schema-valid message (``decode``'s status and reason)
====  =========================================================================================

Only then is the message handed to ``receive(server_id, message, body)`` (``body`` as it came,
for the engine's message log): a message comes back as
200 with the encoded document, ``None`` as 204, ``Refused(status, reason)`` as that status with
its reason (``receive`` logs its own refusals, as the engine does), the store's database out of
reach (``StoreUnavailable``) as 503, "not now" (the store logs the outage once; the reason sent
does not name the database), anything else as 500 with a generic reason and the failure
logged. A refusal never reaches ``receive``.

A request must arrive whole (request line to last body byte) within the site's ``timeout``: a
client that trickles bytes to stay under the idle timeout is cut off all the same.

Every refusal here (and Twisted's parser's 400, a path other than the interface's, a request
too slow) is also told to the ``refusals`` given to the resource and to :func:`make_site`
(:class:`~dmdelegation.ops.refusals.IRequestRefusals`: the daemon counts them in its metrics).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import io
from typing import Any, Protocol, cast
from weakref import WeakKeyDictionary

from attrs import frozen
from cryptography import x509
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime, ISSLTransport
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel
from twisted.web.iweb import INonQueuedRequestFactory, IRequest
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET, Request, Site
from zope.interface import implementer

from dmdelegation.engine.engine import Refused
from dmdelegation.engine.observer import root_of
from dmdelegation.ops.refusals import (
    MALFORMED_HTTP,
    UNKNOWN_PATH,
    UNKNOWN_PEER,
    UNKNOWN_TYPE,
    IRequestRefusals,
    refusal_reason,
    tell,
)
from dmdelegation.protocol import BY_ROOT, CONTENT_TYPE, Message, ProtocolError, decode
from dmdelegation.store.interfaces import StoreUnavailable
from dmdelegation.web.peers import PeerRegistry
from dmdelegation.web.tls import address

log = Logger(namespace="dmdelegation.web")


class Receive(Protocol):
    """What the resource hands a message to (``Engine.receive``): the peer's ServerID, the
    message, and the body it was decoded from."""

    def __call__(
        self, peer: str, message: Message, body: bytes | None = None, /
    ) -> Deferred[Message | None]: ...


_MEDIA_TYPE = CONTENT_TYPE.encode("ascii")
_CONTENT_TYPE = [_MEDIA_TYPE]
_TEXT = [b"text/plain; charset=utf-8"]
_STATUS_TEXT = {413: b"Content Too Large", 408: b"Request Timeout"}


def _shown(value: bytes, limit: int = 64) -> str:
    """Client-supplied bytes as they may appear in a log or an answer: printable, short."""
    text = value[:limit].decode("ascii", "replace")
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text + ("..." if len(value) > limit else "")


def message_type(body: bytes) -> str:
    """The root element of ``body`` if it is one of the protocol's messages, else
    ``"unknown"``: a bounded label for a refused request (the body is not parsed)."""
    root = root_of(body[:4096])
    return root if root in BY_ROOT else UNKNOWN_TYPE


def acceptable_content_type(values: list[bytes] | None) -> bool:
    """Exactly one Content-Type: the delegation media type, optionally ``charset=utf-8``."""
    if not values or len(values) != 1:
        return False
    media, *parameters = values[0].split(b";")
    if media.strip().lower() != _MEDIA_TYPE:
        return False
    for parameter in parameters:
        name, _, value = parameter.partition(b"=")
        if name.strip().lower() != b"charset":
            return False
        if value.strip().strip(b'"').lower() not in (b"utf-8", b"utf8"):
            return False
    return True


class BoundedRequest(Request):
    """A request whose body is kept in memory and refused (413) as soon as it would pass
    ``max_body``. Its time limit is its channel's (:class:`DeadlineChannel`): the whole request
    within the site's timeout from its first byte."""

    defaultContentType = None

    def __init__(
        self, channel: HTTPChannel, *, max_body: int, refusals: IRequestRefusals | None = None
    ) -> None:
        super().__init__(channel)
        self.max_body = max_body
        self.refusals = refusals
        self.received = 0
        self.refused_while_receiving = False

    def _refuse_while_receiving(self, reason: str) -> None:
        """Answer 413 before the body is complete and close the connection: the rest of the
        body is never read (what still comes is dropped until the connection goes)."""
        self.refused_while_receiving = True
        self.content = io.BytesIO()
        log.warn(
            "refused request from {client}: {status} {reason}",
            client=address(self.client),
            status=413,
            reason=reason,
        )
        tell(self.refusals, refusal_reason(413), 413, UNKNOWN_TYPE)
        body = reason.encode("utf-8") + b"\n"
        transport: Any = self.channel.transport
        transport.writeSequence(
            [
                b"HTTP/1.1 413 Content Too Large\r\n",
                b"Content-Type: text/plain; charset=utf-8\r\n",
                b"Content-Length: %d\r\n" % len(body),
                b"Connection: close\r\n\r\n",
                body,
            ]
        )
        refused = getattr(self.channel, "refused", None)
        if refused is not None:
            refused()
        else:
            self.channel.loseConnection()

    def gotLength(self, length: int | None) -> None:
        self.content = io.BytesIO()
        if length is not None and length > self.max_body:
            self._refuse_while_receiving(
                f"body of {length} bytes announced; the limit is {self.max_body}"
            )

    def handleContentChunk(self, data: bytes) -> None:
        if self.refused_while_receiving:
            return
        self.received += len(data)
        if self.received > self.max_body:
            self._refuse_while_receiving(f"body larger than the limit of {self.max_body} bytes")
            return
        content: Any = self.content
        content.write(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        arrived = getattr(self.channel, "request_arrived", None)
        if arrived is not None:
            arrived()
        if self.refused_while_receiving:
            return
        super().requestReceived(command, path, version)


@implementer(INonQueuedRequestFactory)
@frozen
class BoundedRequestFactory:
    """The Site's ``requestFactory``: :class:`BoundedRequest` with this body limit, telling
    ``refusals`` of a body refused while it arrives."""

    max_body: int
    refusals: IRequestRefusals | None = None

    def __call__(self, channel: HTTPChannel) -> BoundedRequest:
        return BoundedRequest(channel, max_body=self.max_body, refusals=self.refusals)


def refuse(
    request: IRequest,
    status: int,
    reason: str,
    *,
    peer: str | None = None,
    refusals: IRequestRefusals | None = None,
    label: str | None = None,
    root: str = UNKNOWN_TYPE,
) -> bytes:
    """Set up a refusal's answer (``text/plain`` reason), log its one line and tell
    ``refusals`` (``label``: the bounded reason, by default the status's own)."""
    log.warn(
        "refused {method} {path} from {client} ({peer}): {status} {reason}",
        method=_shown(request.method, 16),
        path=_shown(request.path),
        client=address(request.getClientAddress()),
        peer=peer or "peer not identified",
        status=status,
        reason=reason,
    )
    tell(refusals, label or refusal_reason(status), status, root)
    return _text(request, status, reason)


def _text(request: IRequest, status: int, reason: str) -> bytes:
    request.setResponseCode(status)
    request.responseHeaders.setRawHeaders(b"Content-Type", _TEXT)
    return reason.encode("utf-8") + b"\n"


def _peek(request: IRequest, size: int = 4096) -> bytes:
    """The first bytes of the request's body, left to be read again."""
    content: Any = request.content
    if content is None:
        return b""
    position = content.tell()
    first: bytes = content.read(size)
    content.seek(position)
    return first


def peer_certificate(request: IRequest) -> x509.Certificate | None:
    """The client certificate of the TLS connection ``request`` came on, if any."""
    transport = ISSLTransport(getattr(request, "transport", None), None)
    if transport is None:  # not TLS, or HTTP/2 (no transport on the request)
        return None
    certificate: Any = transport.getPeerCertificate()
    if certificate is None:
        return None
    found: x509.Certificate = certificate.to_cryptography()
    return found


class DelegationResource(Resource):
    """POST a delegation message; the answer is the synchronous response, or 204. Each
    refusal before ``receive`` is told to ``refusals``."""

    isLeaf = True

    def __init__(
        self,
        receive: Receive,
        registry: PeerRegistry,
        max_body: int,
        *,
        refusals: IRequestRefusals | None = None,
    ) -> None:
        super().__init__()
        self.receive = receive
        self.registry = registry
        self.max_body = max_body
        self.refusals = refusals
        self._connections: WeakKeyDictionary[object, str | None] = WeakKeyDictionary()

    def render(self, request: IRequest) -> bytes | int:
        assert request.content is not None
        if request.method != b"POST":
            request.responseHeaders.setRawHeaders(b"Allow", [b"POST"])
            return self._refuse(request, 405, f"method {_shown(request.method, 16)} not allowed")
        if not acceptable_content_type(request.requestHeaders.getRawHeaders(b"Content-Type")):
            return self._refuse(request, 415, f"content type must be {CONTENT_TYPE}")
        body = request.content.read()
        if len(body) > self.max_body:
            return self._refuse(
                request, 413, f"body larger than the limit of {self.max_body} bytes", body
            )
        server_id = self._identify(request)
        if server_id is None:
            if getattr(request, "transport", None) is None or peer_certificate(request) is None:
                why = "no client certificate on this connection"
            else:
                why = "the client certificate is not that of a known peer"
            return refuse(
                request,
                403,
                why,
                refusals=self.refusals,
                label=UNKNOWN_PEER,
                root=message_type(body),
            )
        try:
            message = decode(body, max_size=self.max_body)
        except ProtocolError as e:
            return refuse(
                request,
                e.status,
                e.reason,
                peer=server_id,
                refusals=self.refusals,
                root=message_type(body),
            )
        return self._hand_over(request, server_id, message, body)

    def _refuse(
        self, request: IRequest, status: int, reason: str, body: bytes | None = None
    ) -> bytes:
        """A refusal before the identity check: its log line still names the peer if known."""
        return refuse(
            request,
            status,
            reason,
            peer=self._identify(request),
            refusals=self.refusals,
            root=message_type(_peek(request) if body is None else body),
        )

    def _identify(self, request: IRequest) -> str | None:
        """The peer's ServerID, read once per connection: its certificate cannot change
        (no renegotiation), so the answer is kept for the connection's lifetime."""
        transport = getattr(request, "transport", None)
        if transport is None:
            return None
        try:
            return self._connections[transport]
        except KeyError:
            pass
        except TypeError:  # a transport that cannot be weakly referenced: no cache
            return self._read_identity(request)
        server_id = self._connections[transport] = self._read_identity(request)
        return server_id

    def _read_identity(self, request: IRequest) -> str | None:
        certificate = peer_certificate(request)
        return None if certificate is None else self.registry.identify(certificate)

    def _hand_over(
        self, request: IRequest, server_id: str, message: Message, body: bytes
    ) -> bytes | int:
        outcome: list[Message | Failure | None] = []
        try:
            answer: Deferred[Message | None] = self.receive(server_id, message, body)
        except Exception:
            return self._answer(request, server_id, message, Failure())
        answer.addBoth(outcome.append)
        if outcome:  # answered at once
            return self._answer(request, server_id, message, outcome[0])
        gone: list[Failure] = []
        cast(Request, request).notifyFinish().addErrback(gone.append)

        def later(_: object) -> None:
            body = self._answer(request, server_id, message, outcome[0])
            if not gone:
                # A length, not chunks: the answer is whole (a peer's client need not de-chunk)
                request.responseHeaders.setRawHeaders(b"Content-Length", [b"%d" % len(body)])
                request.write(body)
                request.finish()

        answer.addCallback(later)
        return NOT_DONE_YET

    def _answer(self, request: IRequest, server_id: str, message: Message, result: Any) -> bytes:
        if isinstance(result, Failure):
            if isinstance(result.value, Refused):
                log.debug(
                    "{root} from {peer} answered {status} {reason}",
                    root=message.ROOT,
                    peer=server_id,
                    status=result.value.status,
                    reason=result.value.reason,
                )
                return _text(request, result.value.status, result.value.reason)
            if isinstance(result.value, StoreUnavailable):
                log.debug(
                    "{root} from {peer} answered 503: {reason}",
                    root=message.ROOT,
                    peer=server_id,
                    reason=str(result.value),
                )
                return _text(request, 503, "the state store is unreachable; try again later")
            log.failure(
                "{root} from {peer} could not be handled: answered 500",
                result,
                root=message.ROOT,
                peer=server_id,
            )
            return _text(request, 500, "internal error; the message was not taken")
        if result is None:
            request.setResponseCode(204)
            return b""
        try:
            body = result.encode()
        except Exception:
            log.failure(
                "the answer to {root} from {peer} could not be encoded: answered 500",
                root=message.ROOT,
                peer=server_id,
            )
            return _text(request, 500, "internal error; no answer could be written")
        request.responseHeaders.setRawHeaders(b"Content-Type", _CONTENT_TYPE)
        return bytes(body)


class _Root(Resource):
    """Serves ``resource`` at exactly ``path``, 404 elsewhere."""

    isLeaf = True

    def __init__(
        self, path: bytes, resource: IResource, refusals: IRequestRefusals | None = None
    ) -> None:
        super().__init__()
        self.path = path
        self.resource = resource
        self.refusals = refusals

    def render(self, request: IRequest) -> bytes | int:
        request.responseHeaders.removeHeader(b"Server")
        if request.path != self.path:
            return refuse(
                request,
                404,
                "no such resource",
                refusals=self.refusals,
                label=UNKNOWN_PATH,
                root=message_type(_peek(request)),
            )
        rendered: bytes | int = self.resource.render(request)
        return rendered


ABORT_AFTER = 0.5  # seconds a refused connection has to take its answer before it is aborted


class RefusingChannel(HTTPChannel):
    """An HTTP channel that, once it has refused a request (Twisted's parser's 400, or a body
    refused while it arrives), reads nothing more and is aborted: the refusal is written and the
    connection closed, and if the client has not gone within :data:`ABORT_AFTER` (a TLS client
    that never sends its close_notify, and keeps sending) the connection is aborted. Whatever
    arrives meanwhile is dropped at once, never buffered. Every listener's site uses it
    (the delegation interface through :class:`DeadlineChannel`, the admin API and the DM
    endpoint as is)."""

    _refused = False  # a refusal was written: the rest of the input is dropped
    _abort: IDelayedCall | None = None

    def dataReceived(self, data: bytes) -> None:
        if self._refused:
            return
        super().dataReceived(data)

    def refused(self, *, close: bool = True) -> None:
        """A refusal has been written: read nothing more, close (unless the caller has), and
        abort if still open after :data:`ABORT_AFTER`."""
        if self._refused:
            return
        self._refused = True
        self._abort = self.callLater(ABORT_AFTER, self._abort_now)
        if close:
            self.loseConnection()

    def _abort_now(self) -> None:
        self._abort = None
        if self.transport is not None:
            self.transport.abortConnection()  # type: ignore[attr-defined]

    def _respondToBadRequestAndDisconnect(self) -> None:
        if self._refused:  # the parser may refuse again on what it still held
            return
        super()._respondToBadRequestAndDisconnect()  # writes the 400 and closes
        self.refused(close=False)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._abort is not None and self._abort.active():
            self._abort.cancel()
        self._abort = None
        super().connectionLost(reason)


class DeadlineChannel(RefusingChannel):
    """Each request must arrive whole, request line included, within the site's timeout from
    its first byte (its :class:`BoundedRequest` says when it has). Twisted's idle timeout alone
    is reset by every byte: a client trickling a request would hold the connection for ever."""

    _deadline: IDelayedCall | None = None
    _malformed = False  # refused by the parser: told once, whatever the parser does after

    def _refusals(self) -> IRequestRefusals | None:
        site = getattr(self, "factory", None)
        return site.refusals if isinstance(site, DelegationSite) else None

    def dataReceived(self, data: bytes) -> None:
        if self._deadline is None and self.timeOut:
            self._deadline = self.callLater(self.timeOut, self._too_slow)
        super().dataReceived(data)

    def request_arrived(self) -> None:
        """The request being received is complete: its deadline is met."""
        if self._deadline is not None:
            if self._deadline.active():
                self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        log.warn(
            "request from {client} not received whole within {timeout}s: connection cut",
            client=address(self.transport.getPeer() if self.transport else None),
            timeout=self.timeOut,
        )
        tell(self._refusals(), refusal_reason(408), 0, UNKNOWN_TYPE)
        if self.transport is not None:
            self.transport.abortConnection()  # type: ignore[attr-defined]

    def _respondToBadRequestAndDisconnect(self) -> None:
        """Twisted's parser refuses malformed HTTP (framing, request line, header syntax) with a
        bare 400 and no log line; give it one, and tell the site's refusals."""
        if not self._malformed:
            self._malformed = True
            log.warn(
                "refused request from {client}: 400 malformed HTTP (framing or syntax)",
                client=address(self.transport.getPeer() if self.transport else None),
            )
            tell(self._refusals(), MALFORMED_HTTP, 400, UNKNOWN_TYPE)
        super()._respondToBadRequestAndDisconnect()

    def connectionMade(self) -> None:
        super().connectionMade()
        site = getattr(self, "factory", None)
        if isinstance(site, DelegationSite):
            site.connections += 1

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.request_arrived()
        super().connectionLost(reason)
        site = getattr(self, "factory", None)
        if isinstance(site, DelegationSite):
            site.connection_closed()


def _release_freed_memory() -> None:
    """Give memory freed after a burst back to the system: the burst's cyclic garbage first
    (the daemon collects it less often than CPython would: `dmdelegation.daemon.gc_tuning`), then
    what glibc keeps (500 connections' TLS buffers stayed resident); no trim without glibc."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class DelegationSite(Site):
    """A Site that speaks HTTP/1.1 only (never offers h2 through ALPN) and keeps no access
    log unless asked (refusals have their own log lines, messages the engine's)."""

    access_log = False
    refusals: IRequestRefusals | None = None  # told of what the channels refuse
    protocol = DeadlineChannel  # type: ignore[assignment]
    connections = 0
    busiest = 0  # the most connections open at once since the last release

    def connection_closed(self) -> None:
        self.connections -= 1
        self.busiest = max(self.busiest, self.connections + 1)
        if self.connections == 0 and self.busiest >= 50:
            self.busiest = 0
            _release_freed_memory()

    def acceptableProtocols(self) -> list[bytes]:
        return [b"http/1.1"]

    def log(self, request: Any) -> None:
        if self.access_log:
            super().log(request)


def make_site(
    resource: IResource,
    path: str,
    max_body: int,
    timeout: float = 30,
    *,
    reactor: IReactorTime | None = None,
    access_log: bool = False,
    refusals: IRequestRefusals | None = None,
) -> Site:
    """The site serving ``resource`` at ``path``: bodies over ``max_body`` refused while they
    arrive, ``timeout`` seconds both as the idle timeout and for a request to arrive whole.
    Its refusals (malformed HTTP, too slow, too large, another path) are told to ``refusals``
    (give the resource the same: it tells of its own)."""
    if reactor is None:
        from twisted.internet import reactor as default_reactor

        reactor = cast(IReactorTime, default_reactor)
    assert reactor is not None
    site = DelegationSite(
        _Root(path.encode("utf-8"), resource, refusals),
        requestFactory=BoundedRequestFactory(max_body, refusals),
        timeout=timeout,
        reactor=reactor,
        parsePOSTFormSubmission=False,
    )
    site.access_log = access_log
    site.refusals = refusals
    site.displayTracebacks = False
    return site
