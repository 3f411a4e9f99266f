"""Durable undo journals in SQLite (one file, WAL; it may be the client store's file).

Every method commits before its Deferred fires (synced to disk too with ``durability="full"``), so
a step appended before a change is on disk before the change is sent, and a journal opened again
after a restart (of the process; with "full", also of the machine) holds every step. The one
exception is marking a step *applied*: that mark is written with the store's next write (see
`_Writer`); until then the step reads as pending, which rollback treats as maybe applied.

Each write is one statement where it can be (SQLite makes a statement atomic by itself), and the
next sequence number is found by the insert itself.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred
from zope.interface import implementer

from dmdelegation.client.database import (
    DEFAULT_DURABILITY,
    Durability,
    close_database,
    database_of,
    open_database,
    transaction,
)
from dmdelegation.client.interfaces import (
    ITransactionalJournals,
    IUndoJournal,
    IUndoJournalBatch,
    IUndoJournalStore,
)
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


# Journals that outlive the process that wrote them, kept until the delegation is revoked: the
# deletion of our own account in a full delegation, and a delegation's grant record
# (`dmdelegation.client.revocation`).
OWN_ACCOUNT = "own-account:"
GRANT_RECORD = "granted:"


class JournalMismatch(ValueError):
    """A journal opened for another device or server than the one it records."""


HEADER_SQL = "SELECT device_id, server_id FROM journals WHERE journal_id = ?"
ADD_HEADER_SQL = (
    "INSERT OR IGNORE INTO journals (journal_id, device_id, server_id) VALUES (?, ?, ?)"
)
APPEND_STEP_SQL = (
    "INSERT INTO journal_steps (journal_id, seq, step, state)"
    " SELECT ?1, coalesce(max(seq), 0) + 1, ?2, ?3 FROM journal_steps WHERE journal_id = ?1"
)
APPEND_SQL = APPEND_STEP_SQL + " RETURNING seq"
# keep_as: a journal of the new name loses its steps and takes this one's device and server;
# this journal's steps not kept go (overwritten on disk, with their before-images); the rest
# take the new name; the old header goes last (the steps' reference always holds).
DROP_STEPS_SQL = "DELETE FROM journal_steps WHERE journal_id = ?"
DROP_HEADER_SQL = "DELETE FROM journals WHERE journal_id = ?"
DROP_UNKEPT_SQL = "DELETE FROM journal_steps WHERE journal_id = ? AND seq NOT IN ({})"
SET_HEADER_SQL = "UPDATE journals SET device_id = ?, server_id = ? WHERE journal_id = ?"
RENAME_STEPS_SQL = "UPDATE journal_steps SET journal_id = ? WHERE journal_id = ?"
MARK_SQL = "UPDATE journal_steps SET state = ? WHERE journal_id = ? AND seq = ?"
PROGRESS_SQL = "UPDATE journal_steps SET undo_progress = ? WHERE journal_id = ? AND seq = ?"


class _Writer:
    """The connection of one `SQLiteJournalStore`, shared by its journals, and the *applied*
    marks not yet written.

    Marking a step applied is not made durable on its own: the mark is written in the same
    transaction as the next write of the store (the next step appended, most often), or when the
    journal is read or the store closed. Losing it (the process dies first) leaves the step
    *pending*, which `rollback` treats as maybe applied: it reads the client to see. Every other
    write is durable before its Deferred fires, and a step is always durable, pending, before it is
    sent.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.applied: list[tuple[str, str, int]] = []  # (state, journal_id, seq) for MARK_SQL
        self.headed: set[str] = set()  # journals whose header row this store knows is there
        self.closed = False
        self.held: list[tuple[str, str, int]] | None = None  # applied marks of an open unit

    def check_open(self) -> None:
        if self.closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """A transaction that writes the marks held so far first."""
        self.check_open()
        conn = self.conn
        with transaction(conn):
            if self.applied:
                conn.executemany(MARK_SQL, self.applied)
            yield conn
        self.applied.clear()

    def write(self, *statements: tuple[str, tuple[Any, ...]]) -> list[Any]:
        """Run ``statements`` with the marks held so far, in one transaction (a lone statement
        alone, which SQLite makes atomic by itself); the rows the last of them returns."""
        self.check_open()
        if not self.applied and len(statements) == 1:
            return self.conn.execute(*statements[0]).fetchall()  # fetched to the end: committed
        rows: list[Any] = []
        with self.writing() as conn:
            for statement in statements:
                rows = conn.execute(*statement).fetchall()
        return rows

    def applied_mark(self, mark: tuple[str, str, int]) -> None:
        """An *applied* mark: written with the next write, or after the open unit's client
        commit (`SQLiteJournalStore.release`)."""
        self.check_open()
        (self.applied if self.held is None else self.held).append(mark)

    def flush(self) -> None:
        if self.applied:
            self.check_open()
            with transaction(self.conn):
                self.conn.executemany(MARK_SQL, self.applied)
            self.applied.clear()


