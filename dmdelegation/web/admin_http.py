"""The admin API's HTTP plumbing (its routes are :class:`~dmdelegation.web.admin.Admin`'s):
the JSON answer and the ``{"error": reason}`` one, a request's query arguments, path and JSON
body, the checks of a command's fields (refused as :class:`BadRequest`, answered 400), the
JSON form of a session and of a delegation, the endpoint resource that calls a route's handler
(a :class:`Refused` answered with its status, a Deferred answered when it fires), and
``/metrics``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from dmdelegation.engine.engine import Refused
from dmdelegation.engine.model import Delegation, Session
from dmdelegation.ops.metrics import EngineMetrics
from dmdelegation.protocol import DelegationMethod
from dmdelegation.tree.uri import URI, URIError

if TYPE_CHECKING:
    from dmdelegation.web.admin import Admin

log = Logger(namespace="dmdelegation.web.admin")  # the admin API's, wherever its parts live
MAX_BODY = 64 * 1024
METHODS = {"dmacc": DelegationMethod.DMACC, "bootstrap-url": DelegationMethod.BOOTSTRAP_SERVER_URL}


class BadRequest(Exception):
    pass


def session_json(s: Session) -> dict[str, Any]:
    return {
        "session": s.session_id,
        "role": s.role.value,
        "process": s.process.value,
        "state": s.state,
        "peer": s.peer,
        "device": s.device_id,
        "subtree": s.subtree,
        "full": s.full,
        "initiator": s.initiator.value,
        "deadline": s.deadline,
        "outcome": None if s.outcome is None else s.outcome.value,
        "reason": s.reason,
    }


def delegation_json(d: Delegation, expires: float | None = None) -> dict[str, Any]:
    """``expires``: when a timed delegation is revoked (reactor time), else ``None``."""
    return {
        "device": d.device_id,
        "subtree": d.subtree,
        "role": d.role.value,
        "peer": d.peer,
        "full": d.full,
        "since": d.since,
        "session": d.session_id,
        "expires": expires,
    }


def _json(request: Request, status: int, body: object) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json")
    return json.dumps(body, indent=1).encode() + b"\n"


def _arg(request: Request, name: str) -> str | None:
    values = (request.args or {}).get(name.encode())
    return values[0].decode("utf-8", "replace") if values else None


def _path(request: Request) -> list[str]:
    return [p.decode("utf-8", "replace") for p in (request.postpath or [])]


def _body(request: Request) -> dict[str, Any]:
    assert request.content is not None
    raw = request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise BadRequest("request body too large")
    try:
        data = json.loads(raw or b"{}")
    except ValueError as e:
        raise BadRequest(f"not JSON: {e}") from None
    if not isinstance(data, dict):
        raise BadRequest("expected a JSON object")
    return data


def _text(data: dict[str, Any], key: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{key}: a non-empty string is required")
    return value


def _subtree(data: dict[str, Any]) -> str:
    subtree = _text(data, "subtree", ".")
    try:
        URI.parse(subtree)
    except URIError as e:
        raise BadRequest(f"subtree: {e}") from None
    return subtree


def _method(data: dict[str, Any]) -> DelegationMethod:
    name = data.get("method", "dmacc")
    if name not in METHODS:
        raise BadRequest(f"method: one of {', '.join(METHODS)}")
    return METHODS[name]


class _Endpoint(Resource):
    isLeaf = True

    def __init__(
        self, admin: Admin, get: Callable[..., Any] | None, post: Callable[..., Any] | None
    ):
        super().__init__()
        self.admin = admin
        self.get = get
        self.post = post

    def _answer(self, request: Request, handler: Callable[..., Any], *args: Any) -> Any:
        try:
            result = handler(request, *args)
        except BadRequest as e:
            return _json(request, 400, {"error": str(e)})
        except Refused as e:
            return _json(request, e.status, {"error": e.reason})
        if isinstance(result, Deferred):

            def done(body: object) -> None:
                request.write(_json(request, 200, body))
                request.finish()

            def failed(f: Failure) -> None:
                if isinstance(f.value, Refused):
                    request.write(_json(request, f.value.status, {"error": f.value.reason}))
                else:
                    log.failure("admin request failed", f)
                    request.write(_json(request, 500, {"error": "internal error"}))
                request.finish()

            result.addCallbacks(done, failed)
            return NOT_DONE_YET
        return _json(request, 200, result)

    def render_GET(self, request: Request) -> Any:
        if self.get is None:
            return _json(request, 405, {"error": "use POST"})
        return self._answer(request, self.get, *_path(request))

    def render_POST(self, request: Request) -> Any:
        if self.post is None:
            return _json(request, 405, {"error": "use GET"})
        return self._answer(request, self.post, *_path(request))


class MetricsPage(Resource):
    """``GET /metrics``: the engine's metrics in Prometheus' text format."""

    isLeaf = True

    def __init__(self, metrics: EngineMetrics | None) -> None:
        super().__init__()
        self.metrics = metrics

    def render_GET(self, request: Request) -> bytes:
        if self.metrics is None:
            return _json(request, 404, {"error": "metrics are not collected by this engine"})
        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode())
        return self.metrics.exposition()
