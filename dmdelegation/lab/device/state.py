"""The simulated device's state directory: one SQLite file holding its DM tree (the ``nodes``
table of `dmdelegation.client.sqlite_tree`), the nonces of each account (``nonces``, outside the
tree, as on many devices) and the Bootstrap Server URLs it has bootstrapped from
(``bootstrapped``).

The directory is mode 0700 and every file in it 0600, whatever the umask: the tree holds the
accounts' credentials. SQLite creates its ``-wal`` and ``-shm`` files with the mode of the
database file, which is made 0600 before SQLite first opens it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from dmdelegation.client.database import close_database, open_database, transaction
from dmdelegation.client.provisioning import DeviceProvision
from dmdelegation.client.sqlite_tree import SCHEMA as TREE_SCHEMA
from dmdelegation.client.sqlite_tree import SQLiteTreeStorage
from dmdelegation.lab.device.simulator import Nonces
from dmdelegation.tree.devinfo import DEVINFO_ROOT, DevInfo, read_devinfo
from dmdelegation.tree.storage import NodeRecord, StoredNode
from dmdelegation.tree.uri import ROOT, URI

DATABASE = "device.sqlite3"
DEVICE_ROW = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS nonces (
    server_id TEXT PRIMARY KEY,
    client BLOB NOT NULL,
    server BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS bootstrapped (
    url TEXT PRIMARY KEY
);
"""


class StateError(Exception):
    """A state directory that cannot be created or opened; the message says why."""


def _private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 (it must not exist)."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask may have taken bits off; never more than 0600
    finally:
        os.close(fd)


class DeviceState:
    """An open state directory: the device's tree, nonces and bootstrap record."""

    def __init__(self, directory: Path, conn: sqlite3.Connection) -> None:
        self.directory = directory
        self.path = directory / DATABASE
        self._conn = conn
        self.tree = SQLiteTreeStorage(conn, DEVICE_ROW)
        self.nonces = StoredNonces(conn)

    @classmethod
    def create(cls, directory: Path, provision: DeviceProvision) -> DeviceState:
        """A new state directory holding the provisioned tree; `StateError` if one exists."""
        if (directory / DATABASE).exists():
            raise StateError(f"{directory}: a device is there already")
        records = provision.records()  # every fault of the provision is found before writing
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(directory, 0o700)
            _private_file(directory / DATABASE)
        except OSError as e:
            raise StateError(f"{directory}: {e.strerror}") from None
        conn = open_database(directory / DATABASE)
        state = cls(directory, conn)
        try:
            conn.executescript(TREE_SCHEMA + SCHEMA)
            with transaction(conn):
                conn.execute(
                    "INSERT INTO devices (device, device_id) VALUES (?, ?)",
                    (DEVICE_ROW, provision.devinfo.dev_id),
                )
                state.tree.insert_all([(r.uri, StoredNode(r.value, r.acl)) for r in records])
        except BaseException:
            state.close()
            for suffix in ("", "-wal", "-shm"):
                (directory / (DATABASE + suffix)).unlink(missing_ok=True)
            raise
        return state

    @classmethod
    def open(cls, directory: Path, *, read_only: bool = False) -> DeviceState:
        """The state directory a `create` made; `StateError` if there is none."""
        path = directory / DATABASE
        if not path.is_file():
            raise StateError(f"{directory}: no device there (run `dmdelegation device init`)")
        try:
            conn = open_database(path, read_only=read_only)
            conn.execute("SELECT count(*) FROM nodes").fetchone()
        except sqlite3.Error as e:
            raise StateError(f"{path}: not a device state ({e})") from None
        return cls(directory, conn)

    def close(self) -> None:
        close_database(self._conn, self.path)

    def devinfo(self) -> DevInfo:
        nodes = {r.uri.segments[1:]: r.value for r in self.tree.subtree(DEVINFO_ROOT)}
        return read_devinfo(nodes)

    def records(self, top: URI = ROOT) -> list[NodeRecord]:
        return self.tree.subtree(top)

    # Bootstrap.

    def bootstrapped(self, url: str) -> bool:
        row = self._conn.execute("SELECT 1 FROM bootstrapped WHERE url = ?", (url,)).fetchone()
        return row is not None

    def record_bootstrap(self, url: str) -> None:
        self._conn.execute("INSERT OR IGNORE INTO bootstrapped (url) VALUES (?)", (url,))


class StoredNonces:
    """The `NonceStore` over the ``nonces`` table: each change is committed at once."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def load(self, server_id: str) -> Nonces | None:
        row = self._conn.execute(
            "SELECT client, server FROM nonces WHERE server_id = ?", (server_id,)
        ).fetchone()
        return None if row is None else Nonces(client=bytes(row[0]), server=bytes(row[1]))

    def save(self, server_id: str, nonces: Nonces) -> None:
        self._conn.execute(
            "INSERT INTO nonces (server_id, client, server) VALUES (?, ?, ?)"
            " ON CONFLICT (server_id) DO UPDATE SET client = excluded.client,"
            " server = excluded.server",
            (server_id, nonces.client, nonces.server),
        )

    def all(self) -> dict[str, Nonces]:
        rows = self._conn.execute("SELECT server_id, client, server FROM nonces ORDER BY 1")
        return {sid: Nonces(client=bytes(c), server=bytes(s)) for sid, c, s in rows}
