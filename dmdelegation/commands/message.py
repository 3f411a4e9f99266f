"""``dmdelegation message``: validate message files, print examples."""

from __future__ import annotations

import argparse
from typing import Any


def register(groups: argparse._SubParsersAction[Any]) -> None:
    parser = groups.add_parser("message", help="delegation protocol messages")
    parser.set_defaults(run=lambda args: (parser.print_help(), 2)[1])
