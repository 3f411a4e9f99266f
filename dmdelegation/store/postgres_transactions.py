"""The connection of the PostgreSQL session store and its transactions.

:class:`Transactions` is the part of :class:`~dmdelegation.store.postgres.PostgresSessionStore`
that runs its statements: in the open transaction (the one a transition's input holds, or the
group commit's), or on their own outside one; and that says what the loss of the connection
(:mod:`dmdelegation.store.reconnect`) did to the open transaction, and to the advisory locks it
held (:mod:`dmdelegation.store.postgres`, whose docstring says the rules).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from dmdelegation.store import postgres_sql as sql
from dmdelegation.store.interfaces import Busy, Commit
from dmdelegation.store.reconnect import Reconnecting


def _lock_key(kind: str, name: str) -> str:
    return f"{kind}:{name}"


class Transactions:
    """Statements, transactions and advisory locks over one reconnecting connection; the store
    sets the attributes below."""

    _link: Reconnecting[dict[str, Any]]
    _in_transaction: bool
    _locked: set[str]  # advisory locks held by the open transaction
    _staged: list[Commit]  # written in the open transaction, not yet committed
    _poisoned: BaseException | None  # why the staged commits are lost, if they are

    @property
    def _db(self) -> psycopg.Connection[dict[str, Any]]:
        """The connection in use (lost, until the next call opens another)."""
        return self._link.conn

    # transactions

    def _x(self, query: str, args: Sequence[Any] = ()) -> psycopg.Cursor[dict[str, Any]]:
        """Run ``query``: in the open transaction, if any (its loss fails the call, and the
        group commit with it); else on its own, once more on a new connection if the
        connection was lost under it. Outside a transaction this store runs only reads, and
        deletes and updates that change nothing when run twice (delivered outbox rows, the
        lease given up on close), so running one again is safe."""
        if not self._in_transaction:
            return self._link.read(lambda db: db.execute(query, args))
        try:
            return self._db.execute(query, args)
        except psycopg.Error as e:
            if self._link.lost(e):
                self._transaction_lost(e)
            raise

    def _of_device(
        self, query: str, device_id: str | None, order: str
    ) -> psycopg.Cursor[dict[str, Any]]:
        """The rows of ``query`` (a SELECT without WHERE), of ``device_id`` only unless it is
        None, ordered by ``order``."""
        if device_id is None:
            return self._x(f"{query} ORDER BY {order}")
        return self._x(f"{query} WHERE device_id = %s ORDER BY {order}", (device_id,))

    def _transaction_lost(self, error: BaseException) -> None:
        """The connection went with the open transaction: the server rolled it back and freed
        its locks. What was staged in it is lost: the next flush says so."""
        self._in_transaction = False
        self._locked.clear()
        if self._staged and self._poisoned is None:
            self._poisoned = error

    def _begin(self) -> None:
        if not self._in_transaction:
            # No transaction is open: BEGIN on a connection found lost is run again on a new
            # one (nothing was in progress on the old).
            self._link.read(lambda db: db.execute("BEGIN"))
            self._in_transaction = True

    def _end(self, commit: bool) -> None:
        self._locked.clear()  # transaction-level locks end with the transaction
        if self._in_transaction:
            self._in_transaction = False
            if not commit and self._db.broken:
                return  # the server rolled it back when the connection went
            try:
                self._db.execute("COMMIT" if commit else "ROLLBACK")
            except psycopg.Error as e:
                if commit or not self._link.lost(e):
                    raise  # a COMMIT cut short may or may not have been written: it failed

    def _try_lock(self, kind: str, name: str) -> None:
        key = _lock_key(kind, name)
        if key in self._locked:
            return
        row = self._x(sql.TRY_LOCK, (key,)).fetchone()
        assert row is not None
        if not row["ok"]:
            raise Busy(f"{kind} {name} is being changed by another instance")
        self._locked.add(key)
