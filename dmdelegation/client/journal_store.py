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
from collections.abc import Callable, Sequence
from typing import Any

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
from dmdelegation.client.journal_common import (
    DeferredUndoJournal,
    check_header,
    rows_to_entries,
)
from dmdelegation.client.journal_entry import JournalEntry, StepState
from dmdelegation.tree.journal import JournalStep, encode_step

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


HEADER_SQL = "SELECT device_id, server_id FROM journals WHERE journal_id = ?"
ADD_HEADER_SQL = (
    "INSERT OR IGNORE INTO journals (journal_id, device_id, server_id) VALUES (?, ?, ?)"
)
APPEND_SQL = (
    "INSERT INTO journal_steps (journal_id, seq, step, state)"
    " SELECT ?1, coalesce(max(seq), 0) + 1, ?2, ?3 FROM journal_steps WHERE journal_id = ?1"
    " RETURNING seq"
)
INSERT_STEP_SQL = "INSERT INTO journal_steps (journal_id, seq, step, state) VALUES (?, ?, ?, ?)"
FORGET_SQL = "DELETE FROM journal_steps WHERE journal_id = ? AND seq IN ({})"
ENDING_WITH_SQL = (
    "SELECT s.journal_id FROM journal_steps s JOIN"
    " (SELECT journal_id, max(seq) AS seq FROM journal_steps GROUP BY journal_id) m"
    " ON s.journal_id = m.journal_id AND s.seq = m.seq WHERE s.step = ?"
)
MARK_SQL = "UPDATE journal_steps SET state = ? WHERE journal_id = ? AND seq = ?"
PROGRESS_SQL = "UPDATE journal_steps SET undo_progress = ? WHERE journal_id = ? AND seq = ?"


class _Writer:
    """The connection of one `SQLiteJournalStore`, shared by its journals, and the *applied*
    marks not yet written.

    Marking a step applied is not made durable on its own: the mark is written in the same
    transaction as the next write of the store (the next step appended, most often), or when the
    store is closed (a read shows it). Losing it (the process dies first) leaves the step
    *pending*, which `rollback` treats as maybe applied: it reads the client to see. Every other
    write is durable before its Deferred fires, and a step is always durable, pending, before it is
    sent.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.applied: list[tuple[str, str, int]] = []  # (state, journal_id, seq) for MARK_SQL
        # The journals whose header row this store wrote or read (it is the file's one writer),
        # with their device and server; and the number of the next step, where it knows it.
        self.headers: dict[str, tuple[str, str]] = {}
        self.next_seq: dict[str, int] = {}
        self.closed = False
        self.held: list[tuple[str, str, int]] | None = None  # applied marks of an open unit

    def check_open(self) -> None:
        if self.closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")

    def write(self, *statements: tuple[str, tuple[Any, ...]]) -> list[Any]:
        """Run ``statements`` with the marks held so far, in one transaction (a lone statement
        alone, which SQLite makes atomic by itself); the rows the last of them returns."""
        self.check_open()
        conn = self.conn
        if not self.applied and len(statements) == 1:
            return conn.execute(*statements[0]).fetchall()  # fetched to the end: committed
        rows: list[Any] = []
        with transaction(conn):
            if self.applied:
                conn.executemany(MARK_SQL, self.applied)
            for statement in statements:
                rows = conn.execute(*statement).fetchall()
        self.applied.clear()
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
        writer.headers.clear()  # a header or a step written in the transaction is gone with it
        writer.next_seq.clear()
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
        """The journals that still hold steps: of processes to finish or undo after a restart,
        and the grant records of delegations in force."""
        rows = self._conn.execute("SELECT journal_id FROM journals ORDER BY 1")
        return [journal_id for (journal_id,) in rows]

    def ending_with(self, step: JournalStep) -> set[str]:
        """The journals whose last step is ``step`` (one read, whatever their number)."""
        self._writer.check_open()
        rows = self._conn.execute(ENDING_WITH_SQL, (encode_step(step),))
        return {journal_id for (journal_id,) in rows}

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
        writer = self._writer
        writer.check_open()
        header = writer.headers.get(journal_id)
        if header is None:
            header = self._conn.execute(HEADER_SQL, (journal_id,)).fetchone()
            if header is None:  # this store is the file's one writer: the header is the one written
                writer.write((ADD_HEADER_SQL, (journal_id, device_id, server_id)))
                header = (device_id, server_id)
                writer.next_seq[journal_id] = 1
            writer.headers[journal_id] = (header[0], header[1])
        check_header(header, journal_id, device_id, server_id)
        return SQLiteUndoJournal(writer, journal_id, device_id, server_id)


@implementer(IUndoJournal, IUndoJournalBatch)
class SQLiteUndoJournal(DeferredUndoJournal):
    """One journal in the store's SQLite file."""

    def __init__(self, writer: _Writer, journal_id: str, device_id: str, server_id: str) -> None:
        super().__init__(journal_id, device_id, server_id)
        self._writer = writer

    def _append(self, step: JournalStep) -> int:
        writer, journal_id = self._writer, self.journal_id
        text, pending = encode_step(step), StepState.PENDING.value
        seq = writer.next_seq.get(journal_id)
        if journal_id not in writer.headers:  # discarded since it was opened: the header too
            header = (ADD_HEADER_SQL, (journal_id, self.device_id, self.server_id))
            [(seq,)] = writer.write(header, (APPEND_SQL, (journal_id, text, pending)))
            writer.headers[journal_id] = (self.device_id, self.server_id)
        elif seq is None:
            [(seq,)] = writer.write((APPEND_SQL, (journal_id, text, pending)))
        else:  # the number known: no look for the last one
            try:
                writer.write((INSERT_STEP_SQL, (journal_id, seq, text, pending)))
            except sqlite3.IntegrityError:  # taken after all: the number is looked for
                [(seq,)] = writer.write((APPEND_SQL, (journal_id, text, pending)))
        writer.next_seq[journal_id] = int(seq) + 1
        return int(seq)

    def _mark(self, seq: int, state: StepState) -> None:
        if state is StepState.APPLIED:
            self._writer.applied_mark((state.value, self.journal_id, seq))
            return
        self._writer.write((MARK_SQL, (state.value, self.journal_id, seq)))

    def _forget(self, seqs: Sequence[int]) -> None:
        if seqs:  # one statement: every step, or none
            marks = ", ".join("?" * len(seqs))
            self._writer.write((FORGET_SQL.format(marks), (self.journal_id, *seqs)))
            self._writer.next_seq.pop(self.journal_id, None)  # the last step may be gone

    def _mark_many(self, seqs: Sequence[int], state: StepState) -> None:
        marks = [(MARK_SQL, (state.value, self.journal_id, seq)) for seq in seqs]
        if marks:
            self._writer.write(*marks)

    def _record_undo_progress(self, seq: int, done: int) -> None:
        self._writer.write((PROGRESS_SQL, (done, self.journal_id, seq)))

    def _entries(self) -> Sequence[JournalEntry]:
        writer = self._writer
        writer.check_open()
        rows = writer.conn.execute(
            "SELECT seq, step, state, undo_progress FROM journal_steps"
            " WHERE journal_id = ? ORDER BY seq",
            (self.journal_id,),
        )
        # a read writes nothing: the marks held are read as they will be written
        return rows_to_entries(rows, (seq for _, j, seq in writer.applied if j == self.journal_id))

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
        writer.headers.pop(self.journal_id, None)
        writer.next_seq.pop(self.journal_id, None)
