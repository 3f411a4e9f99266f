"""``dmdelegation dm``: one DM command on a managed device, as the daemon's own server.

    dmdelegation dm get DEVICE URI [--timeout S]
    dmdelegation dm add DEVICE URI [VALUE] [--timeout S]       # no VALUE: an interior node
    dmdelegation dm replace DEVICE URI VALUE [--timeout S]
    dmdelegation dm delete DEVICE URI [--timeout S]

The daemon sends it in the device's next DM session (or applies it to its embedded store) as its
own ServerID, so the device's ACLs decide: as DMS-2, inside a delegated subtree it is carried
out, outside it the device answers 425. Prints the device's status (and what a Get read); exit 0
when the status is 2xx, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dmdelegation.commands.operate import AdminError, client_for


def _run(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "device": args.device,
        "command": args.command,
        "uri": args.uri,
        "timeout": args.timeout,
    }
    if getattr(args, "value", None) is not None:
        body["value"] = args.value
    try:
        client = client_for(args)
        client.timeout = args.timeout + 10
        answer = client.call("POST", "/dm", body)
    except AdminError as e:
        prefix = f"refused ({e.status}): " if e.status else ""
        print(f"dmdelegation dm {args.command}: {prefix}{e.reason}", file=sys.stderr)
        return 1
    status = answer["status"]
    print(f"{args.command} {args.uri} on {args.device}: {status}")
    if "value" in answer:
        print(answer["value"])
    for child in answer.get("children", ()):
        print(child)
    return 0 if 200 <= status < 300 else 1


def register(groups: argparse._SubParsersAction[Any]) -> None:
    group = groups.add_parser("dm", help="one DM command on a device, as this server")
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, summary in (
        ("get", "read a node (a leaf's value, an interior node's children)"),
        ("add", "add a leaf (VALUE) or an interior node (no VALUE)"),
        ("replace", "replace a leaf's value"),
        ("delete", "delete a node and everything below it"),
    ):
        p = commands.add_parser(name, help=summary)
        p.add_argument("device", metavar="DEVICE")
        p.add_argument("uri", metavar="URI")
        if name == "add":
            p.add_argument("value", nargs="?", metavar="VALUE")
        elif name == "replace":
            p.add_argument("value", metavar="VALUE")
        p.add_argument(
            "--timeout", type=float, default=60, help="seconds to wait for the device's answer"
        )
        p.add_argument("--admin", metavar="ENDPOINT", help="the daemon's admin endpoint")
        p.add_argument("--config", metavar="FILE", help="find the admin endpoint in FILE")
        p.set_defaults(run=_run)
