"""The admin API: JSON over HTTP on a loopback port or a unix socket (never the public
delegation endpoint). The ``dmdelegation`` command is its client.

    GET  /health                          {"server_id": ..., "open_sessions": n}
    POST /delegate   {device, to, subtree, full, method, for, dry_run}   DMS-1 starts
                     (``for``: seconds, a timed delegation; ``dry_run``: the plan only)
    POST /request    {device, from, subtree, full, method}      DMS-2 starts
    POST /revoke     {device, subtree, mode: asked|forced, notify}
    POST /give-back  {device, subtree}                          requested revocation
    POST /abort      {session}
    GET  /status[?device=D]               delegations in force and open sessions
    GET  /sessions[?device=D&open=1]      sessions, newest last
    GET  /sessions/<id>[?after=n]         one session and its message log (redacted)
    GET  /sessions/<id>/wait[?timeout=s]  answers when the process has ended (or at timeout)
    GET  /sessions/<id>/trace             its messages (time, direction, type, reasonCode) and
                                          the DM commands sent to the device among them
    GET  /history?device=D                periods of authority over D's subtrees (audit)
    GET  /metrics                         Prometheus text exposition
    GET  /tree?device=D[&uri=U]           the device's tree, secrets masked
    POST /dm  {device, command, uri, value, timeout}   one DM command as this server (admin_dm)
    POST /devices    (a provisioning file, TOML)                a new embedded device

Errors: the status of the engine's refusal (404, 409, ...) or 400, with ``{"error": reason}``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Collection
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import Request

from dmdelegation.client.provisioning import ProvisioningError, parse_provision
from dmdelegation.client.store import ClientTreeStore, DeviceTreeError, UnknownDevice
from dmdelegation.engine.engine import Engine, Refused
from dmdelegation.engine.model import Process, Session
from dmdelegation.ops import dryrun, trace
from dmdelegation.ops.expiry import ExpiryWatch
from dmdelegation.ops.history import periods
from dmdelegation.ops.metrics import EngineMetrics
from dmdelegation.protocol import DelegationMethod
from dmdelegation.tree.devinfo import DEVINFO_ROOT
from dmdelegation.tree.display import display_lines
from dmdelegation.tree.uri import URI, URIError
from dmdelegation.web.admin_dm import DMCommandPage, SessionFor
from dmdelegation.web.admin_http import (
    MAX_BODY,
    METHODS,
    BadRequest,
    MetricsPage,
    _arg,
    _body,
    _Endpoint,
    _json,
    _method,
    _subtree,
    _text,
    delegation_json,
    session_json,
)

log = Logger()

# The JSON helpers and the endpoint resource live in web.admin_http; imported from here as before.
__all__ = [
    "MAX_BODY",
    "METHODS",
    "Admin",
    "BadRequest",
    "MetricsPage",
    "delegation_json",
    "session_json",
]


class Admin(Resource):
    """The root of the admin API."""

    def __init__(
        self,
        engine: Engine,
        clients: ClientTreeStore,
        clock: IReactorTime,
        *,
        metrics: EngineMetrics | None = None,
        expiry: ExpiryWatch | None = None,
        session_for: SessionFor | None = None,
        dm: dryrun.DMDevices | None = None,
        peers: Collection[str] | None = None,
    ) -> None:
        super().__init__()
        self.dm = dm
        self.engine = engine
        self.peers = peers  # the configured ServerIDs; None: not checked here
        self.clients = clients
        self.clock = clock
        self.expiry = expiry
        routes: dict[str, tuple[Callable[..., Any] | None, Callable[..., Any] | None]] = {
            "health": (self.health, None),
            "delegate": (None, self.delegate),
            "request": (None, self.request_delegation),
            "revoke": (None, self.revoke),
            "give-back": (None, self.give_back),
            "abort": (None, self.abort),
            "status": (self.status, None),
            "sessions": (self.sessions, None),
            "tree": (self.tree, None),
            "devices": (self.devices, self.add_device),
            "history": (self.history, None),
        }
        for name, (get, post) in routes.items():
            self.putChild(name.encode(), _Endpoint(self, get, post))
        self.putChild(b"metrics", MetricsPage(metrics))
        self.putChild(b"dm", DMCommandPage(session_for, clock))

    def render_GET(self, request: Request) -> bytes:
        return _json(request, 404, {"error": "see /health, /status, /sessions, /tree"})

    # ---------------------------------------------------------------- reads

    def health(self, request: Request) -> dict[str, Any]:
        return {"server_id": self.engine.server_id, "open_sessions": self.engine.store.count_open()}

    def status(self, request: Request) -> dict[str, Any]:
        device = _arg(request, "device")
        store = self.engine.store
        sessions = store.open_on(device) if device else list(store.open_sessions())
        expiries = {e.session_id: e.expires for e in store.expiries(device)}
        return {
            "server_id": self.engine.server_id,
            "delegations": [
                delegation_json(d, expiries.get(d.session_id)) for d in store.delegations(device)
            ],
            "open_sessions": [session_json(s) for s in sessions],
        }

    def sessions(self, request: Request, *path: str) -> Any:
        store = self.engine.store
        if not path or path == ("",):
            device = _arg(request, "device")
            listed = store.sessions(device)
            if _arg(request, "open"):
                listed = [s for s in listed if s.is_open]
            return {"sessions": [session_json(s) for s in listed]}
        session = store.get(path[0])
        if session is None:
            raise Refused(404, f"unknown session {path[0]}")
        if path[1:] == ("wait",):
            return self._wait(session, float(_arg(request, "timeout") or 30))
        if path[1:] == ("trace",):
            return {
                **session_json(session),
                "server_id": self.engine.server_id,
                "messages": trace.entries(
                    store.message_log(session.session_id),
                    self.engine.server_id,
                    session.peer,
                    store.device_commands(session.session_id),
                    session.device_id,
                ),
            }
        after = int(_arg(request, "after") or 0)
        messages = store.message_log(session.session_id)
        return {
            **session_json(session),
            "messages": [
                {"direction": m.direction, "message": m.root, "document": m.document}
                for m in messages[after:]
            ],
            "message_count": len(messages),
        }

    def _wait(self, session: Session, timeout: float) -> Deferred[dict[str, Any]]:
        d = self.engine.wait(session.session_id)
        d.addTimeout(max(0.1, min(timeout, 3600)), self.clock)

        def current(_: object) -> dict[str, Any]:
            latest = self.engine.store.get(session.session_id)
            assert latest is not None
            return session_json(latest)

        return d.addBoth(current)

    def tree(self, request: Request) -> dict[str, Any]:
        device = _arg(request, "device")
        if not device:
            raise BadRequest("device: required")
        try:
            top = URI.parse(_arg(request, "uri") or ".")
            records = self.clients.records(device, top)
        except URIError as e:
            raise BadRequest(f"uri: {e}") from None
        except UnknownDevice as e:
            raise Refused(404, str(e)) from None
        return {"device": device, "lines": display_lines(records)}

    def history(self, request: Request) -> dict[str, Any]:
        device = _arg(request, "device")
        if not device:
            raise BadRequest("device: required")
        store = self.engine.store
        found = periods(store.audit_events(device), self.engine.server_id, store.expiries(device))
        return {
            "server_id": self.engine.server_id,
            "device": device,
            "periods": [p.to_json() for p in found],
        }

    def devices(self, request: Request) -> dict[str, Any]:
        return {"devices": self.clients.device_ids()}

    # ---------------------------------------------------------------- commands

    def _devinfo(self, device: str) -> tuple[str, str]:
        """The device's ./DevInfo/Man and Mod (what DELEGATION_REQ's deviceMan and deviceMod
        are, per the specification's table), or empty when the device is not ours to read. A
        DM-session device's are those of the last DevInfo it sent (in a session or its
        bootstrap)."""
        try:
            records = self.clients.records(device, DEVINFO_ROOT)
        except UnknownDevice:
            known = {} if self.dm is None else self.dm.devinfo(device)
            return known.get("Man", ""), known.get("Mod", "")
        values = {r.uri.name: r.value.data for r in records}
        return str(values.get("Man", "")), str(values.get("Mod", ""))

    def delegate(self, request: Request) -> dict[str, Any] | Deferred[dict[str, Any]]:
        data = _body(request)
        device = _text(data, "device")
        duration = data.get("for")
        if duration is not None and (
            isinstance(duration, bool) or not isinstance(duration, int | float) or duration <= 0
        ):
            raise BadRequest("for: a positive number of seconds")
        # The dry run's checks first, dry run or not: what it refuses is refused before a message
        # is sent or a session recorded, with the same answer (a real delegation runs only
        # those checks, not the dry run's simulation).
        method = _method(data)
        try:
            if data.get("dry_run"):
                plan = dryrun.plan(
                    self.engine,
                    self.clients,
                    device,
                    _text(data, "to"),
                    _subtree(data),
                    full=bool(data.get("full", False)),
                    method=method,
                    dm=self.dm,
                    peers=self.peers,
                )
                return {"dry_run": True, **plan.to_json()}
            dryrun.precheck(
                self.engine,
                self.clients,
                device,
                _text(data, "to"),
                _subtree(data),
                dm=self.dm,
                peers=self.peers,
            )
        except Refused as e:
            if not data.get("dry_run"):  # counted as the engine counts its own refusals
                bootstrap = method is DelegationMethod.BOOTSTRAP_SERVER_URL
                process = Process.DELEGATION_BOOTSTRAP if bootstrap else Process.DELEGATION_DMACC
                self.engine.observer.refused("operator", process.value, e.status)
            raise
        man, mod = self._devinfo(device)
        options: dict[str, Any] = {
            "full": bool(data.get("full", False)),
            "method": _method(data),
            "device_man": str(data.get("device_man", man)),
            "device_mod": str(data.get("device_mod", mod)),
        }
        if duration is not None:
            if self.expiry is None:
                raise BadRequest("for: timed delegations are not watched by this engine")
            session = self.expiry.delegate(
                device, _text(data, "to"), _subtree(data), float(duration), **options
            )
        else:
            session = self.engine.delegate(device, _text(data, "to"), _subtree(data), **options)
        return self._recorded(session)

    def request_delegation(self, request: Request) -> Deferred[dict[str, Any]]:
        data = _body(request)
        device = _text(data, "device")
        man, mod = self._devinfo(device)
        session = self.engine.request_delegation(
            device,
            _text(data, "from"),
            _subtree(data),
            full=bool(data.get("full", False)),
            method=_method(data),
            device_man=str(data.get("device_man", man)),
            device_mod=str(data.get("device_mod", mod)),
        )
        return self._recorded(session)

    def revoke(self, request: Request) -> Deferred[dict[str, Any]]:
        data = _body(request)
        mode = data.get("mode", "asked")
        if mode not in ("asked", "forced"):
            raise BadRequest("mode: asked or forced")
        session = self.engine.revoke(
            _text(data, "device"),
            _subtree(data),
            forced=mode == "forced",
            notify=bool(data.get("notify", True)),
        )
        return self._recorded(session)

    def give_back(self, request: Request) -> Deferred[dict[str, Any]]:
        data = _body(request)
        return self._recorded(self.engine.give_back(_text(data, "device"), _subtree(data)))

    def abort(self, request: Request) -> Deferred[dict[str, Any]]:
        data = _body(request)
        return self._recorded(self.engine.abort(_text(data, "session"), "operator abort"))

    def _recorded(self, session: Session) -> Deferred[dict[str, Any]]:
        """The answer to a command, once the step it started is on disk (group commit)."""
        return self.engine.durable().addCallback(lambda _: session_json(session))

    def add_device(self, request: Request) -> dict[str, Any]:
        assert request.content is not None
        raw = request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            raise BadRequest("provisioning file too large")
        try:
            provision = parse_provision(tomllib.loads(raw.decode("utf-8")))
            device = self.clients.provision(provision)
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise BadRequest(f"not a TOML provisioning file: {e}") from None
        except ProvisioningError as e:
            raise BadRequest(str(e)) from None
        except DeviceTreeError as e:
            raise Refused(409, str(e)) from None
        log.info("device {device} provisioned", device=device)
        return {"device": device}
