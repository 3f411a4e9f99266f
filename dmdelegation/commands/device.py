"""``dmdelegation device``: a simulated DM Client of the project's own, a process of its own with
its own persistent tree (see docs/dm-sessions.md, "The simulated device").

    dmdelegation device init --state DIR DEVICE.toml       # a new device from a provisioning file
    dmdelegation device simulate --state DIR [--notify ENDPOINT] [--every SECONDS]
                                 [--codec xml|wbxml] [--no-atomic]   # runs until SIGTERM/SIGINT
    dmdelegation device dump --state DIR [URI]             # the stored tree, canonical
    dmdelegation device show --state DIR [URI]             # the stored tree, readable

``dump`` and ``show`` never change the state; secrets are never printed (``dump`` prints their
SHA-256, ``show`` a mask).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dmdelegation.client.provisioning import ProvisioningError, load_provision
from dmdelegation.lab.device.dump import dump_lines, show_lines
from dmdelegation.lab.device.state import DeviceState, StateError
from dmdelegation.tree.uri import ROOT, URI, URIError


def _fail(command: str, reason: str) -> int:
    print(f"dmdelegation device {command}: {reason}", file=sys.stderr)
    return 1


def init(args: argparse.Namespace) -> int:
    try:
        provision = load_provision(args.file)
        state = DeviceState.create(Path(args.state), provision)
    except (ProvisioningError, StateError) as e:
        return _fail("init", str(e))
    state.close()
    print(f"device {provision.devinfo.dev_id} in {args.state}")
    return 0


def _print(command: str, args: argparse.Namespace, lines: Any) -> int:
    try:
        uri = URI.parse(args.uri) if args.uri else ROOT
    except URIError as e:
        return _fail(command, f"{args.uri!r}: {e}")
    try:
        state = DeviceState.open(Path(args.state), read_only=True)
    except StateError as e:
        return _fail(command, str(e))
    try:
        records = state.records(uri)
    finally:
        state.close()
    if not records:
        return _fail(command, f"no node {uri}")
    for line in lines(records):
        print(line)
    return 0


def dump(args: argparse.Namespace) -> int:
    return _print("dump", args, dump_lines)


def show(args: argparse.Namespace) -> int:
    return _print("show", args, show_lines)


def simulate(args: argparse.Namespace) -> int:
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        textFileLogObserver,
    )

    from dmdelegation.lab.device.process import SimulateOptions, simulate

    if args.every < 0:
        return _fail("simulate", "--every: must not be negative")
    if args.notify is not None:
        from twisted.internet.endpoints import serverFromString

        try:
            serverFromString(reactor, args.notify)
        except ValueError as e:
            return _fail("simulate", f"--notify {args.notify!r}: {e}")
    try:
        DeviceState.open(Path(args.state), read_only=True).close()
    except StateError as e:
        return _fail("simulate", str(e))
    options = SimulateOptions(
        state=Path(args.state),
        notify=args.notify,
        every=args.every,
        codec=args.codec,
        atomic=args.atomic,
    )
    quiet = LogLevelFilterPredicate()
    quiet.setLogLevelForNamespace("twisted.web.client", LogLevel.warn)  # a line per connection
    observer = FilteringLogObserver(textFileLogObserver(sys.stdout), [quiet])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    failed: list[str] = []

    def start() -> None:
        def fault(failure: Any) -> None:
            failed.append(failure.getErrorMessage() or failure.type.__name__)
            reactor.stop()

        Deferred.fromCoroutine(simulate(reactor, options)).addErrback(fault)

    reactor.callWhenRunning(start)
    reactor.run()
    if failed:
        return _fail("simulate", failed[0])
    return 0


def register_actions(actions: argparse._SubParsersAction[Any]) -> None:
    """Add init, simulate, dump and show to the ``device`` group (whose add and list are the
    daemon's, in `dmdelegation.commands.operate`)."""
    state_help = "the device's state directory"

    init_parser = actions.add_parser("init", help="create a device from a provisioning file")
    init_parser.add_argument("--state", metavar="DIR", required=True, help=state_help)
    init_parser.add_argument("file", metavar="DEVICE.toml")
    init_parser.set_defaults(run=init)

    sim = actions.add_parser("simulate", help="run the device until SIGTERM or SIGINT")
    sim.add_argument("--state", metavar="DIR", required=True, help=state_help)
    sim.add_argument(
        "--notify", metavar="ENDPOINT", help="serve POST /notify (package #0) on this endpoint"
    )
    sim.add_argument(
        "--every",
        metavar="SECONDS",
        type=float,
        default=30.0,
        help="a session with each server this often (default 30; 0: only when asked)",
    )
    sim.add_argument("--codec", choices=("xml", "wbxml"), default="xml")
    sim.add_argument("--no-atomic", dest="atomic", action="store_false", help="refuse Atomic (406)")
    sim.set_defaults(run=simulate)

    for name, run, text in (
        ("dump", dump, "print the stored tree canonically (secrets as SHA-256)"),
        ("show", show, "print the stored tree readably (secrets masked)"),
    ):
        sub = actions.add_parser(name, help=text)
        sub.add_argument("--state", metavar="DIR", required=True, help=state_help)
        sub.add_argument("uri", metavar="URI", nargs="?", default=None, help="default: .")
        sub.set_defaults(run=run)