def check_header(header: Sequence[Any], journal_id: str, device_id: str, server_id: str) -> None:
    """:class:`JournalMismatch` unless the journal's header row records ``(device_id,
    server_id)``."""
    if tuple(header) != (device_id, server_id):
        raise JournalMismatch(
            f"journal {journal_id!r} records {header[1]!r} on {header[0]!r},"
            f" not {server_id!r} on {device_id!r}"
        )


def rows_to_entries(rows: Iterable[Sequence[Any]]) -> list[JournalEntry]:
    """``(seq, step, state, undo_progress)`` rows as journal entries."""
    return [
        JournalEntry(seq, decode_step(step), StepState(state), progress)
        for seq, step, state, progress in rows
    ]


class DeferredUndoJournal:
    """One journal of a store whose writes complete at once: the `IUndoJournal` and
    `IUndoJournalBatch` methods are Deferreds over the store's synchronous ``_append``,
    ``_mark``... (a failure to write fails the Deferred, and nothing is then applied)."""

    def __init__(self, journal_id: str, device_id: str, server_id: str) -> None:
        self.journal_id = journal_id
        self.device_id = device_id
        self.server_id = server_id

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.journal_id!r}>"

    def append(self, step: JournalStep) -> Deferred[int]:
        return maybeDeferred(self._append, step)

    def mark(self, seq: int, state: StepState) -> Deferred[None]:
        return maybeDeferred(self._mark, seq, state)

    def mark_many(self, seqs: Sequence[int], state: StepState) -> Deferred[None]:
        return maybeDeferred(self._mark_many, seqs, state)

    def keep_as(
        self, journal_id: str, seqs: Sequence[int], then: Sequence[JournalStep]
    ) -> Deferred[None]:
        return maybeDeferred(self._keep_as, journal_id, seqs, then)

    def record_undo_progress(self, seq: int, done: int) -> Deferred[None]:
        return maybeDeferred(self._record_undo_progress, seq, done)

    def entries(self) -> Deferred[Sequence[JournalEntry]]:
        return maybeDeferred(self._entries)

    def discard(self) -> Deferred[None]:
        return maybeDeferred(self._discard)

    def _append(self, step: JournalStep) -> int:
        raise NotImplementedError

    def _mark(self, seq: int, state: StepState) -> None:
        raise NotImplementedError

    def _mark_many(self, seqs: Sequence[int], state: StepState) -> None:
        raise NotImplementedError

    def _keep_as(self, journal_id: str, seqs: Sequence[int], then: Sequence[JournalStep]) -> None:
        raise NotImplementedError

    def _record_undo_progress(self, seq: int, done: int) -> None:
        raise NotImplementedError

    def _entries(self) -> Sequence[JournalEntry]:
        raise NotImplementedError

    def _discard(self) -> None:
        raise NotImplementedError


@implementer(IUndoJournalStore, ITransactionalJournals)
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
        # A discarded journal's before-images (secrets among them) are overwritten on disk,
        # not left in free pages.
        self._conn.execute("PRAGMA secure_delete = ON")
        self._conn.executescript(SCHEMA)
        self._writer = _Writer(self._conn)
        self.database = database_of(self.path)

    # ITransactionalJournals: see dmdelegation.client.unit.

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open on the store's connection."""
        return self._conn.in_transaction

    def begin(self) -> None:
        self._writer.check_open()
        self._conn.execute("BEGIN IMMEDIATE")
        self._writer.held = []

    def commit(self) -> None:
        self._conn.execute("COMMIT")

    def release(self) -> None:
        writer = self._writer
        if writer.held is not None:
            writer.applied.extend(writer.held)
            writer.held = None

    def rollback(self) -> None:
        writer = self._writer
        writer.held = None
        writer.headed.clear()  # a header written in the transaction is gone with it
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def close(self) -> None:
        """Write the marks still held, and close the file."""
        try:
            self._writer.flush()
        finally:
            self._writer.closed = True
            close_database(self._conn, self.path)

    def journal_ids(self) -> list[str]:
        """The journals that still hold steps (after a restart: delegations to finish or undo)."""
        rows = self._conn.execute("SELECT journal_id FROM journals ORDER BY 1")
        return [journal_id for (journal_id,) in rows]

    def purge_ended(self, ended: Callable[[str], bool]) -> list[str]:
        """Discard the journals of processes that have ended (``ended(session_id)``; a
        journal's session is its id up to any ``/``), with the secrets their before-images
        hold: a process that ended will never be undone, and a journal a failed or interrupted
        commit left behind would otherwise keep them for ever. The journal of our own account
        in a full delegation (``own-account:``) and a delegation's grant record (``granted:``)
        belong to no process: they are kept until the revocation. The journals discarded."""
        self._writer.check_open()
        gone = [
            journal_id
            for journal_id in self.journal_ids()
            if not journal_id.startswith((OWN_ACCOUNT, GRANT_RECORD))
            and ended(journal_id.partition("/")[0])
        ]
        for journal_id in gone:
            self.open_existing(journal_id)._discard()
        return gone

    def open_existing(self, journal_id: str) -> SQLiteUndoJournal:
        """The journal ``journal_id`` as recorded (its header's device and server)."""
        row = self._conn.execute(HEADER_SQL, (journal_id,)).fetchone()
        return self.open(journal_id, row[0], row[1])

    def open(self, journal_id: str, device_id: str, server_id: str) -> SQLiteUndoJournal:
        """The journal named ``journal_id``, created if new; the same journal after a restart."""
        row = self._conn.execute(HEADER_SQL, (journal_id,)).fetchone()
        if row is None:  # this store is the file's one writer: the header is the one written
            self._writer.write((ADD_HEADER_SQL, (journal_id, device_id, server_id)))
        else:
            check_header(row, journal_id, device_id, server_id)
        self._writer.headed.add(journal_id)
        return SQLiteUndoJournal(self._writer, journal_id, device_id, server_id)


