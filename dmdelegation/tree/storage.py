"""What the DM command rules need from a place that holds one client's tree.

`TreeStorage` is deliberately dumb: it stores and finds nodes by URI and never checks a right or a
rule. `dmdelegation.tree.commands` holds the rules; `dmdelegation.tree.memory` and the embedded
SQLite store (`dmdelegation.client.store`) hold trees. Every method is a lookup by URI (or by parent
URI, or of a node and its ancestors), so the cost of one command does not depend on the size of the
tree.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from attrs import frozen

from dmdelegation.tree.acl import ACL, EMPTY
from dmdelegation.tree.uri import URI
from dmdelegation.tree.value import Value


@frozen
class StoredNode:
    """A node's value (or ``node`` format) and its own ACL (empty: inherited)."""

    value: Value
    acl: ACL = EMPTY


@frozen
class NodeRecord:
    """One node of a tree with its URI: the unit of snapshots, before-images and provisioning."""

    uri: URI
    value: Value
    acl: ACL = EMPTY


class TreeReader(Protocol):
    def node(self, uri: URI) -> StoredNode | None: ...

    def children(self, uri: URI) -> list[str]:
        """The names of the children of ``uri``, sorted; empty for a leaf or a missing node."""
        ...


class TreeStorage(TreeReader, Protocol):
    def lineage(self, uri: URI) -> list[StoredNode | None]:
        """The nodes at ``uri``, its parent, ... up to the root, None where there is none: what
        the rights on ``uri`` and on its parent depend on, in one lookup."""
        ...

    def subtree(self, uri: URI) -> list[NodeRecord]:
        """Every node at or below ``uri`` (none if it does not exist), parents before children,
        siblings by name: what `walk` gives, in one lookup where the storage can."""
        ...

    def atomic(self) -> AbstractContextManager[None]:
        """A context in which the changes made are kept all together or not at all."""
        ...

    def insert(self, uri: URI, node: StoredNode) -> None: ...

    def insert_all(self, nodes: Sequence[tuple[URI, StoredNode]]) -> None:
        """`insert` each of ``nodes`` in order (parents before children), in one go where the
        storage can."""
        ...

    def set_value(self, uri: URI, value: Value) -> None: ...

    def set_acl(self, uri: URI, acl: ACL) -> None: ...

    def delete_subtree(self, uri: URI) -> None: ...


def walk(tree: TreeReader, top: URI) -> Iterator[NodeRecord]:
    """Every node at or below ``top``, parents before children, siblings by name."""
    stack = [top]
    while stack:
        uri = stack.pop()
        node = tree.node(uri)
        if node is None:
            continue
        yield NodeRecord(uri, node.value, node.acl)
        stack.extend(uri.child(name) for name in reversed(tree.children(uri)))
