"""The embedded SQLite database: one file, write-ahead log, every commit synced to disk."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
from collections.abc import Iterator

BUSY_TIMEOUT_MS = 5000


def open_database(path: str | os.PathLike[str], *, read_only: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode; use `transaction` for anything that must stay together.

    ``read_only`` opens an existing file without ever creating or changing it.
    """
    if read_only:
        target = "file:" + urllib.parse.quote(os.fspath(path)) + "?mode=ro"
        conn = sqlite3.connect(target, uri=True, isolation_level=None)
    else:
        conn = sqlite3.connect(os.fspath(path), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """Everything inside is committed together, or rolled back if the block raises.

    Nested use joins the transaction already open.
    """
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
