"""Access Control Lists as the DM Tree and Description specification writes them.

Grammar (no white space anywhere)::

    acl      = "" | entry *( "&" entry )
    entry    = command "=" server *( "+" server )
    command  = "Add" | "Delete" | "Exec" | "Get" | "Replace"
    server   = "*" | 1*( any character but white space, control, "&", "+", "=", "*" )

A command appears at most once and a server at most once per command. ``*`` grants the command to
every server. An empty ACL grants nothing by itself: the tree makes a node with an empty ACL inherit
the whole ACL of its nearest ancestor that has one (see `dmdelegation.tree.rights`).
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable, Mapping

from attrs import frozen

WILDCARD = "*"
_SEPARATORS = frozenset("&+=")
_WHITE_SPACE = re.compile(r"\s")


class Command(enum.StrEnum):
    ADD = "Add"
    DELETE = "Delete"
    EXEC = "Exec"
    GET = "Get"
    REPLACE = "Replace"


ALL_COMMANDS: tuple[Command, ...] = tuple(Command)


class ACLError(ValueError):
    """A malformed ACL; ``reason`` names the fault."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"malformed ACL: {reason}")
        self.reason = reason


@functools.lru_cache(maxsize=4096)
def _check_server(server: str) -> None:
    """Raise `ACLError` unless ``server`` is a valid server identifier (valid ones are cached: a
    tree names the same few servers over and over)."""
    if server == "":
        raise ACLError("empty server identifier")
    if server == WILDCARD:
        return
    for char in server:
        if char.isspace():
            raise ACLError(f"white space in server identifier {server!r}")
        if ord(char) < 0x20 or ord(char) == 0x7F:
            raise ACLError(f"control character in server identifier {server!r}")
        if char in _SEPARATORS:
            raise ACLError(f"{char!r} misused in server identifier {server!r}")
        if char == WILDCARD:
            raise ACLError(f"'*' must stand alone, not inside {server!r}")


def _check_entries(entries: tuple[tuple[Command, tuple[str, ...]], ...]) -> None:
    seen: set[Command] = set()
    for command, servers in entries:
        if not isinstance(command, Command):
            raise ACLError(f"unknown command {command!r}")
        if command in seen:
            raise ACLError(f"command {command.value} appears twice")
        seen.add(command)
        if not servers:
            raise ACLError(f"command {command.value} has no server")
        for server in servers:
            _check_server(server)
        if len(set(servers)) != len(servers):
            raise ACLError(f"a server appears twice for {command.value}")


def _parse_command(text: str) -> Command:
    if text == "":
        raise ACLError("empty command name")
    try:
        return Command(text)
    except ValueError:
        raise ACLError(f"unknown command {text!r}") from None


@frozen
class ACL:
    """An ACL: commands in the order written, each with its servers in the order written."""

    entries: tuple[tuple[Command, tuple[str, ...]], ...] = ()

    def __attrs_post_init__(self) -> None:
        _check_entries(self.entries)

    @classmethod
    def parse(cls, text: str) -> ACL:
        """The ACL that ``text`` writes; `ACLError` names the fault when it is malformed.

        ACLs are immutable and a tree holds the same few texts over and over, so the ACLs of
        valid texts are cached (a malformed text raises each time)."""
        return _parse(text)

    @classmethod
    def of(cls, grants: Mapping[Command | str, Iterable[str]]) -> ACL:
        """An ACL from ``{command: servers}``, in the mapping's order."""
        return cls(tuple((_parse_command(str(c)), tuple(servers)) for c, servers in grants.items()))

    def render(self) -> str:
        # A Command is a StrEnum: formatted, it is its value (without the slow ``.value``).
        return "&".join(f"{command}={'+'.join(servers)}" for command, servers in self.entries)

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"ACL({self.render()!r})"

    @property
    def is_empty(self) -> bool:
        return not self.entries

    def servers(self, command: Command | str) -> tuple[str, ...]:
        wanted = command if isinstance(command, Command) else _parse_command(str(command))
        for entry_command, servers in self.entries:
            if entry_command is wanted:
                return servers
        return ()

    def allows(self, command: Command | str, server_id: str) -> bool:
        """True when this ACL itself grants ``command`` to ``server_id`` (explicitly or by ``*``).

        An empty ACL grants nothing; inheritance is the tree's business.
        """
        servers = self.servers(command)
        return server_id in servers or WILDCARD in servers

    def mentions(self, server_id: str) -> bool:
        return any(server_id in servers for _, servers in self.entries)

    def granting(self, server_id: str, commands: Iterable[Command]) -> ACL:
        """This ACL with ``server_id`` added to each of ``commands`` it does not already reach."""
        _check_server(server_id)
        wanted = list(dict.fromkeys(commands))
        entries: list[tuple[Command, tuple[str, ...]]] = []
        for command, servers in self.entries:
            if command in wanted and server_id not in servers and WILDCARD not in servers:
                servers = (*servers, server_id)
            entries.append((command, servers))
        present = {command for command, _ in self.entries}
        entries.extend((command, (server_id,)) for command in wanted if command not in present)
        return ACL(tuple(entries))

    def without(self, server_id: str) -> ACL:
        """This ACL with every explicit mention of ``server_id`` removed.

        A command left with no server disappears; ``*`` is not a mention and stays.
        """
        entries: list[tuple[Command, tuple[str, ...]]] = []
        for command, servers in self.entries:
            kept = tuple(server for server in servers if server != server_id)
            if kept:
                entries.append((command, kept))
        return ACL(tuple(entries))


EMPTY = ACL()


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> ACL:
    if text == "":
        return EMPTY
    space = _WHITE_SPACE.search(text)  # the characters str.isspace names
    if space is not None:
        raise ACLError(f"white space at offset {space.start()}")
    entries: list[tuple[Command, tuple[str, ...]]] = []
    for entry in text.split("&"):
        if entry == "":
            raise ACLError("empty entry ('&' misused)")
        if "=" not in entry:
            raise ACLError(f"entry {entry!r} has no '='")
        command_text, _, servers_text = entry.partition("=")
        command = _parse_command(command_text)
        if "=" in servers_text:
            raise ACLError(f"'=' misused in entry {entry!r}")
        if servers_text == "":
            raise ACLError(f"command {command.value} has no server")
        servers = tuple(servers_text.split("+"))
        if "" in servers:
            raise ACLError(f"empty server identifier in entry {entry!r} ('+' misused)")
        entries.append((command, servers))
    return ACL(tuple(entries))
