"""What stands between the admin API and anything that can reach its socket.

A loopback port is reachable by every local user and, through a browser, by every web page the
machine opens: a page could POST ``text/plain`` to ``http://127.0.0.1:8440/delegate`` (a "simple"
request, sent without a CORS preflight), or reach it under its own host name by DNS
rebinding. :class:`AdminGuard` wraps the admin resource and refuses, in this order, each with a
JSON ``{"error": reason}`` and one log line:

====  =========================================================================================
403   a ``Host`` that is not a loopback name (``localhost``, ``127.0.0.1``, ``[::1]``, any port):
      DNS rebinding
403   any ``Origin`` header, or ``Sec-Fetch-Site`` other than ``none``: a browser's request
      (the ``dmdelegation`` command sends neither)
401   with a token configured (``admin.token_file``), a missing or wrong
      ``Authorization: Bearer <token>`` (compared in constant time)
415   a POST whose ``Content-Type`` is not ``application/json`` (``application/toml`` for
      ``/devices``): no browser sends those cross-origin without a preflight, which this API
      never answers
====  =========================================================================================

A unix socket (the default in ``deploy/``) is made mode 0600: only the daemon's user and root
can connect (docs/operations.md, "The admin API").
"""

from __future__ import annotations

import hmac
import json
from pathlib import Path

from twisted.logger import Logger
from twisted.web.resource import IResource, Resource
from twisted.web.server import Request

log = Logger(namespace="dmdelegation.admin")

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
JSON = b"application/json"
TOML = b"application/toml"


def read_token(path: Path) -> bytes:
    """The admin token in ``path`` (surrounding whitespace dropped); ``ValueError`` if empty."""
    token = path.read_bytes().strip()
    if not token:
        raise ValueError(f"{path}: the admin token file is empty")
    return token


def _host_name(host: bytes) -> str:
    """The name in a ``Host`` header, without its port and IPv6 brackets."""
    text = host.decode("ascii", "replace").strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    return text.rpartition(":")[0] if text.count(":") == 1 else text


def _media_type(request: Request) -> bytes:
    values = request.requestHeaders.getRawHeaders(b"content-type") or [b""]
    return values[0].split(b";")[0].strip().lower()


class _Refusal(Resource):
    isLeaf = True

    def __init__(self, status: int, reason: str) -> None:
        super().__init__()
        self.status = status
        self.reason = reason

    def render(self, request: Request) -> bytes:
        request.setResponseCode(self.status)
        request.setHeader(b"content-type", b"application/json")
        if self.status == 401:
            request.setHeader(b"www-authenticate", b'Bearer realm="dmdelegation"')
        return json.dumps({"error": self.reason}).encode() + b"\n"


class AdminGuard(Resource):
    """``admin``, served only to requests that pass the checks above (``token``: the bearer
    token required, or None)."""

    def __init__(self, admin: IResource, token: bytes | None = None) -> None:
        super().__init__()
        self.admin = admin
        self.token = token

    def refusal(self, request: Request) -> tuple[int, str] | None:
        """Why ``request`` is refused (status, reason), or None."""
        headers = request.requestHeaders
        host = headers.getRawHeaders(b"host")
        if host is not None and _host_name(host[0]) not in LOOPBACK_HOSTS:
            return 403, "the Host header must be a loopback name"
        fetch_site = headers.getRawHeaders(b"sec-fetch-site")
        if headers.hasHeader(b"origin") or (fetch_site is not None and fetch_site[0] != b"none"):
            return 403, "requests from a web page (with an Origin) are refused"
        if self.token is not None:
            given = (headers.getRawHeaders(b"authorization") or [b""])[0]
            scheme, _, credential = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(
                credential.strip(), self.token
            ):
                return 401, "a valid 'Authorization: Bearer <token>' is required"
        if request.method == b"POST":
            wanted = TOML if request.path.rstrip(b"/") == b"/devices" else JSON
            if _media_type(request) != wanted:
                return 415, f"Content-Type must be {wanted.decode()}"
        return None

    def _checked(self, request: Request) -> IResource | None:
        refused = self.refusal(request)
        if refused is None:
            return None
        status, reason = refused
        log.warn(
            "admin API refused {method} {path}: {status} {reason}",
            method=request.method.decode("ascii", "replace")[:16],
            path=request.path.decode("ascii", "replace")[:64],
            status=status,
            reason=reason,
        )
        return _Refusal(status, reason)

    def getChildWithDefault(self, path: bytes, request: Request) -> IResource:
        refused = self._checked(request)
        if refused is not None:
            return refused
        child: IResource = self.admin.getChildWithDefault(path, request)
        return child

    def render(self, request: Request) -> bytes | int:
        refused = self._checked(request)
        rendered: bytes | int = (refused or self.admin).render(request)
        return rendered
