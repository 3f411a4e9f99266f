"""How the instances sharing one PostgreSQL store stay out of each other's way: advisory locks,
ownership and leases (:mod:`dmdelegation.store.postgres`, whose docstring says the rules)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from twisted.logger import Logger
from zope.interface import implementer

from dmdelegation.core.model import Session
from dmdelegation.store import postgres_sql as sql
from dmdelegation.store.interfaces import Adopted, ICoordination
from dmdelegation.store.rows import session_from_row

if TYPE_CHECKING:
    from dmdelegation.store.postgres import PostgresSessionStore

log = Logger(namespace="dmdelegation.store.postgres")  # the namespace it had before the split


@implementer(ICoordination)
class PostgresCoordination:
    """Advisory locks, ownership and leases over one :class:`PostgresSessionStore`."""

    shared = True

    def __init__(self, store: PostgresSessionStore) -> None:
        self.store = store
        self.instance_id = store.instance_id
        self.interval = store.lease / 3
        self._joined = False
        self._reopened = 0  # the store's reconnections seen by the last tick
        self._judge_from = 0.0  # no instance is taken for dead before this time

    @contextmanager
    def hold(self, session_id: str | None) -> Iterator[Session | None]:
        store = self.store
        store._depth += 1
        try:
            store._begin()
            if session_id is None:
                yield None
            else:
                store._try_lock("session", session_id)
                yield store.get(session_id)
        finally:
            store._depth -= 1
            if store._depth == 0 and not store._staged:
                store._end(False)  # nothing staged: free the locks now
            # else the locks are freed by the flush that commits what was staged under them

    def lock_device(self, device_id: str) -> None:
        self.store._begin()
        self.store._try_lock("device", device_id)

    def owns(self, session_id: str) -> bool:
        row = self.store._x(sql.OWNER, (session_id,)).fetchone()
        return row is not None and row["owner"] == self.instance_id

    def resumable(self) -> Iterator[Session]:
        rows = self.store._x(sql.RESUMABLE, (self.instance_id,)).fetchall()
        return (session_from_row(r) for r in rows)

    def tick(self, now: float) -> Adopted:
        store = self.store
        me = self.instance_id
        if store._staged:  # a group commit is pending in this turn: renew at the next tick
            return Adopted()
        store._begin()
        if store._link.reopened != self._reopened:
            # The connection came back after a loss: the others may have been cut off from the
            # database as long as this instance was, and had no way to renew their leases.
            # Taken for dead only once they have had a lease's time to renew since.
            self._reopened = store._link.reopened
            self._judge_from = now + store.lease
        try:
            renewed = store._x(sql.RENEW_LEASE, (now, me)).rowcount
            if not renewed:
                store._x(sql.JOIN, (me, now, now))
            dead = (
                [r["instance_id"] for r in store._x(sql.DEAD, (me, now - store.lease))]
                if now >= self._judge_from
                else []
            )
            sessions: list[Session] = []
            outbox: list[int] = []
            for other in dead:
                sessions += map(session_from_row, store._x(sql.ADOPT_SESSIONS, (me, other)))
                outbox += [int(r["id"]) for r in store._x(sql.ADOPT_OUTBOX, (me, other))]
                store._x(sql.FORGET_INSTANCE, (other,))
        except BaseException:
            store._end(False)
            raise
        store._end(True)
        if not renewed and self._joined:
            log.error(
                "instance {instance} was taken for dead (its lease ran out) and its processes "
                "were adopted by another instance; it rejoins",
                instance=me,
            )
        self._joined = True
        for other in dead:
            log.warn(
                "instance {dead} missed its lease: {me} took over its open processes",
                dead=other,
                me=me,
            )
        return Adopted(sessions=sorted(sessions, key=lambda s: s.session_id), outbox=sorted(outbox))
