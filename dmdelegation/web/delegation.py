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

The site around it (:func:`make_site`, :mod:`dmdelegation.web.site`) refuses the 413 while
the body arrives, and a request that does not arrive whole (request line to last body byte)
within the site's ``timeout``: a client that trickles bytes to stay under the idle timeout is
cut off all the same.

Every refusal here (and Twisted's parser's 400, a path other than the interface's, a request
too slow) is also told to the ``refusals`` given to the resource and to :func:`make_site`
(:class:`~dmdelegation.ops.refusals.IRequestRefusals`: the daemon counts them in its metrics).
"""

from __future__ import annotations

from typing import Any, Protocol, cast
from weakref import WeakKeyDictionary

from cryptography import x509
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import ISSLTransport
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from dmdelegation.engine.engine import Refused
from dmdelegation.ops.refusals import UNKNOWN_PEER, IRequestRefusals
from dmdelegation.protocol import CONTENT_TYPE, Message, ProtocolError, decode
from dmdelegation.store.interfaces import StoreUnavailable
from dmdelegation.web.peers import PeerRegistry
from dmdelegation.web.refusal import message_type, peek, plain_text, refuse, shown
from dmdelegation.web.site import (
    ABORT_AFTER,
    BoundedRequest,
    BoundedRequestFactory,
    DeadlineChannel,
    DelegationSite,
    RefusingChannel,
    make_site,
)

# The site and the refusals have modules of their own (web.site, web.refusal); what was
# imported from here still is.
__all__ = [
    "ABORT_AFTER",
    "BoundedRequest",
    "BoundedRequestFactory",
    "DeadlineChannel",
    "DelegationResource",
    "DelegationSite",
    "Receive",
    "RefusingChannel",
    "acceptable_content_type",
    "make_site",
    "message_type",
    "peer_certificate",
    "refuse",
]

log = Logger(namespace="dmdelegation.web")


class Receive(Protocol):
    """What the resource hands a message to (``Engine.receive``): the peer's ServerID, the
    message, and the body it was decoded from."""

    def __call__(
        self, peer: str, message: Message, body: bytes | None = None, /
    ) -> Deferred[Message | None]: ...


_MEDIA_TYPE = CONTENT_TYPE.encode("ascii")
_CONTENT_TYPE = [_MEDIA_TYPE]


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
            return self._refuse(request, 405, f"method {shown(request.method, 16)} not allowed")
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
            root=message_type(peek(request) if body is None else body),
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
                return plain_text(request, result.value.status, result.value.reason)
            if isinstance(result.value, StoreUnavailable):
                log.debug(
                    "{root} from {peer} answered 503: {reason}",
                    root=message.ROOT,
                    peer=server_id,
                    reason=str(result.value),
                )
                return plain_text(request, 503, "the state store is unreachable; try again later")
            log.failure(
                "{root} from {peer} could not be handled: answered 500",
                result,
                root=message.ROOT,
                peer=server_id,
            )
            return plain_text(request, 500, "internal error; the message was not taken")
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
            return plain_text(request, 500, "internal error; no answer could be written")
        request.responseHeaders.setRawHeaders(b"Content-Type", _CONTENT_TYPE)
        return bytes(body)
