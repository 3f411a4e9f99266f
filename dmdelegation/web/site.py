"""The HTTP site every listener serves (the delegation interface, the admin API, the DM
endpoint): its channel, its requests and :func:`make_site`.

- A body is kept in memory and refused (413) while it arrives, as soon as it would pass the
  site's ``max_body``: an announced ``Content-Length`` at once, a chunked body as soon as it
  passes the limit; the connection is then closed (:class:`BoundedRequest`).
- A request must arrive whole (request line to last body byte) within the site's ``timeout``: a
  client that trickles bytes to stay under the idle timeout is cut off all the same
  (:class:`DeadlineChannel`).
- A channel that has refused a request (Twisted's parser's 400, a body too large) reads nothing
  more and is aborted if the client does not go (:class:`RefusingChannel`).
- Only the interface's path is served; any other is 404.

Each of these refusals is told to the ``refusals`` given to :func:`make_site`
(:class:`~dmdelegation.ops.refusals.IRequestRefusals`: the daemon counts them in its metrics).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import io
from typing import Any, cast

from attrs import frozen
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel
from twisted.web.iweb import INonQueuedRequestFactory, IRequest
from twisted.web.resource import IResource, Resource
from twisted.web.server import Request, Site
from zope.interface import implementer

from dmdelegation.ops.refusals import (
    MALFORMED_HTTP,
    UNKNOWN_PATH,
    UNKNOWN_TYPE,
    IRequestRefusals,
    refusal_reason,
    tell,
)
from dmdelegation.web.refusal import message_type, peek, refuse
from dmdelegation.web.tls import address

log = Logger(namespace="dmdelegation.web")


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
    (the daemon collects it less often than CPython would: `dmdelegation.daemon.gc_tuning`),
    then what glibc keeps (500 connections' TLS buffers stayed resident); no trim without glibc."""
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
    _release_due = False

    def connection_closed(self) -> None:
        """After a burst (50 connections or more open at once), when the last one closes, the
        memory freed is given back: on the reactor's next turn, once the connections closed in
        this one are torn down (released at once, a burst of closes left part of its memory
        behind), and only if no connection has opened meanwhile."""
        self.connections -= 1
        self.busiest = max(self.busiest, self.connections + 1)
        if self.connections == 0 and self.busiest >= 50 and not self._release_due:
            self._release_due = True
            self.reactor.callLater(0, self._release_if_idle)

    def _release_if_idle(self) -> None:
        self._release_due = False
        if self.connections == 0:
            self.busiest = 0
            _release_freed_memory()

    def acceptableProtocols(self) -> list[bytes]:
        return [b"http/1.1"]

    def log(self, request: Any) -> None:
        if self.access_log:
            super().log(request)


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
                root=message_type(peek(request)),
            )
        rendered: bytes | int = self.resource.render(request)
        return rendered


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
