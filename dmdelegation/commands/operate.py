"""The operator's commands, spoken to a running daemon through its admin API.

    dmdelegation delegate DEVICE --to SERVER_ID [--method dmacc|bootstrap-url] [--subtree URI]
                          [--full] [--for DURATION] [--dry-run] [--wait]
    dmdelegation request DEVICE --from SERVER_ID [--method ...] [--subtree URI] [--full] [--wait]
    dmdelegation revoke DEVICE [--subtree URI] --mode asked|forced [--no-notice] [--wait]
    dmdelegation give-back DEVICE [--subtree URI] [--wait]
    dmdelegation abort SESSION
    dmdelegation status [DEVICE] [--json]
    dmdelegation sessions [--device DEVICE] [--open] [--json]
    dmdelegation session SESSION [--json]
    dmdelegation device add FILE
    dmdelegation device list

The daemon is found by ``--admin ENDPOINT`` (``tcp:PORT:interface=127.0.0.1`` or
``unix:/path``), else ``--config FILE`` (its ``admin.listen``), else ``$DMDELEGATION_ADMIN``,
else ``tcp:8440:interface=127.0.0.1``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import sys
import time
from typing import Any

from dmdelegation.commands import device as lab_device
from dmdelegation.daemon.config import ConfigError, load
from dmdelegation.ops.history import when
from dmdelegation.web.admin_guard import read_token

DEFAULT_ADMIN = "tcp:8440:interface=127.0.0.1"
ADMIN_ENV = "DMDELEGATION_ADMIN"
SUCCESS = {"delegated", "revoked"}


class AdminError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def _parse_endpoint(endpoint: str) -> tuple[str, str | int]:
    kind, _, rest = endpoint.partition(":")
    if kind == "unix":
        return "unix", rest.split(":")[0]
    if kind == "tcp":
        parts = rest.split(":")
        host = "127.0.0.1"
        for part in parts[1:]:
            if part.startswith("interface="):
                host = part.split("=", 1)[1]
        return host, int(parts[0])
    raise ValueError(
        f"admin endpoint {endpoint!r}: expected tcp:PORT[:interface=HOST] or unix:PATH"
    )


class AdminClient:
    """The admin API's client: JSON bodies sent as ``application/json`` (TOML as
    ``application/toml``), the bearer token if the daemon has one (``admin.token_file``)."""

    def __init__(
        self, endpoint: str, timeout: float = 60, token: bytes | None = None, *, hint: str = ""
    ) -> None:
        self.endpoint = endpoint
        self.hint = hint  # added to "cannot reach": how the endpoint was chosen
        self.timeout = timeout
        self.token = token
        self.where = _parse_endpoint(endpoint)

    def _connection(self) -> http.client.HTTPConnection:
        host, port = self.where
        if host == "unix":
            return _UnixConnection(str(port), self.timeout)
        return http.client.HTTPConnection(host, int(port), timeout=self.timeout)

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None) -> Any:
        connection = self._connection()
        try:
            headers = {}
            if self.token is not None:
                headers["Authorization"] = f"Bearer {self.token.decode('ascii', 'replace')}"
            if raw is not None:
                payload: bytes | None = raw
                headers["Content-Type"] = "application/toml"
            elif method == "POST":
                payload = json.dumps(body or {}).encode()
                headers["Content-Type"] = "application/json"
            else:
                payload = None
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except OSError as e:
            raise AdminError(
                0, f"cannot reach the daemon at {self.endpoint}: {e}{self.hint}"
            ) from None
        finally:
            connection.close()
        try:
            decoded = json.loads(data)
        except ValueError:
            raise AdminError(response.status, data.decode("utf-8", "replace")[:200]) from None
        if response.status != 200:
            raise AdminError(response.status, decoded.get("error", str(decoded)))
        return decoded


def client_for(args: argparse.Namespace) -> AdminClient:
    endpoint = args.admin
    token = None
    if args.config is not None:
        try:
            config = load(args.config)
            if config.admin_token is not None:
                token = read_token(config.admin_token)
        except (ConfigError, OSError, ValueError) as e:
            raise AdminError(0, str(e)) from None
        endpoint = endpoint or config.admin
    if endpoint is None and os.environ.get(ADMIN_ENV) is None:
        return AdminClient(DEFAULT_ADMIN, hint="; no --config FILE or --admin ENDPOINT was given")
    return AdminClient(endpoint or os.environ.get(ADMIN_ENV) or DEFAULT_ADMIN, token=token)


def _print_session(s: dict[str, Any]) -> None:
    outcome = s["outcome"] or f"open ({s['state']})"
    print(
        f"{s['session']}  {s['role']} {s['process']:22} {s['device']} {s['subtree']}  "
        f"peer {s['peer']}  {outcome}{'  ' + s['reason'] if s['reason'] else ''}"
    )


def _follow(client: AdminClient, session_id: str, timeout: float) -> int:
    """Show each message of the process as it goes, then its outcome; 0 if it succeeded."""
    shown = 0
    deadline = time.monotonic() + timeout
    while True:
        state = client.call("GET", f"/sessions/{session_id}?after={shown}")
        for m in state["messages"]:
            arrow = "->" if m["direction"] == "out" else "<-"
            print(f"  {arrow} {m['message']}")
        shown = state["message_count"]
        if state["outcome"] is not None:
            ok = state["outcome"] in SUCCESS
            print(f"{state['process']} {state['outcome']}: {state['reason']}")
            return 0 if ok else 1
        if time.monotonic() > deadline:
            print(f"still {state['state']} after {timeout:.0f}s", file=sys.stderr)
            return 1
        client.call("GET", f"/sessions/{session_id}/wait?timeout=1")


def _started(args: argparse.Namespace, client: AdminClient, session: dict[str, Any]) -> int:
    print(f"session {session['session']} ({session['process']}, {session['role']})")
    if args.wait:
        return _follow(client, session["session"], args.timeout)
    return 0


UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``2h``, ``1d``, ``1.5h``: seconds."""
    number, unit = (text[:-1], text[-1]) if text[-1:] in UNITS else (text, "s")
    try:
        seconds = float(number) * UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected e.g. 90s, 15m, 2h, 1d") from None
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: a positive duration is required")
    return seconds


