"""The embedded default DM Clients: a persistent store of managed client trees (one SQLite file).

The daemon uses it when no host DM server plugs in its own clients: each device is a tree that
`session` opens to one ServerID as an `IDMClientSession`, with the device's own rights rules.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from zope.interface import implementer

from dmdelegation.client.database import (
    DEFAULT_DURABILITY,
    Durability,
    close_database,
    database_of,
    open_database,
    transaction,
)
from dmdelegation.client.interfaces import ITransactionalSession
from dmdelegation.client.provisioning import DeviceProvision
from dmdelegation.client.session import TreeClientSession
from dmdelegation.client.sqlite_tree import SCHEMA, SQLiteTreeStorage, WriteBlock
from dmdelegation.tree.storage import NodeRecord, StoredNode
from dmdelegation.tree.uri import ROOT, URI

DEFAULT_STORE = "dmdelegation-clients.sqlite3"
STORE_ENV = "DMDELEGATION_CLIENT_STORE"
DEVICE_IDS_KEPT = 100_000  # device row ids remembered (about 10 MB at most)


class UnknownDevice(LookupError):
    def __init__(self, device_id: str) -> None:
        super().__init__(f"no managed client with DevId {device_id!r}")
        self.device_id = device_id


class DeviceTreeError(ValueError):
    """A tree that cannot become a device: the message names the fault, never a value."""


def default_store_path() -> str:
    """``$DMDELEGATION_CLIENT_STORE``, else ``dmdelegation-clients.sqlite3`` in the working dir."""
    return os.environ.get(STORE_ENV) or DEFAULT_STORE


def _check_records(records: list[NodeRecord]) -> None:
    if not records or not records[0].uri.is_root:
        raise DeviceTreeError("a device tree starts with its root '.'")
    if not records[0].value.is_interior:
        raise DeviceTreeError("the root is an interior node")
    if records[0].acl.is_empty:
        raise DeviceTreeError("the root ACL is never empty")
    interior: set[URI] = set()
    seen: set[URI] = set()
    for record in records:
        if record.uri in seen:
            raise DeviceTreeError(f"node {record.uri} appears twice")
        seen.add(record.uri)
        parent = record.uri.parent
        if parent is not None and parent not in interior:
            raise DeviceTreeError(f"the parent of {record.uri} is not an interior node before it")
        if record.value.is_interior:
            interior.add(record.uri)


class ClientTreeStore:
    """Managed client trees in the SQLite file at ``path`` (created if missing, WAL mode).

    ``durability``: ``"normal"`` (commits survive the death of the process) or ``"full"`` (they
    also survive a power cut); see `dmdelegation.client.database`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        read_only: bool = False,
        durability: Durability = DEFAULT_DURABILITY,
    ) -> None:
        self.path = os.fspath(path)
        self.durability = durability
        self.read_only = read_only
        self._conn = open_database(self.path, read_only=read_only, durability=durability)
        self.database = database_of(self.path)
        self._block = WriteBlock()
        self._devices: dict[str, int] = {}
        if not read_only:
            self._conn.executescript(SCHEMA)

    def close(self) -> None:
        if self.read_only:
            self._conn.close()
        else:
            close_database(self._conn, self.path)

    def device_ids(self) -> list[str]:
        return [d for (d,) in self._conn.execute("SELECT device_id FROM devices ORDER BY 1")]

    def _device(self, device_id: str) -> int:
        """The row id of ``device_id``'s tree; kept once known (a device's trees are never
        deleted, so the id of a device never changes)."""
        known = self._devices.get(device_id)
        if known is not None:
            return known
        row = self._conn.execute(
            "SELECT device FROM devices WHERE device_id = ?", (device_id,)
        ).fetchone()
        if row is None:
            raise UnknownDevice(device_id)
        device: int = row[0]
        if len(self._devices) >= DEVICE_IDS_KEPT:
            self._devices.clear()
        self._devices[device_id] = device
        return device

    def storage(self, device_id: str) -> SQLiteTreeStorage:
        """The raw tree of ``device_id``: no rights are checked through it."""
        return SQLiteTreeStorage(self._conn, self._device(device_id), self._block)

    def session(self, device_id: str, server_id: str) -> StoreClientSession:
        """``device_id`` as the DM Client that ``server_id`` manages, with the device's rules."""
        return StoreClientSession(self, device_id, server_id)

    def add_device(self, device_id: str, records: Iterable[NodeRecord]) -> None:
        """Create the tree of a new device from its nodes, parents first, all or nothing."""
        nodes = list(records)
        _check_records(nodes)
        with transaction(self._conn):
            if self._conn.execute(
                "SELECT 1 FROM devices WHERE device_id = ?", (device_id,)
            ).fetchone():
                raise DeviceTreeError(f"a managed client with DevId {device_id!r} exists already")
            cursor = self._conn.execute("INSERT INTO devices (device_id) VALUES (?)", (device_id,))
            assert cursor.lastrowid is not None
            storage = SQLiteTreeStorage(self._conn, cursor.lastrowid, self._block)
            for record in nodes:
                storage.insert(record.uri, StoredNode(record.value, record.acl))

    def provision(self, provision: DeviceProvision) -> str:
        """Create the device a provisioning file describes; returns its DevId."""
        device_id = provision.devinfo.dev_id
        self.add_device(device_id, provision.records())
        return device_id

    def records(self, device_id: str, top: URI = ROOT) -> list[NodeRecord]:
        """Every node at or below ``top`` (none if it does not exist), parents first, siblings by
        name (as `walk` gives them; one indexed query)."""
        return self.storage(device_id).subtree(top)


@implementer(ITransactionalSession)
class StoreClientSession(TreeClientSession):
    """A session on a device of the embedded store; its commands can be held in one transaction
    of the store's connection (each command a savepoint in it)."""

    def __init__(self, store: ClientTreeStore, device_id: str, server_id: str) -> None:
        super().__init__(store.storage(device_id), device_id, server_id)
        self._conn = store._conn
        self.database = store.database

    def begin(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self._conn.execute("COMMIT")

    def rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
