"""What an operator reads about past and running processes, from a running daemon.

dmdelegation history DEVICE [--json]          who held authority over which subtree, when
dmdelegation trace SESSION [--svg FILE] [--json]   the process's messages as a diagram
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from urllib.parse import quote

from dmdelegation.commands.operate import _common, _guarded, client_for
from dmdelegation.ops import trace
from dmdelegation.ops.history import history_lines


def _history(args: argparse.Namespace) -> int:
    found = client_for(args).call("GET", f"/history?device={quote(args.device, safe='')}")
    if args.json:
        print(json.dumps(found, indent=1))
        return 0
    print(f"{found['device']} on {found['server_id']}:")
    for line in history_lines(found["periods"]):
        print(f"  {line}")
    return 0


def _failure(found: dict[str, Any]) -> str:
    """Why the process failed, drawn under its messages; empty if it succeeded or runs."""
    outcome = found["outcome"]
    if outcome is None or outcome in ("delegated", "revoked") or not found["reason"]:
        return ""
    return f"{outcome}: {found['reason']}"


def _trace(args: argparse.Namespace) -> int:
    found = client_for(args).call("GET", f"/sessions/{quote(args.session, safe='')}/trace")
    if args.json:
        print(json.dumps(found, indent=1))
        return 0
    outcome = found["outcome"] or f"open ({found['state']})"
    title = (
        f"session {found['session']}: {found['role']} {found['process']} {found['device']} "
        f"{found['subtree']}: {outcome}"
    )
    us, peer, messages = found["server_id"], found["peer"], found["messages"]
    if args.svg:
        try:
            with open(args.svg, "w", encoding="utf-8") as f:
                f.write(trace.svg(us, peer, messages, title, _failure(found)))
        except OSError as e:
            print(f"{args.svg}: {e.strerror}", file=sys.stderr)
            return 1
        commands = sum(1 for m in messages if m["direction"] == trace.TO_DEVICE)
        print(f"{args.svg}: {len(messages) - commands} message(s), {commands} device command(s)")
        return 0
    sys.stdout.write(trace.text(us, peer, messages, title))
    return 0


def register(groups: argparse._SubParsersAction[Any]) -> None:
    p = groups.add_parser("history", help="the audit trail of a device: periods of authority")
    p.add_argument("device", metavar="DEVICE")
    p.add_argument("--json", action="store_true")
    _common(p)
    p.set_defaults(run=_guarded(_history))

    p = groups.add_parser("trace", help="one process's messages as a sequence diagram")
    p.add_argument("session", metavar="SESSION")
    p.add_argument("--svg", metavar="FILE", help="write an SVG picture to FILE")
    p.add_argument("--json", action="store_true")
    _common(p)
    p.set_defaults(run=_guarded(_trace))
