"""DMS-1's undo journals on PostgreSQL, shared by the instances of a deployment.

The same journals, with the same guarantees, as `dmdelegation.client.journal_store` keeps in
SQLite, in the deployment's database (tables ``journals`` and ``journal_steps``, created by the
store's migration 4): an instance that adopts a process another instance died in the middle of
a tree change reads that journal and undoes the change (``docs/scaling.md``).

Every method has committed before its Deferred fires, so a step appended before a change is in
the database (pending) before the change is sent; how durable a commit is, is the server's
setting (``synchronous_commit``). The one exception is marking a step *applied*: that mark is
held and written in the same transaction as the store's next write (see `_Writer`); until then
the step reads as pending, which rollback treats as maybe applied.

The connection is autocommit, and the frequent writes are one statement each, so one round trip
and atomic by themselves: opening a journal (its header added if new, and read), appending a
step (with the *applied* marks held and the header, in case another instance discarded the
journal since), discarding a journal (with the marks held for others). The rarer writes that
find marks held (a failed or undone mark, undo progress: rollbacks and refusals) are one
``BEGIN`` ... ``COMMIT``, the marks first. The next sequence number is found by the insert
itself. One instance writes a journal at a time (the engine's session lock and ownership see to
that); were two to append to one journal at once, one append would fail on the primary key, and
its change would not be sent.

A lost connection (the database restarted, the backend was terminated, the network dropped) is
opened again by the next call (:mod:`dmdelegation.store.reconnect`). Reads (the journals listed,
a journal's steps, a journal opened: its header is added only if missing, so running that again
changes nothing) run once more on the new connection. A write the loss cut short fails, its
commit unknown (an append run again could add its step twice): the change it guarded is not
sent, and the next call runs on the new connection. The *applied* marks held stay held until a
write succeeds (writing one twice changes nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg.rows import tuple_row
from zope.interface import implementer

from dmdelegation.client.interfaces import IUndoJournal, IUndoJournalBatch, IUndoJournalStore
from dmdelegation.client.journal_common import (
    DeferredUndoJournal,
    check_header,
    rows_to_entries,
)
from dmdelegation.client.journal_entry import JournalEntry, StepState
from dmdelegation.store.migrations import migrate_postgresql
from dmdelegation.store.reconnect import Reconnecting
from dmdelegation.tree.journal import JournalStep, encode_step

# The header, added if missing, as it is now (the outer SELECT does not see the CTE's insert:
# a new header comes from RETURNING, an existing one from the table).
OPEN_SQL = (
    "WITH added AS (INSERT INTO journals (journal_id, device_id, server_id)"
    " VALUES (%(j)s, %(device)s, %(server)s) ON CONFLICT (journal_id) DO NOTHING"
    " RETURNING device_id, server_id)"
    " SELECT device_id, server_id FROM added"
    " UNION ALL SELECT device_id, server_id FROM journals WHERE journal_id = %(j)s"
)
# The *applied* marks held (deduplicated; never a row the rest of the statement writes), as a
# list of keys, so that each is found through the primary key (an unnest() joined in is planned
# for a hundred rows, and then scans the table).
_MARKS = "marks AS (UPDATE journal_steps SET state = 'applied' WHERE (journal_id, seq) IN ({}))"
APPEND_SQL = (
    "WITH {marks}"
    " head AS (INSERT INTO journals (journal_id, device_id, server_id)"
    " VALUES (%(j)s, %(device)s, %(server)s) ON CONFLICT (journal_id) DO NOTHING)"
    " INSERT INTO journal_steps (journal_id, seq, step, state)"
    " SELECT %(j)s, coalesce(max(seq), 0) + 1, %(step)s, %(state)s FROM journal_steps"
    " WHERE journal_id = %(j)s RETURNING seq"
)
DISCARD_SQL = (
    "WITH {marks}"
    " steps AS (DELETE FROM journal_steps WHERE journal_id = %(j)s)"
    " DELETE FROM journals WHERE journal_id = %(j)s"
)
FORGET_SQL = "DELETE FROM journal_steps WHERE journal_id = %s AND seq = ANY(%s::integer[])"
MARK_SQL = "UPDATE journal_steps SET state = %s WHERE journal_id = %s AND seq = %s"
MARK_MANY_SQL = (
    "UPDATE journal_steps SET state = %s WHERE journal_id = %s AND seq = ANY(%s::integer[])"
)
PROGRESS_SQL = "UPDATE journal_steps SET undo_progress = %s WHERE journal_id = %s AND seq = %s"
ENTRIES_SQL = (
    "SELECT seq, step, state, undo_progress FROM journal_steps WHERE journal_id = %s ORDER BY seq"
)

Statement = tuple[str, Any]
Connection = psycopg.Connection[tuple[Any, ...]]
T = TypeVar("T")


class _Writer:
    """The connection of one `PostgresJournalStore`, shared by its journals, and the *applied*
    marks not yet written (as `dmdelegation.client.journal_store._Writer`).

    Marking a step applied is not made durable on its own: the mark is written in the same
    transaction as the next write of the store (the next step appended, most often), or when the
    store is closed (a read shows it). Losing it (the instance dies first) leaves the step
    *pending*, which `rollback` treats as maybe applied: it reads the client to see. Every other
    write is committed before its Deferred fires, and a step is always committed, pending,
    before it is sent.
    """

    def __init__(self, link: Reconnecting[tuple[Any, ...]]) -> None:
        self.link = link
        self.applied: dict[tuple[str, int], None] = {}  # (journal_id, seq), in marking order

    @property
    def conn(self) -> Connection:
        """The connection in use (lost, until the next call opens another)."""
        return self.link.conn

    def check_open(self) -> None:
        if self.conn.closed and not self.conn.broken:
            raise psycopg.InterfaceError("the journal store's connection is closed")

    def read(self, call: Callable[[Connection], T]) -> T:
        """``call`` (a read), once more on a new connection if the connection was lost."""
        self.check_open()
        return self.link.read(call)

    def live(self) -> Connection:
        """The connection for a write, a new one if the last was lost (the write itself is not
        run again: its commit would be unknown)."""
        self.check_open()
        return self.link.live()

    def one(self, query: str, args: dict[str, Any], but: str | None = None) -> list[Any]:
        """Run ``query`` with the marks held (but those of journal ``but``) written along in
        its ``{marks}`` clause: one statement, its own transaction; the rows it returns."""
        conn = self.live()
        held = [key for key in self.applied if key[0] != but]
        marks = ""
        if held:
            keys = ", ".join(f"(%(mj{n})s, %(ms{n})s)" for n in range(len(held)))
            marks = _MARKS.format(keys) + ","
            for n, (journal_id, seq) in enumerate(held):
                args[f"mj{n}"], args[f"ms{n}"] = journal_id, seq
        cur = conn.execute(query.format(marks=marks), args)
        rows = cur.fetchall() if cur.description is not None else []
        self.applied.clear()
        return rows

    def write(self, *statements: Statement) -> None:
        """Run ``statements`` after the marks held so far, in one transaction (a lone statement
        alone, which is its own transaction on this autocommit connection)."""
        conn = self.live()
        if not self.applied and len(statements) == 1:
            conn.execute(*statements[0])
            return
        with conn.transaction(), conn.cursor() as cur:
            if self.applied:
                cur.executemany(MARK_SQL, [("applied", j, seq) for j, seq in self.applied])
            for statement in statements:
                cur.execute(*statement)
        self.applied.clear()

    def flush(self) -> None:
        if self.applied:
            self.write()


@implementer(IUndoJournalStore)
class PostgresJournalStore:
    """The undo journals kept in the PostgreSQL database at ``url`` (a libpq URL, the
    configuration's ``store.url``); the schema is migrated as the engine's store does.
    ``clock`` (seconds, ``time.monotonic`` if not given) paces the attempts to reconnect."""

    def __init__(self, url: str, *, clock: Callable[[], float] | None = None) -> None:
        self.url = url
        link = Reconnecting(
            url, name="the PostgreSQL undo journal store", row_factory=tuple_row, clock=clock
        )
        try:
            migrate_postgresql(link.conn)
        except BaseException:
            link.conn.close()
            raise
        self._writer = _Writer(link)

    @property
    def _conn(self) -> Connection:
        """The connection in use (lost, until the next call opens another)."""
        return self._writer.conn

    def close(self) -> None:
        """Write the marks still held, and close the connection."""
        if self._conn.closed and not self._conn.broken:
            return
        try:
            self._writer.flush()
        finally:
            self._conn.close()

    def journal_ids(self) -> list[str]:
        """The journals that still hold steps, of every instance (grant records included)."""
        rows = self._writer.read(
            lambda db: db.execute("SELECT journal_id FROM journals ORDER BY 1").fetchall()
        )
        return [journal_id for (journal_id,) in rows]

    def open(self, journal_id: str, device_id: str, server_id: str) -> PostgresUndoJournal:
        """The journal named ``journal_id``, created if new; the same journal after a restart,
        or from another instance."""
        args = {"j": journal_id, "device": device_id, "server": server_id}
        row = self._writer.read(lambda db: db.execute(OPEN_SQL, args).fetchone())
        assert row is not None
        check_header(row, journal_id, device_id, server_id)
        return PostgresUndoJournal(self._writer, journal_id, device_id, server_id)


@implementer(IUndoJournal, IUndoJournalBatch)
class PostgresUndoJournal(DeferredUndoJournal):
    """One journal in the PostgreSQL database."""

    def __init__(self, writer: _Writer, journal_id: str, device_id: str, server_id: str) -> None:
        super().__init__(journal_id, device_id, server_id)
        self._writer = writer

    def _append(self, step: JournalStep) -> int:
        writer = self._writer
        args = {
            "j": self.journal_id,
            "device": self.device_id,
            "server": self.server_id,
            "step": encode_step(step),
            "state": StepState.PENDING.value,
        }
        [(seq,)] = writer.one(APPEND_SQL, args)
        return int(seq)

    def _mark(self, seq: int, state: StepState) -> None:
        if state is StepState.APPLIED:
            self._writer.check_open()
            self._writer.applied[self.journal_id, seq] = None
            return
        self._writer.write((MARK_SQL, (state.value, self.journal_id, seq)))

    def _forget(self, seqs: Sequence[int]) -> None:
        if seqs:  # one statement: every step, or none
            self._writer.write((FORGET_SQL, (self.journal_id, list(seqs))))

    def _mark_many(self, seqs: Sequence[int], state: StepState) -> None:
        if seqs:  # one statement: every mark, or none
            self._writer.write((MARK_MANY_SQL, (state.value, self.journal_id, list(seqs))))

    def _record_undo_progress(self, seq: int, done: int) -> None:
        self._writer.write((PROGRESS_SQL, (done, self.journal_id, seq)))

    def _entries(self) -> Sequence[JournalEntry]:
        writer = self._writer
        rows = writer.read(lambda db: db.execute(ENTRIES_SQL, (self.journal_id,)).fetchall())
        # a read writes nothing: the marks held are read as they will be written
        return rows_to_entries(rows, (seq for j, seq in writer.applied if j == self.journal_id))

    def _discard(self) -> None:
        writer = self._writer
        writer.one(DISCARD_SQL, {"j": self.journal_id}, but=self.journal_id)
