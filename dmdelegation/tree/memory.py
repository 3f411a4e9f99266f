"""An in-memory `TreeStorage`: a dict from URI to node, for tests and for building trees."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence

from dmdelegation.tree.acl import ACL
from dmdelegation.tree.storage import NodeRecord, StoredNode, walk
from dmdelegation.tree.uri import ROOT, URI
from dmdelegation.tree.value import Value


class MemoryTree:
    """A tree held in a dict; `atomic` keeps a copy and puts it back if the block raises."""

    def __init__(self, records: Iterable[NodeRecord] = ()) -> None:
        self._nodes: dict[URI, StoredNode] = {}
        self._children: dict[URI, set[str]] = {}
        for record in records:
            self.insert(record.uri, StoredNode(record.value, record.acl))

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        nodes = dict(self._nodes)
        children = {uri: set(names) for uri, names in self._children.items()}
        try:
            yield
        except BaseException:
            self._nodes, self._children = nodes, children
            raise

    def node(self, uri: URI) -> StoredNode | None:
        return self._nodes.get(uri)

    def lineage(self, uri: URI) -> list[StoredNode | None]:
        return [self._nodes.get(uri), *(self._nodes.get(above) for above in uri.ancestors())]

    def subtree(self, uri: URI) -> list[NodeRecord]:
        return list(walk(self, uri))

    def children(self, uri: URI) -> list[str]:
        return sorted(self._children.get(uri, ()))

    def insert(self, uri: URI, node: StoredNode) -> None:
        parent = uri.parent
        if uri in self._nodes:
            raise KeyError(f"{uri} exists")
        if parent is not None and parent not in self._nodes:
            raise KeyError(f"{parent} does not exist")
        self._nodes[uri] = node
        if parent is not None:
            self._children.setdefault(parent, set()).add(uri.name)

    def insert_all(self, nodes: Sequence[tuple[URI, StoredNode]]) -> None:
        for uri, node in nodes:
            self.insert(uri, node)

    def set_value(self, uri: URI, value: Value) -> None:
        self._nodes[uri] = StoredNode(value, self._nodes[uri].acl)

    def set_acl(self, uri: URI, acl: ACL) -> None:
        self._nodes[uri] = StoredNode(self._nodes[uri].value, acl)

    def delete_subtree(self, uri: URI) -> None:
        for record in list(walk(self, uri)):
            del self._nodes[record.uri]
            self._children.pop(record.uri, None)
        parent = uri.parent
        if parent is not None:
            self._children.get(parent, set()).discard(uri.name)

    def records(self) -> list[NodeRecord]:
        return list(walk(self, ROOT))
