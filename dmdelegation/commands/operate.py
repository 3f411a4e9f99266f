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
import json
import sys
import time
from typing import Any

from dmdelegation.commands import device as lab_device
from dmdelegation.commands.admin_client import (
    ADMIN_ENV,
    DEFAULT_ADMIN,
    AdminClient,
    AdminError,
    client_for,
)
from dmdelegation.commands.printing import print_plan, print_session
from dmdelegation.ops.history import when

SUCCESS = {"delegated", "revoked"}

# The admin client has a module of its own (commands.admin_client); imported from here as before.
__all__ = [
    "ADMIN_ENV",
    "DEFAULT_ADMIN",
    "SUCCESS",
    "UNITS",
    "AdminClient",
    "AdminError",
    "client_for",
    "duration",
    "register",
]


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
            print_plan(plan)
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
    print_session(session)
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
        print_session(s)
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
        print_session(s)
    return 0


def _session(args: argparse.Namespace) -> int:
    state = client_for(args).call("GET", f"/sessions/{args.session}")
    if args.json:
        print(json.dumps(state, indent=1))
        return 0
    print_session(state)
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