def _print_plan(plan: dict[str, Any]) -> None:
    full = " (full)" if plan["full"] else ""
    print(
        f"dry run: delegating {plan['device']} {plan['subtree']}{full} to {plan['to']} "
        f"({plan['method']}) would change, and nothing was changed:"
    )
    changes = plan["changes"]
    for uri in changes["added"]:
        print(f"  + {uri}")
    for uri in changes["removed"]:
        print(f"  - {uri}")
    for uri in changes["values"]:
        print(f"  ~ {uri} (value)")
    for acl in changes["acl"]:
        print(f"  ACL {acl['uri']}")
        print(f"      before: {acl['before'] or '(inherited)'}")
        print(f"      after:  {acl['after'] or '(inherited)'}")
    for note in plan["notes"]:
        print(f"  note: {note}")


def _delegate(args: argparse.Namespace) -> int:
    if args.json and not args.dry_run:
        # --json prints a plan; alone it would start a delegation the user did not ask for.
        print("dmdelegation delegate: --json needs --dry-run (it prints the plan)", file=sys.stderr)
        return 2
    client = client_for(args)
    body: dict[str, Any] = {
        "device": args.device,
        "to": args.to,
        "subtree": args.subtree,
        "full": args.full,
        "method": args.method,
    }
    if args.for_ is not None:
        body["for"] = args.for_
    if args.dry_run:
        body["dry_run"] = True
        plan = client.call("POST", "/delegate", body)
        if args.json:
            print(json.dumps(plan, indent=1))
        else:
            _print_plan(plan)
        return 0
    return _started(args, client, client.call("POST", "/delegate", body))


def _request(args: argparse.Namespace) -> int:
    client = client_for(args)
    body = {
        "device": args.device,
        "from": args.from_,
        "subtree": args.subtree,
        "full": args.full,
        "method": args.method,
    }
    return _started(args, client, client.call("POST", "/request", body))


def _revoke(args: argparse.Namespace) -> int:
    client = client_for(args)
    body = {
        "device": args.device,
        "subtree": args.subtree,
        "mode": args.mode,
        "notify": not args.no_notice,
    }
    return _started(args, client, client.call("POST", "/revoke", body))


def _give_back(args: argparse.Namespace) -> int:
    client = client_for(args)
    body = {"device": args.device, "subtree": args.subtree}
    return _started(args, client, client.call("POST", "/give-back", body))


def _abort(args: argparse.Namespace) -> int:
    session = client_for(args).call("POST", "/abort", {"session": args.session})
    _print_session(session)
    return 0


def _status(args: argparse.Namespace) -> int:
    query = f"?device={args.device}" if args.device else ""
    status = client_for(args).call("GET", f"/status{query}")
    if args.json:
        print(json.dumps(status, indent=1))
        return 0
    print(f"{status['server_id']}: {len(status['delegations'])} delegation(s) in force")
    for d in status["delegations"]:
        direction = "to" if d["role"] == "dms1" else "from"
        full = " (full)" if d["full"] else ""
        until = f" until {when(d['expires'])}" if d.get("expires") is not None else ""
        print(f"  {d['device']} {d['subtree']} {direction} {d['peer']}{full}{until}")
    print(f"{len(status['open_sessions'])} open session(s)")
    for s in status["open_sessions"]:
        _print_session(s)
    return 0


def _sessions(args: argparse.Namespace) -> int:
    query = []
    if args.device:
        query.append(f"device={args.device}")
    if args.open:
        query.append("open=1")
    listed = client_for(args).call("GET", "/sessions" + ("?" + "&".join(query) if query else ""))
    if args.json:
        print(json.dumps(listed, indent=1))
        return 0
    for s in listed["sessions"]:
        _print_session(s)
    return 0


def _session(args: argparse.Namespace) -> int:
    state = client_for(args).call("GET", f"/sessions/{args.session}")
    if args.json:
        print(json.dumps(state, indent=1))
        return 0
    _print_session(state)
    for m in state["messages"]:
        print(f"  {'->' if m['direction'] == 'out' else '<-'} {m['message']}")
    return 0


