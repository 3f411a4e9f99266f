"""The engine's durable state on PostgreSQL, shared by several instances of one deployment.

Same tables and the same one-transaction-per-transition rule as the SQLite store
(:mod:`dmdelegation.store.sessions`), plus what sharing needs (``docs/scaling.md``):

- **Serialised transitions.** :meth:`PostgresCoordination.hold` opens a transaction, takes a
  transaction-level advisory lock on the session (and on the device when a process starts), and
  reads the session fresh; the transition's commit ends the transaction and frees the lock. A
  lock another instance holds is not waited for: :class:`~dmdelegation.store.interfaces.Busy`
  (the engine answers 503 to a peer, which retries, and retries its own inputs shortly).
- **Ownership.** Every commit makes this instance the owner of the session and of the outbox
  rows it adds: the owner fires the session's timer and delivers those messages.
- **Leases.** Each instance renews its row in ``instances`` every ``lease / 3`` seconds
  (:meth:`PostgresCoordination.tick`); an instance whose row is older than ``lease`` is dead,
  and the first survivor to lock its row adopts its open sessions and its outbox, then deletes
  the row. Time is the engines' clock (the reactor's, i.e. the wall clock in production), so
  the instances' clocks must agree to well within ``lease``.
- **No cache.** Every read goes to the database: another instance may have moved a session.
- **A lost connection** (the database restarted, the backend was terminated, the network
  dropped) is opened again by the next call (:mod:`dmdelegation.store.reconnect`). A call made
  outside a transaction (a read, or an idempotent delete or update) runs once more on the new
  connection. A transaction the loss cut short is gone, with its locks: the call that found it
  fails (a group commit raises from :meth:`PostgresSessionStore.flush`, none of its commits
  known to be written), and the next call runs on the new connection. No lock outlives a
  transaction, and leases are rows, not connections, so nothing else is to be taken again; an
  instance whose connection came back takes nobody for dead until it has been connected for a
  lease (:meth:`PostgresCoordination.tick`): the others may have been cut off as long as it was.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator

from psycopg.rows import dict_row
from zope.interface import implementer

from dmdelegation.core.model import Delegation, Role, Session
from dmdelegation.store import postgres_sql as sql
from dmdelegation.store.audit import Record
from dmdelegation.store.interfaces import (
    PRUNABLE,
    Busy,
    DeviceCommand,
    ICoordination,
    ISessionStore,
    OutboxItem,
)
from dmdelegation.store.location import DEFAULT_LEASE
from dmdelegation.store.migrations import migrate_postgresql
from dmdelegation.store.postgres_coordination import PostgresCoordination
from dmdelegation.store.postgres_coordination import log as log
from dmdelegation.store.postgres_reads import Reads
from dmdelegation.store.postgres_transactions import _lock_key as _lock_key
from dmdelegation.store.reconnect import Reconnecting
from dmdelegation.store.rows import (
    delegation_from_row,
    outbox_item_from_row,
    response_from_row,
    session_from_row,
    session_values,
)
from dmdelegation.store.sessions import NO_RESPONSE, Commit
from dmdelegation.store.staged import placed

__all__ = ["PostgresCoordination", "PostgresSessionStore"]


@implementer(ISessionStore)
class PostgresSessionStore(Reads):
    """The shared store of the instance ``instance_id``; ``url`` is a libpq connection URL;
    ``clock`` (seconds, ``time.monotonic`` if not given) paces the attempts to reconnect."""

    VERSIONS_KEPT = 4096

    def __init__(
        self,
        url: str,
        *,
        instance_id: str,
        lease: float = DEFAULT_LEASE,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.url = url
        self.instance_id = instance_id
        self.lease = lease
        self._link = Reconnecting(
            url,
            name=f"the PostgreSQL store of instance {instance_id}",
            row_factory=dict_row,
            clock=clock,
        )
        self._in_transaction = False
        self._depth = 0
        self._delivered: set[int] = set()
        # Recorded since the last flush, each with the number of commits staged before it.
        self._commands: list[tuple[int, DeviceCommand]] = []
        self._versions: OrderedDict[str, int] = OrderedDict()
        self._locked: set[str] = set()  # advisory locks held by the open transaction
        self._staged: list[Commit] = []  # written in the open transaction, not yet committed
        self._poisoned: BaseException | None = None
        self._version = self._migrate()
        self._coordination = PostgresCoordination(self)

    def _migrate(self) -> int:
        return migrate_postgresql(self._db)

    def close(self) -> None:
        if not self._db.closed or self._db.broken:  # a lost connection: give up the lease
            try:
                self.flush()  # what is staged is written, as on SQLite
                # A clean stop gives up the lease at once: the next tick of another instance
                # takes over this one's open processes, without waiting for the lease to run out.
                self._x(sql.GIVE_UP_LEASE, (self.instance_id,))
            finally:
                self._end(False)
                self._db.close()

    def schema_version(self) -> int:
        return self._version

    def coordination(self) -> ICoordination:
        return self._coordination

    # sessions

    def get(self, session_id: str) -> Session | None:
        row = self._x(sql.SELECT_SESSION, (session_id,)).fetchone()
        if row is None:
            return None
        self._remember_version(session_id, row["version"])
        return session_from_row(row)

    def _remember_version(self, session_id: str, version: int) -> None:
        """The version the next transition of the session is computed from (kept for the
        sessions read lately; a transition is always computed right after a read)."""
        self._versions[session_id] = version
        self._versions.move_to_end(session_id)
        if len(self._versions) > self.VERSIONS_KEPT:
            self._versions.popitem(last=False)

    def open_sessions(self) -> Iterator[Session]:
        rows = self._x(sql.SELECT_OPEN).fetchall()
        return (session_from_row(r) for r in rows)

    def open_on(self, device_id: str) -> list[Session]:
        rows = self._x(sql.SELECT_OPEN_ON, (device_id,))
        return [session_from_row(r) for r in rows]

    def sessions(self, device_id: str | None = None) -> list[Session]:
        rows = self._of_device(sql.SELECT_SESSIONS, device_id, "created, session_id")
        return [session_from_row(r) for r in rows]

    def count_open_by_state(self) -> dict[tuple[str, str, str], int]:
        rows = self._x(sql.COUNT_OPEN_BY_STATE)
        return {(r["role"], r["process"], r["state"]): int(r["n"]) for r in rows}

    def count_open(self) -> int:
        row = self._x(sql.COUNT_OPEN).fetchone()
        assert row is not None
        return int(row["n"])

    # the one write path

    def stage(self, c: Commit, now: float) -> None:
        """Write ``c`` into the open transaction (the one :meth:`PostgresCoordination.hold`
        opened, if any), which :meth:`flush` commits: the group commit of the engine's reactor
        turn is one PostgreSQL transaction, and the engine's reads see what it staged because
        they run in that transaction. This instance becomes the owner of the session and of the
        outbox rows it adds. If the write fails, the transaction is rolled back and the next
        flush raises the error, none of its commits written (as on SQLite, where the writes
        themselves wait for the flush)."""
        self._staged.append(c)
        if self._poisoned is not None:
            return  # the batch is lost already; the flush says so
        try:
            self._begin()
            # Already held when hold() took it; a path that did not hold still cannot
            # interleave with another instance's transition of the session.
            self._try_lock("session", c.session.session_id)
            self._write(c, now)
        except Exception as e:
            self._poisoned = e
            self._end(False)

    @property
    def staged(self) -> int:
        return len(self._staged)

    def _lose_staged(self) -> None:
        """Roll the transaction back: none of the staged commits is written."""
        lost, self._staged = self._staged, []
        for c in lost:
            c.outbox_ids.clear()
            self._versions.pop(c.session.session_id, None)  # read again before the next
        self._end(False)

    def flush(self) -> list[Commit]:
        """Commit the open transaction (every staged commit, and the delivery
        acknowledgements); the commits written. If that fails, none is, and the error is
        raised."""
        if self._poisoned is not None:
            error, self._poisoned = self._poisoned, None
            self._lose_staged()
            raise error
        if not self._in_transaction:
            self._ack_delivered()
            self._write_commands()
            written, self._staged = self._staged, []
            return written
        try:
            self._ack_delivered()
            self._write_commands()
            self._end(True)
        except BaseException:
            self._poisoned = None  # set if the connection went: this error says it
            self._lose_staged()
            raise
        written, self._staged = self._staged, []
        return written

    def commit(self, c: Commit, now: float) -> Commit:
        self.stage(c, now)
        self.flush()
        return c

    def _write(self, c: Commit, now: float) -> None:
        s = c.session
        me = self.instance_id
        if c.created:
            self._x(sql.INSERT_SESSION, (*session_values(s), now, now, me))
        else:
            read = self._versions.get(s.session_id)
            row = self._x(
                sql.UPDATE_SESSION,
                (*session_values(s)[1:], now, me, s.session_id, read, read),
            ).fetchone()
            if row is None:
                raise Busy(f"session {s.session_id} was moved on by another instance")
            self._remember_version(s.session_id, row["version"])
            return self._write_rest(c, now)
        self._remember_version(s.session_id, 0)
        self._write_rest(c, now)

    def _write_rest(self, c: Commit, now: float) -> None:
        s = c.session
        me = self.instance_id
        if c.cancel_outbox:
            self._x(sql.CANCEL_OUTBOX, (s.session_id,))
        for peer, body in c.outbox:
            row = self._x(sql.INSERT_OUTBOX, (s.session_id, peer, body, now, me)).fetchone()
            assert row is not None
            c.outbox_ids.append(int(row["id"]))
        if c.inbound_root is not None:
            self._x(sql.INSERT_INBOX, (s.session_id, c.inbound_root, now))
        if c.response is not None:
            root, body = c.response
            self._x(sql.SET_RESPONSE, (body, s.session_id, root))
        if c.log:
            with self._db.cursor() as cur:
                cur.executemany(
                    sql.INSERT_LOG,
                    [(x.session_id, x.direction, x.root, x.document, now) for x in c.log],
                )
        if c.register is not None:
            d = c.register
            self._x(
                sql.REGISTER,
                (d.device_id, d.subtree, d.role.value, d.peer, int(d.full), d.since, d.session_id),
            )
        if c.unregister:
            self._x(sql.UNREGISTER, (s.device_id, s.subtree, s.role.value))
        for record in c.records:
            self._record(record, now)

    def _record(self, record: Record, now: float) -> None:
        """An audit event or a timed delegation's expiry (``Record.write`` is SQLite's)."""
        self._x(*sql.record_statement(record, now))

    # inbox: replays

    def seen(self, session_id: str, root: str) -> object:
        row = self._x(sql.SELECT_RESPONSE, (session_id, root)).fetchone()
        return NO_RESPONSE if row is None else response_from_row(row)

    # outbox: this instance's

    def outbox(self) -> list[OutboxItem]:
        items = map(outbox_item_from_row, self._x(sql.SELECT_OUTBOX, (self.instance_id,)))
        return [item for item in items if item.id not in self._delivered]

    def outbox_item(self, item_id: int) -> OutboxItem | None:
        if item_id in self._delivered:
            return None
        row = self._x(sql.SELECT_OUTBOX_ITEM, (item_id, self.instance_id)).fetchone()
        return None if row is None else outbox_item_from_row(row)

    def delivered(self, item_id: int) -> None:
        """Gone at once (outside a transaction; else with its commit): an instance that
        adopts this one's outbox must not send it again."""
        self._delivered.add(item_id)
        if not self._in_transaction:
            self._ack_delivered()

    def _write_commands(self) -> None:
        """The device commands recorded since the last flush, in the flush's transaction (or
        on their own when nothing else is written); kept for the next flush if that fails."""
        commands, self._commands = self._commands, []
        if not commands:
            return
        try:
            rows = placed(commands, self._staged, self._written_before(commands))
            self._db.cursor().executemany(sql.INSERT_DEVICE_COMMAND, rows)
        except BaseException:
            self._commands[:0] = [(0, c) for _, c in commands]
            raise

    def _ack_delivered(self) -> None:
        if self._delivered:
            self._x(sql.DELETE_DELIVERED, (list(self._delivered),))
            self._delivered.clear()

    # registry

    def delegations(
        self, device_id: str | None = None, role: Role | None = None
    ) -> list[Delegation]:
        query = sql.SELECT_DELEGATIONS
        args: list[str] = []
        if device_id is not None:
            query += " AND device_id = %s"
            args.append(device_id)
        if role is not None:
            query += " AND role = %s"
            args.append(role.value)
        return [delegation_from_row(r) for r in self._x(query + " ORDER BY since, subtree", args)]

    # message log

    def prune(self, before: float) -> int:
        """Three deletes, each harmless to run again: a session's log and inbox go first, so
        that a session is never left without them while it is still listed."""
        prunable = PRUNABLE.format(p="%s")
        found = len(self._x(prunable, (before,)).fetchall())
        if found:
            for table in ("message_log", "device_commands", "inbox", "sessions"):
                self._x(
                    f"DELETE FROM {table} WHERE session_id IN ({prunable})",
                    (before,),
                )
        return found

    def record_command(self, command: DeviceCommand) -> None:
        self._commands.append((len(self._staged), command))


_item = outbox_item_from_row  # by the name it had here
