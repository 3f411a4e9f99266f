"""The two undo journal stores, behind one face, for the contract suite: SQLite (a file) and
PostgreSQL (a schema of its own in the throw-away cluster). Each reads what is durable through
a connection of its own, as another process (or another instance) would."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from dmdelegation.client import IUndoJournal, IUndoJournalStore, SQLiteJournalStore
from dmdelegation.store.journal_postgres import PostgresJournalStore

from .helpers import DEVICE, OWNER

STEPS_SQL = "SELECT seq, step, state FROM journal_steps WHERE journal_id = {} ORDER BY seq"


class JournalBackend:
    """A journal store, and a second connection to what it wrote."""

    name: str
    store: IUndoJournalStore

    def open_store(self) -> IUndoJournalStore:
        """A new store on the same state: after a restart, or in another instance."""
        raise NotImplementedError

    def _rows(self, journal_id: str) -> list[tuple[int, str, str]]:
        raise NotImplementedError

    def journal(self, server_id: str = OWNER, name: str = "delegation-1") -> IUndoJournal:
        return self.store.open(name, DEVICE, server_id)

    def reopen(self) -> IUndoJournalStore:
        """Close the store and open it again; the new one is `store` from now on."""
        self.store.close()
        self.store = self.open_store()
        return self.store

    def die(self) -> IUndoJournalStore:
        """The store's process dies (its connection goes, the *applied* marks it held are
        lost); another store, as another instance or the restarted one, is `store` from now
        on."""
        conn = self.store._conn  # type: ignore[attr-defined]
        self.store._writer.applied.clear()  # type: ignore[attr-defined]
        conn.close()
        self.store = self.open_store()
        return self.store

    def on_disk(self, journal_id: str = "delegation-1") -> list[tuple[int, str]]:
        """The steps (sequence number, state) as another connection sees them."""
        return [(seq, state) for seq, _, state in self._rows(journal_id)]

    def newest(self, journal_id: str) -> tuple[str, str] | None:
        """The URI and the state of the newest step, as another connection sees them."""
        rows = self._rows(journal_id)
        return (json.loads(rows[-1][1])["uri"], rows[-1][2]) if rows else None

    @contextmanager
    def transactions(self) -> Iterator[list[list[str]]]:
        """The transactions the store runs inside the block, each as its statements (a lone
        statement outside ``BEGIN`` ... ``COMMIT`` is a transaction by itself)."""
        raise NotImplementedError
        yield []

    def close(self) -> None:
        self.store.close()


class SQLiteBackend(JournalBackend):
    name = "sqlite"

    def __init__(self, directory: Path) -> None:
        self.path = directory / "journals.sqlite3"
        self.store = self.open_store()

    def open_store(self) -> SQLiteJournalStore:
        return SQLiteJournalStore(self.path)

    def _rows(self, journal_id: str) -> list[tuple[int, str, str]]:
        conn = sqlite3.connect(self.path)
        try:
            return list(conn.execute(STEPS_SQL.format("?"), (journal_id,)))
        finally:
            conn.close()

    @contextmanager
    def transactions(self) -> Iterator[list[list[str]]]:
        assert isinstance(self.store, SQLiteJournalStore)
        statements: list[str] = []
        self.store._conn.set_trace_callback(statements.append)
        seen: list[list[str]] = []
        try:
            yield seen
        finally:
            self.store._conn.set_trace_callback(None)
            seen += _grouped(statements)


class PostgresBackend(JournalBackend):
    name = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self.store = self.open_store()

    def open_store(self) -> PostgresJournalStore:
        return PostgresJournalStore(self.url)

    def _rows(self, journal_id: str) -> list[tuple[int, str, str]]:
        with psycopg.connect(self.url) as conn:
            return list(conn.execute(STEPS_SQL.format("%s"), (journal_id,)))

    @contextmanager
    def transactions(self) -> Iterator[list[list[str]]]:
        """From libpq's trace of the messages the store's connection sends: each statement is
        a simple ``Query`` or an extended-protocol ``Parse`` (of a statement not prepared yet)
        or ``Bind`` (of one psycopg prepared), then ``Execute``."""
        assert isinstance(self.store, PostgresJournalStore)
        pgconn = self.store._conn.pgconn
        seen: list[list[str]] = []
        with tempfile.TemporaryFile("w+") as trace:
            pgconn.trace(trace.fileno())
            try:
                yield seen
            finally:
                pgconn.untrace()
                trace.seek(0)
                statements: list[str] = []
                for line in trace:
                    fields = line.rstrip("\n").split("\t")
                    if len(fields) < 5 or fields[1] != "F":
                        continue
                    if fields[3] == "Query":
                        statements.append(fields[4].strip().strip('"'))
                    elif fields[3] == "Execute":
                        statements.append("EXECUTE")
                seen += _grouped(statements)


def _grouped(statements: list[str]) -> list[list[str]]:
    """``statements`` as transactions: ``BEGIN`` ... ``COMMIT``, or a lone statement."""
    transactions: list[list[str]] = []
    current: list[str] | None = None
    for statement in statements:
        word = statement.split()[0].upper()
        if word == "BEGIN":
            current = [statement]
        elif current is not None:
            current.append(statement)
            if word in ("COMMIT", "ROLLBACK"):
                transactions.append(current)
                current = None
        else:
            transactions.append([statement])
    return transactions
