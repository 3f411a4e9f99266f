"""Management objects as relative subtrees: what the builders make and the readers read.

A subtree is a mapping from a path relative to its top node (``()`` is the top itself) to the node's
`Value`. Builders return it in insertion order: every interior node before its children.
"""

from __future__ import annotations

from collections.abc import Mapping

from dmdelegation.tree.value import Format, Value

RelativePath = tuple[str, ...]
Subtree = Mapping[RelativePath, Value]


class ManagementObjectError(ValueError):
    """A subtree that is not a valid instance of a management object; names the node, never data."""


def instance_order(name: str) -> tuple[int, int, str]:
    """Sort key for ``<X>`` instance names: numbers by value first, then other names."""
    return (0, int(name), name) if name.isdecimal() else (1, 0, name)


def instances(nodes: Subtree, path: RelativePath) -> list[str]:
    """The names of the children of ``path`` in ``nodes``, in instance order."""
    depth = len(path)
    names = {p[depth] for p in nodes if len(p) == depth + 1 and p[:depth] == path}
    return sorted(names, key=instance_order)


def _where(path: RelativePath) -> str:
    return "/".join(path) or "(top)"


def require(nodes: Subtree, path: RelativePath, format: Format) -> Value:
    value = nodes.get(path)
    if value is None:
        raise ManagementObjectError(f"missing node {_where(path)}")
    if value.format is not format:
        raise ManagementObjectError(
            f"node {_where(path)} is {value.format.value}, not {format.value}"
        )
    return value


def optional(nodes: Subtree, path: RelativePath, format: Format) -> Value | None:
    return require(nodes, path, format) if path in nodes else None


def require_text(nodes: Subtree, path: RelativePath) -> str:
    return require(nodes, path, Format.CHR).as_text()


def optional_text(nodes: Subtree, path: RelativePath) -> str | None:
    value = optional(nodes, path, Format.CHR)
    return None if value is None else value.as_text()
