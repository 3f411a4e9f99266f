"""One client's tree in the embedded SQLite database: a `TreeStorage` over the ``nodes`` table.

Nodes are keyed by (device, canonical URI text) and indexed by parent, so each lookup, insert or
update costs the same whatever the size of the tree, and deleting a subtree is one statement over
the URI index (the canonical text of every node below ``./A`` starts with ``./A/``). A node and all
its ancestors (what a rights check needs) are one lookup of a handful of keys (`lineage`).

Writes inside `atomic` are made as one transaction (one savepoint inside a transaction the caller
holds, see `dmdelegation.client.unit`); a block that writes a single statement (every
DM command but a few) runs it on its own, which SQLite makes atomic by itself, so it costs one
statement instead of three. A read inside the block sees the block's writes.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from dmdelegation.tree.acl import ACL
from dmdelegation.tree.storage import NodeRecord, StoredNode
from dmdelegation.tree.uri import URI
from dmdelegation.tree.value import Data, Format, Value

SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    device INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS nodes (
    device INTEGER NOT NULL REFERENCES devices(device),
    uri TEXT NOT NULL,
    parent TEXT,
    name TEXT NOT NULL,
    format TEXT NOT NULL,
    value,
    acl TEXT NOT NULL,
    PRIMARY KEY (device, uri)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS nodes_by_parent ON nodes (device, parent, name);
"""

