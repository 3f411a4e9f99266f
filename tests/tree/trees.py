"""Small trees for the rights and command tests, written as {URI text: ACL text} with leaves
marked by a value."""

from __future__ import annotations

from dmdelegation.tree import ACL, URI, NodeRecord, Value
from dmdelegation.tree.memory import MemoryTree


def tree(nodes: dict[str, tuple[str, Value | None]]) -> MemoryTree:
    """``{"./A": ("Get=*", None)}``: an interior node (None) or a leaf (its value), with its ACL."""
    records = [
        NodeRecord(URI.parse(uri), Value.interior() if value is None else value, ACL.parse(acl))
        for uri, (acl, value) in nodes.items()
    ]
    return MemoryTree(sorted(records, key=lambda r: r.uri.depth))


LEAF = Value.text("v")
