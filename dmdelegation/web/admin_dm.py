"""``POST /dm`` of the admin API: one DM command on a managed device, as this server.

    POST /dm  {device, command: get|add|replace|delete, uri, value?, timeout?}
         ->   {device, command, uri, status, value?, children?}

The command goes through the daemon's own `IDMClientSession` for the device (a DM session for a
device of the DM endpoint, queued for its next session; the embedded store otherwise), acting as
this server's ServerID, so the device's ACLs decide (425 outside what this server was granted).
The answer waits for the device's status, at most ``timeout`` seconds (default 60, at most 600);
a command not yet sent by then is withdrawn (504). A secret leaf's value is never shown.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, TimeoutError
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from dmdelegation.client.interfaces import IDMClientSession
from dmdelegation.tree.results import GetResult, Result
from dmdelegation.tree.secrets import MASK, is_secret
from dmdelegation.tree.uri import URI, URIError
from dmdelegation.tree.value import Value

log = Logger()

MAX_BODY = 64 * 1024
COMMANDS = ("get", "add", "replace", "delete")
DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 600.0

SessionFor = Callable[[str], IDMClientSession]


class _Invalid(Exception):
    pass


def _answer(request: Request, status: int, body: object) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json")
    return json.dumps(body, indent=1).encode() + b"\n"


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise _Invalid(f"{key}: a non-empty string is required")
    return value


def parse_command(raw: bytes) -> tuple[str, str, URI, Value | None, float]:
    """(device, command, uri, value, timeout) of a request body; `_Invalid` names the fault."""
    if len(raw) > MAX_BODY:
        raise _Invalid("request body too large")
    try:
        data = json.loads(raw or b"{}")
    except ValueError as e:
        raise _Invalid(f"not JSON: {e}") from None
    if not isinstance(data, dict):
        raise _Invalid("expected a JSON object")
    device = _text(data, "device")
    command = _text(data, "command")
    if command not in COMMANDS:
        raise _Invalid(f"command: one of {', '.join(COMMANDS)}")
    try:
        uri = URI.parse(_text(data, "uri"))
    except URIError as e:
        raise _Invalid(f"uri: {e}") from None
    value: Value | None = None
    if command in ("add", "replace"):
        raw_value = data.get("value")
        if raw_value is None and command == "add":
            value = Value.interior()
        elif isinstance(raw_value, str):
            value = Value.text(raw_value)
        else:
            raise _Invalid("value: a string is required (add without a value: interior node)")
    elif "value" in data:
        raise _Invalid(f"value: not taken by {command}")
    timeout = data.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise _Invalid("timeout: a positive number of seconds")
    return device, command, uri, value, min(float(timeout), MAX_TIMEOUT)


def result_json(uri: URI, result: Result | GetResult) -> dict[str, Any]:
    body: dict[str, Any] = {"status": int(result.status)}
    if isinstance(result, GetResult) and result.node is not None:
        if result.node.value.is_interior:
            body["children"] = list(result.node.children)
        elif is_secret(uri):
            body["value"] = MASK
        else:
            body["value"] = result.node.value.as_text()
    return body


class DMCommandPage(Resource):
    """``/dm``: see the module's docstring."""

    isLeaf = True

    def __init__(self, session_for: SessionFor | None, clock: IReactorTime) -> None:
        super().__init__()
        self.session_for = session_for
        self.clock = clock

    def render_GET(self, request: Request) -> bytes:
        return _answer(request, 405, {"error": "use POST"})

    def render_POST(self, request: Request) -> Any:
        if self.session_for is None:
            return _answer(request, 404, {"error": "this engine does not reach devices"})
        assert request.content is not None
        try:
            device, command, uri, value, timeout = parse_command(request.content.read(MAX_BODY + 1))
        except _Invalid as e:
            return _answer(request, 400, {"error": str(e)})
        try:
            session = self.session_for(device)
        except LookupError:
            return _answer(request, 404, {"error": f"unknown device {device}"})
        d: Deferred[Any]
        if command == "get":
            d = session.get(uri)
        elif command == "delete":
            d = session.delete(uri)
        elif command == "add":
            assert value is not None
            d = session.add(uri, value)
        else:
            assert value is not None
            d = session.replace(uri, value)
        d.addTimeout(timeout, self.clock)
        head = {"device": device, "command": command, "uri": str(uri)}
        lost: list[bool] = []

        def done(result: Result | GetResult) -> None:
            body = {**head, **result_json(uri, result)}
            log.info(
                "operator {command} {uri} on {device}: {status}",
                command=command,
                uri=str(uri),
                device=device,
                status=body["status"],
            )
            if not lost:
                request.write(_answer(request, 200, body))
                request.finish()

        def failed(f: Failure) -> None:
            if f.check(TimeoutError, CancelledError):
                status, reason = 504, f"the device did not answer within {timeout:g} s"
            elif f.check(LookupError):
                status, reason = 404, f"unknown device {device}"
            else:
                log.failure(
                    "DM command {command} on {device} failed", f, command=command, device=device
                )
                status, reason = 502, f"the outcome is unknown: {f.getErrorMessage()}"
            if not lost:
                request.write(_answer(request, status, {**head, "error": reason}))
                request.finish()

        def gone(_: object) -> None:
            lost.append(True)
            d.cancel()

        request.notifyFinish().addErrback(gone)
        d.addCallbacks(done, failed)
        return NOT_DONE_YET
