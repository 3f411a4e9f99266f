"""A refusal on the listeners the delegation interface's site serves: its ``text/plain``
answer, its one log line (client bytes shown printable and short), and its report to the
:class:`~dmdelegation.ops.refusals.IRequestRefusals` given (the daemon counts them in its metrics),
labelled with the refused message's type when the body's root names one."""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger
from twisted.web.iweb import IRequest

from dmdelegation.engine.observer import root_of
from dmdelegation.ops.refusals import UNKNOWN_TYPE, IRequestRefusals, refusal_reason, tell
from dmdelegation.protocol import BY_ROOT
from dmdelegation.web.tls import address

log = Logger(namespace="dmdelegation.web")

_TEXT = [b"text/plain; charset=utf-8"]


def shown(value: bytes, limit: int = 64) -> str:
    """Client-supplied bytes as they may appear in a log or an answer: printable, short."""
    text = value[:limit].decode("ascii", "replace")
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text + ("..." if len(value) > limit else "")


def message_type(body: bytes) -> str:
    """The root element of ``body`` if it is one of the protocol's messages, else
    ``"unknown"``: a bounded label for a refused request (the body is not parsed)."""
    root = root_of(body[:4096])
    return root if root in BY_ROOT else UNKNOWN_TYPE


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
        method=shown(request.method, 16),
        path=shown(request.path),
        client=address(request.getClientAddress()),
        peer=peer or "peer not identified",
        status=status,
        reason=reason,
    )
    tell(refusals, label or refusal_reason(status), status, root)
    return plain_text(request, status, reason)


def plain_text(request: IRequest, status: int, reason: str) -> bytes:
    """Set ``status`` and a ``text/plain`` content type; the body is ``reason`` and a newline."""
    request.setResponseCode(status)
    request.responseHeaders.setRawHeaders(b"Content-Type", _TEXT)
    return reason.encode("utf-8") + b"\n"


def peek(request: IRequest, size: int = 4096) -> bytes:
    """The first bytes of the request's body, left to be read again."""
    content: Any = request.content
    if content is None:
        return b""
    position = content.tell()
    first: bytes = content.read(size)
    content.seek(position)
    return first
