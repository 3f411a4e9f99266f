"""Sub-command groups of the ``dmdelegation`` command.

Each module exposes ``register(subparsers)``, which adds its group and sets ``run`` (a function of
the parsed arguments returning an exit status) on every leaf parser.
"""

from __future__ import annotations

import argparse
from typing import Any, Protocol

from dmdelegation.commands import dm, message, observe, operate, pki, tree


class CommandGroup(Protocol):
    def register(self, groups: argparse._SubParsersAction[Any]) -> None: ...


COMMAND_GROUPS: list[CommandGroup] = [operate, observe, message, tree, dm, pki]