NODE_SQL = "SELECT format, value, acl FROM nodes WHERE device = ? AND uri = ?"
CHILDREN_SQL = "SELECT name FROM nodes WHERE device = ? AND parent = ? ORDER BY name"
INSERT_SQL = (
    "INSERT INTO nodes (device, uri, parent, name, format, value, acl) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
SET_VALUE_SQL = "UPDATE nodes SET format = ?, value = ? WHERE device = ? AND uri = ?"
SET_ACL_SQL = "UPDATE nodes SET acl = ? WHERE device = ? AND uri = ?"
SUBTREE_SQL = (
    "SELECT uri, parent, name, format, value, acl FROM nodes WHERE device = ?1 AND uri IN"
    " (SELECT ?2 UNION ALL SELECT uri FROM nodes WHERE device = ?1 AND uri >= ?3 AND uri < ?4)"
)
DELETE_SUBTREE_SQL = (
    "DELETE FROM nodes WHERE device = ?1 AND uri IN"
    " (SELECT ?2 UNION ALL SELECT uri FROM nodes WHERE device = ?1 AND uri >= ?3 AND uri < ?4)"
)


@functools.cache
def lineage_sql(count: int) -> str:
    """The lookup of ``count`` nodes by URI text (a node and its ancestors)."""
    keys = ", ".join(["?"] * count)
    return f"SELECT uri, format, value, acl FROM nodes WHERE device = ? AND uri IN ({keys})"


@functools.lru_cache(maxsize=4096)
def _acl(text: str) -> ACL:
    return ACL.parse(text)


@functools.lru_cache(maxsize=4096)
def _render(acl: ACL) -> str:
    return acl.render()


_FORMATS = {format.value: format for format in Format}
_INTERIOR = Value.interior()


def encode_data(value: Value) -> Data:
    data = value.data
    return int(data) if isinstance(data, bool) else data


def decode_value(format_text: str, raw: object) -> Value:
    format = _FORMATS.get(format_text) or Format(format_text)
    if format is Format.NODE and raw is None:
        return _INTERIOR
    if format is Format.BOOL:
        return Value(format, bool(raw))
    if format is Format.BIN and isinstance(raw, bytes | bytearray | memoryview):
        return Value(format, bytes(raw))
    return Value(format, raw)  # type: ignore[arg-type]  # checked by Value itself


def _node(row: Sequence[Any]) -> StoredNode:
    return StoredNode(decode_value(row[0], row[1]), _acl(row[2]))


def lineage_texts(uri: URI) -> list[str]:
    """The canonical texts of ``uri``, its parent, ... up to the root."""
    text = str(uri)
    texts = [text]
    for _ in range(uri.depth):
        text = text[: text.rindex("/")]
        texts.append(text)
    return texts


class WriteBlock:
    """The `SQLiteTreeStorage.atomic` block open on one connection, shared by every storage over
    it (so that blocks nest across them): the statement held back, and whether it has begun a
    transaction (or, inside a transaction of the caller's, a savepoint)."""

    def __init__(self) -> None:
        self.open = False
        self.began = False
        self.nested = False  # inside a transaction already open: a savepoint, not a transaction
        self.held: tuple[str, tuple[Any, ...]] | None = None

    def begin(self, conn: sqlite3.Connection) -> None:
        conn.execute("SAVEPOINT atomic" if self.nested else "BEGIN IMMEDIATE")
        self.began = True

    def end(self, conn: sqlite3.Connection) -> None:
        conn.execute("RELEASE atomic" if self.nested else "COMMIT")

    def undo(self, conn: sqlite3.Connection) -> None:
        if not conn.in_transaction:
            return  # SQLite rolled the whole transaction back itself (a hard error)
        if self.nested:
            conn.execute("ROLLBACK TO atomic")
            conn.execute("RELEASE atomic")
        else:
            conn.execute("ROLLBACK")


class SQLiteTreeStorage:
    """The tree of the device with row id ``device`` in ``conn``; ``block`` is the connection's
    `WriteBlock` (give every storage over one connection the same one)."""

    def __init__(
        self, conn: sqlite3.Connection, device: int, block: WriteBlock | None = None
    ) -> None:
        self._conn = conn
        self._device = device
        self._block = WriteBlock() if block is None else block

    # Writes: one transaction per atomic block, begun only when a second statement comes.

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        conn, block = self._conn, self._block
        if block.open:
            yield  # joins the block already open
            return
        # Inside a transaction of the caller's (a unit of `dmdelegation.client.unit`, a device
        # being provisioned) the block is a savepoint: still all or nothing.
        block.open, block.began, block.nested = True, False, conn.in_transaction
        try:
            yield
            held, block.held = block.held, None
            if held is not None:
                conn.execute(*held)  # the block's only statement: atomic by itself
            elif block.began:
                block.end(conn)
        except BaseException:
            block.held = None
            if block.began:
                block.undo(conn)
            raise
        finally:
            block.open = block.began = block.nested = False

    def _flush_held(self) -> None:
        """Begin the block's transaction (or savepoint) with the statement held so far."""
        block = self._block
        held, block.held = block.held, None
        if held is not None:
            block.begin(self._conn)
            self._conn.execute(*held)

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        block = self._block
        if not block.open or block.began:
            self._conn.execute(sql, params)
        elif block.held is None:
            block.held = (sql, params)
        else:
            self._flush_held()
            self._conn.execute(sql, params)

    # Reads.

    def node(self, uri: URI) -> StoredNode | None:
        self._flush_held()
        row = self._conn.execute(NODE_SQL, (self._device, str(uri))).fetchone()
        return None if row is None else _node(row)

    def lineage(self, uri: URI) -> list[StoredNode | None]:
        """The nodes at ``uri``, its parent, ... up to the root (None where there is none)."""
        self._flush_held()
        texts = lineage_texts(uri)
        rows = self._conn.execute(lineage_sql(len(texts)), (self._device, *texts)).fetchall()
        found = {row[0]: row for row in rows}
        return [None if (row := found.get(text)) is None else _node(row[1:]) for text in texts]

    def children(self, uri: URI) -> list[str]:
        self._flush_held()
        rows = self._conn.execute(CHILDREN_SQL, (self._device, str(uri)))
        return [name for (name,) in rows]

    def subtree(self, uri: URI) -> list[NodeRecord]:
        self._flush_held()
        text = str(uri)
        rows = self._conn.execute(
            SUBTREE_SQL, (self._device, text, text + "/", text + "0")
        ).fetchall()
        below: dict[str, list[tuple[str, StoredNode]]] = {}
        top: StoredNode | None = None
        for node_text, parent, name, *node in rows:
            if node_text == text:
                top = _node(node)
            else:
                below.setdefault(parent, []).append((name, _node(node)))
        if top is None:
            return []
        records: list[NodeRecord] = []
        stack = [(uri, top)]
        while stack:
            at, node = stack.pop()
            records.append(NodeRecord(at, node.value, node.acl))
            children = sorted(below.get(str(at), ()), key=lambda child: child[0], reverse=True)
            stack.extend((at.child(name), child) for name, child in children)
        return records

    def insert(self, uri: URI, node: StoredNode) -> None:
        text = str(uri)
        self._write(
            INSERT_SQL,
            (
                self._device,
                text,
                text[: text.rindex("/")] if uri.segments else None,
                uri.name,
                node.value.format.value,
                encode_data(node.value),
                node.acl.render(),
            ),
        )

    def insert_all(self, nodes: Sequence[tuple[URI, StoredNode]]) -> None:
        if len(nodes) < 2:
            for uri, node in nodes:
                self.insert(uri, node)
            return
        block = self._block
        if not block.open:
            with self.atomic():  # one executemany is several statements: one transaction
                self.insert_all(nodes)
            return
        self._flush_held()
        if not block.began:
            block.begin(self._conn)
        device, rows = self._device, []
        for uri, node in nodes:
            text = str(uri)
            value = node.value
            rows.append(
                (
                    device,
                    text,
                    text[: text.rindex("/")] if uri.segments else None,
                    uri.name,
                    value.format.value,
                    encode_data(value),
                    _render(node.acl),
                )
            )
        self._conn.executemany(INSERT_SQL, rows)

    def set_value(self, uri: URI, value: Value) -> None:
        self._write(SET_VALUE_SQL, (value.format.value, encode_data(value), self._device, str(uri)))

    def set_acl(self, uri: URI, acl: ACL) -> None:
        self._write(SET_ACL_SQL, (acl.render(), self._device, str(uri)))

    def delete_subtree(self, uri: URI) -> None:
        text = str(uri)
        self._write(DELETE_SUBTREE_SQL, (self._device, text, text + "/", text + "0"))
