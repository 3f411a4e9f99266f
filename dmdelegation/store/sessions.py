"""The engine's durable state in one SQLite file (WAL).

Every transition is one :class:`Commit`: the session's new state, the messages it sends
(outbox), the inbound message it consumed (inbox, for replays), the log lines, and the registry
change, together. The engine *stages* the commits of one reactor turn (:meth:`SessionStore.stage`)
and writes them in one transaction (:meth:`SessionStore.flush`): group commit, one write of the
WAL (and with ``durability="full"`` one fsync) for every transition of the turn instead of one
each. Nothing is acknowledged to a peer or sent before the flush that holds its transition.
Staged transitions are already visible to the engine's own reads (a session's state, replays,
the open sessions of a device, the registry), so two inputs of one turn see each other;
``commit`` is stage then flush, for callers that want one transition written at once.

``synchronous=NORMAL`` in WAL mode makes a commit survive the death of the process (the case the
engine is built for: a daemon killed at any point); ``durability="full"`` also survives a power
cut, at the price of an fsync per transition.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Iterator

from zope.interface import implementer

from dmdelegation.client import checkpoints
from dmdelegation.client.database import Durability
from dmdelegation.core.model import Delegation, Role, Session
from dmdelegation.store import sessions_sql as sql
from dmdelegation.store.audit import Record
from dmdelegation.store.coordination import SingleInstance
from dmdelegation.store.interfaces import (
    Commit,
    DeviceCommand,
    ICoordination,
    ISessionStore,
    LogLine,
    OutboxItem,
)
from dmdelegation.store.rows import (
    SESSION_COLUMNS,
    delegation_from_row,
    outbox_item_from_row,
    response_from_row,
    session_from_row,
    session_values,
)
from dmdelegation.store.sessions_reads import Reads
from dmdelegation.store.sessions_sql import migrate_sqlite
from dmdelegation.store.staged import placed, registry_after

__all__ = ["NO_RESPONSE", "Commit", "LogLine", "OutboxItem", "Record", "SessionStore"]

NO_RESPONSE = object()

# The row decoding (dmdelegation.store.rows), by the names it had here.
_COLUMNS = SESSION_COLUMNS
_session = session_from_row
_values = session_values
_delegation = delegation_from_row
_UPDATE = sql.UPDATE_SESSION


@implementer(ISessionStore)
class SessionStore(Reads):
    """SQLite-backed durable state of one engine.

    Recently used sessions are kept in a small LRU cache (reads of a session between two of its
    transitions cost nothing), and so are the session ids read and found missing (a new
    request's, read twice before it is created): this store is its file's one writer.
    Deliveries are acknowledged lazily: ``delivered`` removes the item from view at once and
    from disk with the next commit; a crash in between only means the message is sent again,
    which the receiver recognises as a replay.

    One instance writes the file, so what this store wrote is what the file holds; two more
    reads are answered from memory on that ground. The outbox items it has written and not yet
    seen delivered or cancelled are kept: ``outbox_item`` reads the file only for the others,
    those found there at start. And for a cached session it created, the roots of the inbound
    messages it recorded are kept (not their answers): ``seen`` reads the file only for a
    message taken already, to fetch its answer.
    """

    CACHE_SIZE = 4096

    def __init__(self, path: str | os.PathLike[str], *, durability: Durability = "normal") -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            checkpoints.writing(self._db, self.path)  # off the reactor's thread
        self._db.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
        self._version = migrate_sqlite(self._db, time.time())
        self._cache: OrderedDict[str, Session] = OrderedDict()
        self._delivered: set[int] = set()
        self._outbox: dict[int, OutboxItem] = {}  # written since open, in the file, undelivered
        self._outbox_of: dict[str, list[int]] = {}  # session -> its items in _outbox
        # Of each cached session this store created: the root of every inbound message taken.
        self._inbox_roots: dict[str, frozenset[str]] = {}
        self._absent: set[str] = set()  # session ids read and found missing (a new session's)
        self._staged: list[tuple[Commit, float]] = []  # with the time each was staged
        self._staged_sessions: dict[str, Session] = {}  # newest staged state of each session
        self._staged_devices: dict[str, set[str]] = {}  # device -> its staged sessions
        self._staged_inbox: dict[tuple[str, str], bytes | None] = {}
        self._staged_registry: dict[str, list[Commit]] = {}  # device -> its registry changes
        # Recorded since the last flush, each with the number of commits staged before it.
        self._commands: list[tuple[int, DeviceCommand]] = []
        if self.path != ":memory:":
            os.chmod(self.path, 0o600)  # the outbox holds DMAcc credentials until delivered

    def close(self) -> None:
        self.flush()
        self._db.close()
        if self.path != ":memory:":
            checkpoints.closed(self.path)

    # sessions

    def get(self, session_id: str) -> Session | None:
        staged = self._staged_sessions.get(session_id)
        if staged is not None:
            return staged
        cached = self._cache.get(session_id)
        if cached is not None:
            self._cache.move_to_end(session_id)
            return cached
        if session_id in self._absent:
            return None
        row = self._db.execute(sql.SELECT_SESSION, (session_id,)).fetchone()
        if row is None:
            if len(self._absent) >= self.CACHE_SIZE:
                self._absent.clear()
            self._absent.add(session_id)
            return None
        session = _session(row)
        self._remember(session)
        return session

    def _remember(self, session: Session) -> None:
        self._cache[session.session_id] = session
        self._cache.move_to_end(session.session_id)
        if len(self._cache) > self.CACHE_SIZE:
            evicted, _ = self._cache.popitem(last=False)
            self._inbox_roots.pop(evicted, None)  # from now on, seen() reads the file

    def open_sessions(self) -> Iterator[Session]:
        for row in self._db.execute(sql.SELECT_OPEN):
            yield _session(row)

    def open_on(self, device_id: str) -> list[Session]:
        rows = self._db.execute(sql.SELECT_OPEN_ON, (device_id,))
        found = {s.session_id: s for s in map(_session, rows)}
        for session_id in self._staged_devices.get(device_id, ()):
            found[session_id] = self._staged_sessions[session_id]
        return [s for s in found.values() if s.is_open]

    def sessions(self, device_id: str | None = None) -> list[Session]:
        query = sql.SELECT_SESSIONS
        rows = (
            self._db.execute(query + " WHERE device_id = ? ORDER BY created", (device_id,))
            if device_id is not None
            else self._db.execute(query + " ORDER BY created")
        )
        return [_session(r) for r in rows]

    def count_open_by_state(self) -> dict[tuple[str, str, str], int]:
        """Open sessions by (role, process, state)."""
        rows = self._db.execute(sql.COUNT_OPEN_BY_STATE)
        return {(r[0], r[1], r[2]): int(r[3]) for r in rows}

    def count_open(self) -> int:
        (n,) = self._db.execute(sql.COUNT_OPEN).fetchone()
        return int(n)

    # the one write path

    def stage(self, c: Commit, now: float) -> None:
        """Take ``c`` into the next :meth:`flush`; the engine's reads see it at once."""
        self._staged.append((c, now))
        s = c.session
        self._absent.discard(s.session_id)
        self._staged_sessions[s.session_id] = s
        self._staged_devices.setdefault(s.device_id, set()).add(s.session_id)
        if c.inbound_root is not None:
            self._staged_inbox.setdefault((s.session_id, c.inbound_root), None)
        if c.response is not None:  # an answer is kept for a message that was taken
            key = (s.session_id, c.response[0])
            if key in self._staged_inbox or self.seen(*key) is not NO_RESPONSE:
                self._staged_inbox[key] = c.response[1]
        if c.register is not None or c.unregister:
            self._staged_registry.setdefault(s.device_id, []).append(c)

    @property
    def staged(self) -> int:
        return len(self._staged)

    def flush(self) -> list[Commit]:
        """Write every staged commit, and the delivery acknowledgements, in one transaction.

        Returns the commits written (each with its ``outbox_ids``). If the transaction fails,
        none of them is written, their sessions read as they last were on disk, and the error
        is raised.
        """
        staged, self._staged = self._staged, []
        self._staged_sessions.clear()
        self._staged_devices.clear()
        self._staged_inbox.clear()
        self._staged_registry.clear()
        commands, self._commands = self._commands, []
        if not staged and not self._delivered and not commands:
            return []
        db = self._db
        before = {  # each recording session's log lines already written
            session_id: self._logged(session_id)
            for session_id in {c.session_id for _, c in commands}
        }
        checkpoints.CHECKPOINTER.ensure_running()  # after a fork (twistd), from the first commit
        db.execute("BEGIN IMMEDIATE")
        try:
            if self._delivered:
                db.executemany(sql.DELETE_DELIVERED, [(i,) for i in self._delivered])
            log: list[tuple[str, str, str, str, float]] = []
            for c, now in staged:
                self._write(c, now)
                log.extend((x.session_id, x.direction, x.root, x.document, now) for x in c.log)
            if log:  # every transition's lines, in order, in one statement
                db.executemany(sql.INSERT_LOG, log)
            if commands:
                db.executemany(
                    sql.INSERT_DEVICE_COMMAND, placed(commands, [c for c, _ in staged], before)
                )
        except BaseException:
            self._commands[:0] = [(0, c) for _, c in commands]  # tried with the next flush
            db.execute("ROLLBACK")
            for c, _ in staged:
                self._cache.pop(c.session.session_id, None)
                c.outbox_ids.clear()
            raise
        db.execute("COMMIT")
        self._delivered.clear()
        for c, now in staged:
            self._track_inbox(c)
            self._remember(c.session)
            self._track_outbox(c, now)
        return [c for c, _ in staged]

    def _track_inbox(self, c: Commit) -> None:
        """Keep the inbox roots of a session created here, as ``_write`` recorded them."""
        session_id = c.session.session_id
        if c.created:
            self._inbox_roots[session_id] = frozenset()
        roots = self._inbox_roots.get(session_id)
        if roots is not None and c.inbound_root is not None and c.inbound_root not in roots:
            self._inbox_roots[session_id] = roots | {c.inbound_root}

    def _track_outbox(self, c: Commit, now: float) -> None:
        """Mirror in memory what ``c`` did to the outbox (``_write``: cancel, then add)."""
        session_id = c.session.session_id
        if c.cancel_outbox:
            for item_id in self._outbox_of.pop(session_id, ()):
                self._outbox.pop(item_id, None)
        if c.outbox_ids:
            ids = self._outbox_of.setdefault(session_id, [])
            for (peer, body), item_id in zip(c.outbox, c.outbox_ids, strict=True):
                self._outbox[item_id] = OutboxItem(item_id, session_id, peer, body, now)
                ids.append(item_id)

    def commit(self, c: Commit, now: float) -> Commit:
        """Make ``c`` (and anything staged before it) durable now; fills ``c.outbox_ids``."""
        self.stage(c, now)
        self.flush()
        return c

    def _write(self, c: Commit, now: float) -> None:
        """Everything of ``c`` but its log lines (written by `flush` for the whole batch)."""
        db = self._db
        s = c.session
        if c.created:
            db.execute(sql.INSERT_SESSION, (*_values(s), now, now))
        else:
            db.execute(sql.UPDATE_SESSION, (*_values(s)[1:], now, s.session_id))
        if c.cancel_outbox:
            db.execute(sql.CANCEL_OUTBOX, (s.session_id,))
        for peer, body in c.outbox:
            cur = db.execute(sql.INSERT_OUTBOX, (s.session_id, peer, body, now))
            assert cur.lastrowid is not None
            c.outbox_ids.append(cur.lastrowid)
        if c.inbound_root is not None:
            db.execute(sql.INSERT_INBOX, (s.session_id, c.inbound_root, now))
        if c.response is not None:
            root, body = c.response
            db.execute(sql.SET_RESPONSE, (body, s.session_id, root))
        if c.register is not None:
            d = c.register
            db.execute(
                sql.REGISTER,
                (d.device_id, d.subtree, d.role.value, d.peer, int(d.full), d.since, d.session_id),
            )
        if c.unregister:
            db.execute(sql.UNREGISTER, (s.device_id, s.subtree, s.role.value))
        for record in c.records:
            record.write(db, now)

    # inbox: replays

    def seen(self, session_id: str, root: str) -> object:
        """``NO_RESPONSE`` if never seen; else the stored answer (``None`` if none yet)."""
        key = (session_id, root)
        if key in self._staged_inbox:
            return self._staged_inbox[key]
        roots = self._inbox_roots.get(session_id)
        if roots is not None and root not in roots:
            return NO_RESPONSE
        row = self._db.execute(sql.SELECT_RESPONSE, (session_id, root)).fetchone()
        return NO_RESPONSE if row is None else response_from_row(row)

    # outbox

    def outbox(self) -> list[OutboxItem]:
        items = map(outbox_item_from_row, self._db.execute(sql.SELECT_OUTBOX))
        return [item for item in items if item.id not in self._delivered]

    def outbox_item(self, item_id: int) -> OutboxItem | None:
        if item_id in self._delivered:
            return None
        item = self._outbox.get(item_id)
        if item is not None:
            return item
        r = self._db.execute(sql.SELECT_OUTBOX_ITEM, (item_id,)).fetchone()
        return None if r is None else outbox_item_from_row(r)

    def delivered(self, item_id: int) -> None:
        """The item reached its peer: gone now, and from disk with the next flush."""
        self._delivered.add(item_id)
        item = self._outbox.pop(item_id, None)
        if item is not None:
            ids = self._outbox_of[item.session_id]
            ids.remove(item_id)
            if not ids:
                del self._outbox_of[item.session_id]

    # registry

    def delegations(
        self, device_id: str | None = None, role: Role | None = None
    ) -> list[Delegation]:
        query = sql.SELECT_DELEGATIONS
        args: list[str] = []
        if device_id is not None:
            query += " AND device_id = ?"
            args.append(device_id)
        if role is not None:
            query += " AND role = ?"
            args.append(role.value)
        found = [_delegation(r) for r in self._db.execute(query + " ORDER BY since", args)]
        changes = (  # in order within a device; devices are independent of each other
            self._staged_registry.get(device_id, [])
            if device_id is not None
            else [c for device_changes in self._staged_registry.values() for c in device_changes]
        )
        return registry_after(found, changes, device_id, role)  # applied as _write will

    # schema and coordination

    def schema_version(self) -> int:
        return self._version

    def coordination(self) -> ICoordination:
        return SingleInstance(self)

    # message log

    def prune(self, before: float) -> int:
        ids = sql.prune(self._db, before)
        for session_id in ids:
            self._cache.pop(session_id, None)
            self._inbox_roots.pop(session_id, None)
        return len(ids)

    def record_command(self, command: DeviceCommand) -> None:
        self._commands.append((len(self._staged), command))
