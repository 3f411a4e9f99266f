"""Durable undo journals in SQLite (one file, WAL; it may be the client store's file).

Every method commits before its Deferred fires (synced to disk too with ``durability="full"``), so
a step appended before a change is on disk before the change is sent, and a journal opened again
after a restart (of the process; with "full", also of the machine) holds every step.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence

from twisted.internet.defer import Deferred, maybeDeferred
from zope.interface import implementer

from dmdelegation.client.database import (
    DEFAULT_DURABILITY,
    Durability,
    open_database,
    transaction,
)
from dmdelegation.client.interfaces import IUndoJournal
from dmdelegation.client.journal_entry import JournalEntry, StepState
from dmdelegation.tree.journal import JournalStep, decode_step, encode_step

SCHEMA = """
CREATE TABLE IF NOT EXISTS journals (
    journal_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    server_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal_steps (
    journal_id TEXT NOT NULL REFERENCES journals(journal_id),
    seq INTEGER NOT NULL,
    step TEXT NOT NULL,
    state TEXT NOT NULL,
    undo_progress INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (journal_id, seq)
) WITHOUT ROWID;
"""


class JournalMismatch(ValueError):
    """A journal opened for another device or server than the one it records."""


class SQLiteJournalStore:
    """The undo journals kept in the SQLite file at ``path``.

    ``durability``: ``"normal"`` (a step survives the death of the process) or ``"full"`` (it
    also survives a power cut); see `dmdelegation.client.database`.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, durability: Durability = DEFAULT_DURABILITY
    ) -> None:
        self.path = os.fspath(path)
        self.durability = durability
        self._conn = open_database(self.path, durability=durability)
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def journal_ids(self) -> list[str]:
        """The journals that still hold steps (after a restart: delegations to finish or undo)."""
        rows = self._conn.execute("SELECT journal_id FROM journals ORDER BY 1")
        return [journal_id for (journal_id,) in rows]

    def open(self, journal_id: str, device_id: str, server_id: str) -> SQLiteUndoJournal:
        """The journal named ``journal_id``, created if new; the same journal after a restart."""
        with transaction(self._conn):
            row = self._conn.execute(
                "SELECT device_id, server_id FROM journals WHERE journal_id = ?", (journal_id,)
            ).fetchone()
            if row is None:
                self._conn.execute(
                    "INSERT INTO journals (journal_id, device_id, server_id) VALUES (?, ?, ?)",
                    (journal_id, device_id, server_id),
                )
            elif tuple(row) != (device_id, server_id):
                raise JournalMismatch(
                    f"journal {journal_id!r} records {row[1]!r} on {row[0]!r},"
                    f" not {server_id!r} on {device_id!r}"
                )
        return SQLiteUndoJournal(self._conn, journal_id, device_id, server_id)


@implementer(IUndoJournal)
class SQLiteUndoJournal:
    """One journal; a failure to write it fails the Deferred (and nothing is then applied)."""

    def __init__(
        self, conn: sqlite3.Connection, journal_id: str, device_id: str, server_id: str
    ) -> None:
        self._conn = conn
        self.journal_id = journal_id
        self.device_id = device_id
        self.server_id = server_id

    def __repr__(self) -> str:
        return f"<SQLiteUndoJournal {self.journal_id!r}>"

    def append(self, step: JournalStep) -> Deferred[int]:
        return maybeDeferred(self._append, step)

    def _append(self, step: JournalStep) -> int:
        with transaction(self._conn):
            self._conn.execute(
                "INSERT OR IGNORE INTO journals (journal_id, device_id, server_id)"
                " VALUES (?, ?, ?)",
                (self.journal_id, self.device_id, self.server_id),
            )
            (last,) = self._conn.execute(
                "SELECT coalesce(max(seq), 0) FROM journal_steps WHERE journal_id = ?",
                (self.journal_id,),
            ).fetchone()
            seq = int(last) + 1
            self._conn.execute(
                "INSERT INTO journal_steps (journal_id, seq, step, state) VALUES (?, ?, ?, ?)",
                (self.journal_id, seq, encode_step(step), StepState.PENDING.value),
            )
        return seq

    def mark(self, seq: int, state: StepState) -> Deferred[None]:
        return maybeDeferred(self._mark, seq, state)

    def _mark(self, seq: int, state: StepState) -> None:
        with transaction(self._conn):
            self._conn.execute(
                "UPDATE journal_steps SET state = ? WHERE journal_id = ? AND seq = ?",
                (state.value, self.journal_id, seq),
            )

    def record_undo_progress(self, seq: int, done: int) -> Deferred[None]:
        return maybeDeferred(self._record_undo_progress, seq, done)

    def _record_undo_progress(self, seq: int, done: int) -> None:
        with transaction(self._conn):
            self._conn.execute(
                "UPDATE journal_steps SET undo_progress = ? WHERE journal_id = ? AND seq = ?",
                (done, self.journal_id, seq),
            )

    def entries(self) -> Deferred[Sequence[JournalEntry]]:
        return maybeDeferred(self._entries)

    def _entries(self) -> Sequence[JournalEntry]:
        rows = self._conn.execute(
            "SELECT seq, step, state, undo_progress FROM journal_steps"
            " WHERE journal_id = ? ORDER BY seq",
            (self.journal_id,),
        )
        entries = [
            JournalEntry(seq, decode_step(step), StepState(state), progress)
            for seq, step, state, progress in rows
        ]
        return entries

    def discard(self) -> Deferred[None]:
        return maybeDeferred(self._discard)

    def _discard(self) -> None:
        with transaction(self._conn):
            self._conn.execute("DELETE FROM journal_steps WHERE journal_id = ?", (self.journal_id,))
            self._conn.execute("DELETE FROM journals WHERE journal_id = ?", (self.journal_id,))