@implementer(IUndoJournal, IUndoJournalBatch)
class SQLiteUndoJournal(DeferredUndoJournal):
    """One journal in the store's SQLite file."""

    def __init__(self, writer: _Writer, journal_id: str, device_id: str, server_id: str) -> None:
        super().__init__(journal_id, device_id, server_id)
        self._writer = writer

    def _append(self, step: JournalStep) -> int:
        writer = self._writer
        append = (APPEND_SQL, (self.journal_id, encode_step(step), StepState.PENDING.value))
        if self.journal_id in writer.headed:
            [(seq,)] = writer.write(append)
        else:  # discarded since it was opened: the header goes back with the step
            header = (ADD_HEADER_SQL, (self.journal_id, self.device_id, self.server_id))
            [(seq,)] = writer.write(header, append)
            writer.headed.add(self.journal_id)
        return int(seq)

    def _mark(self, seq: int, state: StepState) -> None:
        if state is StepState.APPLIED:
            self._writer.applied_mark((state.value, self.journal_id, seq))
            return
        self._writer.write((MARK_SQL, (state.value, self.journal_id, seq)))

    def _keep_as(self, journal_id: str, seqs: Sequence[int], then: Sequence[JournalStep]) -> None:
        writer, old = self._writer, self.journal_id
        if journal_id == old:
            raise ValueError(f"journal {old!r} cannot be kept as itself")
        header = (journal_id, self.device_id, self.server_id)
        pending = StepState.PENDING.value
        with writer.writing() as conn:
            if not conn.execute(ADD_HEADER_SQL, header).rowcount:  # a journal of that name
                conn.execute(DROP_STEPS_SQL, (journal_id,))
                conn.execute(SET_HEADER_SQL, (*header[1:], journal_id))
            conn.execute(DROP_UNKEPT_SQL.format(", ".join("?" * len(seqs))), (old, *seqs))
            conn.execute(RENAME_STEPS_SQL, (journal_id, old))
            conn.execute(DROP_HEADER_SQL, (old,))
            conn.executemany(APPEND_STEP_SQL, [(journal_id, encode_step(s), pending) for s in then])
        writer.headed.discard(old)
        writer.headed.add(journal_id)

    def _mark_many(self, seqs: Sequence[int], state: StepState) -> None:
        marks = [(MARK_SQL, (state.value, self.journal_id, seq)) for seq in seqs]
        if marks:
            self._writer.write(*marks)

    def _record_undo_progress(self, seq: int, done: int) -> None:
        self._writer.write((PROGRESS_SQL, (done, self.journal_id, seq)))

    def _entries(self) -> Sequence[JournalEntry]:
        self._writer.flush()
        rows = self._writer.conn.execute(
            "SELECT seq, step, state, undo_progress FROM journal_steps"
            " WHERE journal_id = ? ORDER BY seq",
            (self.journal_id,),
        )
        return rows_to_entries(rows)

    def _discard(self) -> None:
        writer = self._writer
        writer.check_open()
        others = [mark for mark in writer.applied if mark[1] != self.journal_id]
        with transaction(writer.conn):
            if others:
                writer.conn.executemany(MARK_SQL, others)
            for table in ("journal_steps", "journals"):
                writer.conn.execute(f"DELETE FROM {table} WHERE journal_id = ?", (self.journal_id,))
        writer.applied.clear()
        if writer.held is not None:
            writer.held = [mark for mark in writer.held if mark[1] != self.journal_id]
        writer.headed.discard(self.journal_id)
