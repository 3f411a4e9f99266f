"""The ``dmdelegation`` command: one sub-command group per module in ``dmdelegation.commands``."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from importlib import metadata

from dmdelegation.commands import COMMAND_GROUPS


def _version() -> str:
    try:
        return metadata.version("dmdelegation")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a bare checkout
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dmdelegation",
        description="OMA DM Server Delegation Protocol 1.3: operator commands.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    for group in COMMAND_GROUPS:
        group.register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the process exit status (0 success, 1 failure, 2 usage)."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `dmdelegation ... | head` ends quietly
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
