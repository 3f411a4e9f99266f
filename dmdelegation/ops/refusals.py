"""Why a request or a command is refused, as a bounded label, and the seam through which the
delegation interface tells of the requests it refuses before the engine sees them.

The engine's refusals (:meth:`~dmdelegation.engine.observer.IEngineObserver.refused`) are named
by their HTTP status (:func:`refusal_reason`). The delegation interface (TLS, HTTP, the
resource) refuses more, sometimes with a status of the engine's for another reason (its 403 is
a certificate of no known peer, not a peer outside the session; its 404 a path), so it names
each refusal with one of :data:`INTERFACE_REASONS` and tells an :class:`IRequestRefusals`.

Every label is from a closed set: nothing a peer sends becomes a label (a message type only if
it is one of the protocol's roots, else ``"unknown"``), and nothing secret is ever passed.
"""

from __future__ import annotations

from typing import Final

from twisted.logger import Logger
from zope.interface import Interface

REFUSAL_REASONS: Final = {
    400: "unusable-content",
    403: "not-party",
    404: "unknown-session",
    405: "bad-method",
    408: "too-slow",
    409: "conflict",
    413: "too-large",
    415: "bad-media-type",
    429: "too-many-processes",
    503: "unavailable",
}


def refusal_reason(status: int) -> str:
    """A bounded label for a refusal's status (reasons themselves are free text)."""
    return REFUSAL_REASONS.get(status, f"status-{status}")


# Refusals of the delegation interface that its status alone does not name.
TLS_HANDSHAKE: Final = "tls-handshake"  # no certificate, unknown CA, expired, no shared cipher...
UNKNOWN_PEER: Final = "unknown-peer"  # a valid certificate, but of no configured peer (403)
MALFORMED_HTTP: Final = "malformed-http"  # refused by the HTTP parser (framing, syntax)
UNKNOWN_PATH: Final = "unknown-path"  # any path but the interface's (404)

#: Every reason the delegation interface may give (the rest are its statuses' own).
INTERFACE_REASONS: Final = frozenset(
    {
        TLS_HANDSHAKE,
        UNKNOWN_PEER,
        MALFORMED_HTTP,
        UNKNOWN_PATH,
        refusal_reason(400),
        refusal_reason(405),
        refusal_reason(408),
        refusal_reason(413),
        refusal_reason(415),
    }
)

#: The message type of a refused request whose root element is not one of the protocol's.
UNKNOWN_TYPE: Final = "unknown"


class IRequestRefusals(Interface):
    """Told of each request the delegation interface refuses before the engine sees it (the
    engine tells its own observers of the rest). A host embedding the interface may plug its
    own; :class:`~dmdelegation.ops.metrics.EngineMetrics` counts them."""

    def request_refused(reason: str, status: int, root: str) -> None:
        """A request (or a TLS connection) was refused for ``reason``, one of
        :data:`INTERFACE_REASONS`; ``status`` is the HTTP status it was answered with, 0 when
        no HTTP answer went out (a refused TLS handshake, a connection cut); ``root`` is the
        message's root element when it is one of the protocol's, else :data:`UNKNOWN_TYPE`."""


_log = Logger(namespace="dmdelegation.refusals")  # as before the move: operators filter on it


def tell(refusals: IRequestRefusals | None, reason: str, status: int, root: str) -> None:
    """Tell ``refusals`` (if any) of a refusal; its failure is logged and goes no further (the
    refusal is answered all the same)."""
    if refusals is None:
        return
    try:
        refusals.request_refused(reason, status, root)
    except Exception:
        _log.failure("refusal observer {observer} failed", observer=repr(refusals))
