"""One client's tree in the embedded SQLite database: a `TreeStorage` over the ``nodes`` table.

Nodes are keyed by (device, canonical URI text) and indexed by parent, so each lookup, insert or
update costs the same whatever the size of the tree, and deleting a subtree is one range delete
over the URI index (the canonical text of every node below ``./A`` starts with ``./A/``).
"""

from __future__ import annotations

import functools
import sqlite3
from contextlib import AbstractContextManager

from dmdelegation.client.database import transaction
from dmdelegation.tree.acl import ACL
from dmdelegation.tree.storage import StoredNode
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


@functools.lru_cache(maxsize=4096)
def _acl(text: str) -> ACL:
    return ACL.parse(text)


def encode_data(value: Value) -> Data:
    data = value.data
    return int(data) if isinstance(data, bool) else data


def decode_value(format_text: str, raw: object) -> Value:
    format = Format(format_text)
    if format is Format.BOOL:
        return Value(format, bool(raw))
    if format is Format.BIN and isinstance(raw, bytes | bytearray | memoryview):
        return Value(format, bytes(raw))
    return Value(format, raw)  # type: ignore[arg-type]  # checked by Value itself


class SQLiteTreeStorage:
    """The tree of the device with row id ``device`` in ``conn``."""

    def __init__(self, conn: sqlite3.Connection, device: int) -> None:
        self._conn = conn
        self._device = device

    def atomic(self) -> AbstractContextManager[None]:
        return transaction(self._conn)

    def node(self, uri: URI) -> StoredNode | None:
        row = self._conn.execute(
            "SELECT format, value, acl FROM nodes WHERE device = ? AND uri = ?",
            (self._device, str(uri)),
        ).fetchone()
        if row is None:
            return None
        return StoredNode(decode_value(row[0], row[1]), _acl(row[2]))

    def children(self, uri: URI) -> list[str]:
        rows = self._conn.execute(
            "SELECT name FROM nodes WHERE device = ? AND parent = ? ORDER BY name",
            (self._device, str(uri)),
        )
        return [name for (name,) in rows]

    def insert(self, uri: URI, node: StoredNode) -> None:
        parent = uri.parent
        self._conn.execute(
            "INSERT INTO nodes (device, uri, parent, name, format, value, acl)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                self._device,
                str(uri),
                None if parent is None else str(parent),
                uri.name,
                node.value.format.value,
                encode_data(node.value),
                node.acl.render(),
            ),
        )

    def set_value(self, uri: URI, value: Value) -> None:
        self._conn.execute(
            "UPDATE nodes SET format = ?, value = ? WHERE device = ? AND uri = ?",
            (value.format.value, encode_data(value), self._device, str(uri)),
        )

    def set_acl(self, uri: URI, acl: ACL) -> None:
        self._conn.execute(
            "UPDATE nodes SET acl = ? WHERE device = ? AND uri = ?",
            (acl.render(), self._device, str(uri)),
        )

    def delete_subtree(self, uri: URI) -> None:
        text = str(uri)
        with transaction(self._conn):
            self._conn.execute(
                "DELETE FROM nodes WHERE device = ? AND uri >= ? AND uri < ?",
                (self._device, text + "/", text + "0"),
            )
            self._conn.execute(
                "DELETE FROM nodes WHERE device = ? AND uri = ?", (self._device, text)
            )