def _device_add(args: argparse.Namespace) -> int:
    try:
        with open(args.file, "rb") as f:
            raw = f.read()
    except OSError as e:
        print(f"{args.file}: {e.strerror}", file=sys.stderr)
        return 1
    added = client_for(args).call("POST", "/devices", raw=raw)
    print(f"device {added['device']} added")
    return 0


def _device_list(args: argparse.Namespace) -> int:
    for device in client_for(args).call("GET", "/devices")["devices"]:
        print(device)
    return 0


def _guarded(run: Any) -> Any:
    def call(args: argparse.Namespace) -> int:
        try:
            result: int = run(args)
        except AdminError as e:
            prefix = f"refused ({e.status}): " if e.status else ""
            print(f"dmdelegation {args.group}: {prefix}{e.reason}", file=sys.stderr)
            return 1
        return result

    return call


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--admin", metavar="ENDPOINT", help="the daemon's admin endpoint")
    parser.add_argument("--config", metavar="FILE", help="find the admin endpoint in FILE")


def _waiting(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", action="store_true", help="follow the process to its end")
    parser.add_argument("--timeout", type=float, default=600, help="seconds --wait waits")


def _delegation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("device", metavar="DEVICE")
    parser.add_argument("--subtree", default=".", metavar="URI", help="DMTreeURI (default .)")
    parser.add_argument("--full", action="store_true", help="full delegation")
    parser.add_argument(
        "--method",
        choices=("dmacc", "bootstrap-url"),
        default="dmacc",
        help="the DMAcc or the Bootstrap Server URL approach",
    )


def register(groups: argparse._SubParsersAction[Any]) -> None:
    p = groups.add_parser("delegate", help="DMS-1: delegate a device subtree to a server")
    _delegation_options(p)
    p.add_argument("--to", required=True, metavar="SERVER_ID")
    p.add_argument(
        "--for",
        dest="for_",
        type=duration,
        metavar="DURATION",
        help="a timed delegation: revoked at expiry (90s, 15m, 2h, 1d)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="show the changes to the device, make none"
    )
    p.add_argument(
        "--json", action="store_true", help="with --dry-run only: the plan as JSON (starts nothing)"
    )
    _waiting(p)
    _common(p)
    p.set_defaults(run=_guarded(_delegate))

    p = groups.add_parser("request", help="DMS-2: ask a server to delegate a device to us")
    _delegation_options(p)
    p.add_argument("--from", dest="from_", required=True, metavar="SERVER_ID")
    _waiting(p)
    _common(p)
    p.set_defaults(run=_guarded(_request))

    p = groups.add_parser(
        "revoke", help="DMS-1: take a delegation back (--mode asked or --mode forced)"
    )
    p.add_argument("device", metavar="DEVICE")
    p.add_argument("--subtree", default=".", metavar="URI")
    p.add_argument(
        "--mode",
        choices=("asked", "forced"),
        required=True,
        help="asked: DMS-2 stops first and confirms; forced: DMS-1 takes the subtree back at once",
    )
    p.add_argument("--no-notice", action="store_true", help="forced: do not notify DMS-2")
    _waiting(p)
    _common(p)
    p.set_defaults(run=_guarded(_revoke))

    p = groups.add_parser("give-back", help="DMS-2: ask DMS-1 to revoke (requested revocation)")
    p.add_argument("device", metavar="DEVICE")
    p.add_argument("--subtree", default=".", metavar="URI")
    _waiting(p)
    _common(p)
    p.set_defaults(run=_guarded(_give_back))

    p = groups.add_parser("abort", help="cancel a delegation in progress")
    p.add_argument("session", metavar="SESSION")
    _common(p)
    p.set_defaults(run=_guarded(_abort))

    p = groups.add_parser("status", help="delegations in force and open sessions")
    p.add_argument("device", nargs="?", metavar="DEVICE")
    p.add_argument("--json", action="store_true")
    _common(p)
    p.set_defaults(run=_guarded(_status))

    p = groups.add_parser("sessions", help="list sessions")
    p.add_argument("--device", metavar="DEVICE")
    p.add_argument("--open", action="store_true", help="only open ones")
    p.add_argument("--json", action="store_true")
    _common(p)
    p.set_defaults(run=_guarded(_sessions))

    p = groups.add_parser("session", help="one session and its messages")
    p.add_argument("session", metavar="SESSION")
    p.add_argument("--json", action="store_true")
    _common(p)
    p.set_defaults(run=_guarded(_session))

    device = groups.add_parser(
        "device", help="the daemon's embedded devices; a simulated device of its own"
    )
    commands = device.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
    p = commands.add_parser("add", help="add a device from a provisioning file")
    p.add_argument("file", metavar="FILE")
    _common(p)
    p.set_defaults(run=_guarded(_device_add))
    p = commands.add_parser("list", help="list the embedded devices")
    _common(p)
    p.set_defaults(run=_guarded(_device_list))
    lab_device.register_actions(commands)  # init, simulate, dump, show
