"""``dmdelegation pki init DIR --server-id ID...``: a development CA and one certificate per
DM ServerID (ECDSA P-256), for tests, the demo and trials. Keys are written mode 0600."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dmdelegation.lab import pki


def _init(args: argparse.Namespace) -> int:
    written = pki.init(Path(args.directory), args.server_id)
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0


def register(groups: argparse._SubParsersAction[Any]) -> None:
    parser = groups.add_parser("pki", help="development certificates")
    commands = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
    init = commands.add_parser("init", help="a CA and one certificate per ServerID")
    init.add_argument("directory", metavar="DIR")
    init.add_argument(
        "--server-id", action="append", required=True, metavar="ID", help="repeat for each"
    )
    init.set_defaults(run=_init)
