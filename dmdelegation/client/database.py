"""The embedded SQLite database: one file, write-ahead log, every commit durable.

How durable is a choice (`Durability`):

- ``"normal"`` (the default): WAL with ``synchronous=NORMAL``. A commit is in the write-ahead log
  (handed to the operating system) before it returns, so it survives the death of the process at
  any point: a daemon killed mid-delegation comes back and finishes or rolls back. A power cut or
  an operating system crash may lose the last commits (never corrupt the file).
- ``"full"``: WAL with ``synchronous=FULL``: every commit is also synced to the disk before it
  returns, so it survives a power cut too, at the price of an fsync per commit.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
from collections.abc import Iterator
from typing import Literal, get_args

from dmdelegation.client import checkpoints

BUSY_TIMEOUT_MS = 5000

Durability = Literal["normal", "full"]
DURABILITIES: tuple[Durability, ...] = get_args(Durability)
DEFAULT_DURABILITY: Durability = "normal"


def check_durability(durability: str) -> Durability:
    """``durability`` if it is one of `DURABILITIES`, else ValueError."""
    for known in DURABILITIES:
        if durability == known:
            return known
    raise ValueError(f"durability must be one of {', '.join(DURABILITIES)}, not {durability!r}")


def open_database(
    path: str | os.PathLike[str],
    *,
    read_only: bool = False,
    durability: Durability = DEFAULT_DURABILITY,
) -> sqlite3.Connection:
    """A connection in autocommit mode; use `transaction` for anything that must stay together.

    ``read_only`` opens an existing file without ever creating or changing it. ``durability``:
    ``"normal"`` survives the death of the process, ``"full"`` also a power cut (see above).
    """
    synchronous = check_durability(durability).upper()
    if read_only:
        target = "file:" + urllib.parse.quote(os.fspath(path)) + "?mode=ro"
        conn = sqlite3.connect(target, uri=True, isolation_level=None)
    else:
        conn = sqlite3.connect(os.fspath(path), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    if not read_only and database_of(path):
        checkpoints.writing(conn, os.fspath(path))
    return conn


def close_database(conn: sqlite3.Connection, path: str | os.PathLike[str]) -> None:
    """Close a connection `open_database` gave (its file is no longer checkpointed for it)."""
    conn.close()
    if database_of(path):
        checkpoints.closed(os.fspath(path))


def database_of(path: str | os.PathLike[str]) -> str:
    """The real path of a database file ('' for an in-memory database): two stores on one file
    are told apart from two files by it."""
    text = os.fspath(path)
    return "" if text in ("", ":memory:") else os.path.realpath(text)


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
