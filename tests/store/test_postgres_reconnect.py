"""Both PostgreSQL stores ride out a lost connection: the server terminates the store's backend
(``pg_terminate_backend``, as a restart or a dropped network does to it), and the store opens a
new connection on its next call. A read runs again on the new connection; a transaction the
loss cut short fails, and the next one is written; a database that stays unreachable fails
every call with a clear error, logged once, tried again only after a back-off on the store's
clock (nothing here sleeps)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from twisted.logger import ILogObserver, LogEvent, LogLevel, formatEvent, globalLogPublisher
from zope.interface import implementer

from dmdelegation.client import StepState
from dmdelegation.client.testing import fired, fired_failure
from dmdelegation.store.interfaces import Busy, Commit
from dmdelegation.store.journal_postgres import PostgresJournalStore
from dmdelegation.store.postgres import PostgresSessionStore
from dmdelegation.store.reconnect import FIRST_DELAY, StoreUnavailable
from dmdelegation.store.throwaway import ThrowawayPostgres
from dmdelegation.tree import URI, Value
from dmdelegation.tree.journal import AddStep, ReplaceStep

from .outage import backend, kill, unreachable
from .test_contract import session

__all__ = ["unreachable"]  # a fixture

A = URI.parse("./A")


class Seconds:
    """The stores' clock for their back-off, moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@implementer(ILogObserver)
class Events(list[LogEvent]):
    def __call__(self, event: LogEvent) -> None:
        self.append(event)


@pytest.fixture
def logged() -> Iterator[list[LogEvent]]:
    events = Events()
    globalLogPublisher.addObserver(events)
    yield events
    globalLogPublisher.removeObserver(events)


def lines(events: list[LogEvent], level: LogLevel) -> list[str]:
    return [str(formatEvent(e)) for e in events if e.get("log_level") is level]


@pytest.fixture
def url(postgres: ThrowawayPostgres) -> str:
    return postgres.fresh_url()


@pytest.fixture
def opened() -> Iterator[list[PostgresSessionStore | PostgresJournalStore]]:
    stores: list[PostgresSessionStore | PostgresJournalStore] = []
    yield stores
    for store in stores:
        store.close()


def open_store(
    url: str, opened: list[Any], name: str = "a", clock: Seconds | None = None
) -> PostgresSessionStore:
    store = PostgresSessionStore(url, instance_id=name, lease=10.0, clock=clock)
    opened.append(store)
    return store


def test_a_read_works_again_after_the_backend_is_killed(
    postgres: ThrowawayPostgres, url: str, opened: list[Any], logged: list[LogEvent]
) -> None:
    store = open_store(url, opened)
    store.commit(Commit(session(), created=True), 1.0)
    old = kill(postgres, store._db)
    assert store.get("s1") == session()  # on a new connection, the first one's loss unseen
    assert backend(store._db) != old
    assert store.count_open() == 1
    [warning] = lines(logged, LogLevel.warn)
    assert "the PostgreSQL store of instance a" in warning
    assert "connection lost" in warning
    assert lines(logged, LogLevel.error) == []


def test_a_group_commit_in_flight_fails_and_the_next_flush_is_durable(
    postgres: ThrowawayPostgres, url: str, opened: list[Any]
) -> None:
    store = open_store(url, opened)
    store.commit(Commit(session(), created=True), 1.0)
    with store.coordination().hold("s1") as held:
        assert held == session()
        moved = Commit(session(state="moved"), outbox=[("dms2.example", b"<m/>")])
        store.stage(moved, 2.0)
        store.stage(Commit(session(2, device="IMEI:2"), created=True), 2.0)
        assert store.get("s1") == session(state="moved")  # the turn's reads see the staged
    kill(postgres, store._db)
    with pytest.raises(psycopg.OperationalError):
        store.flush()  # its COMMIT never reached the server: none of the turn is written
    assert moved.outbox_ids == []
    assert store.staged == 0
    # Read as on disk: by this store (on a new connection) and by another instance.
    assert store.get("s1") == session()
    assert store.get("s2") is None
    assert store.outbox() == []
    assert open_store(url, opened, "b").get("s1") == session()
    # The next group commit works on the new connection, and is durable.
    with store.coordination().hold("s1") as held:
        assert held == session()
        store.stage(Commit(session(state="moved"), outbox=[("dms2.example", b"<m/>")]), 3.0)
        store.stage(Commit(session(2, device="IMEI:2"), created=True), 3.0)
    [first, _] = store.flush()
    assert len(first.outbox_ids) == 1
    again = open_store(url, opened, "c")
    assert again.get("s1") == session(state="moved")
    assert again.get("s2") == session(2, device="IMEI:2")
    assert [i.body for i in store.outbox()] == [b"<m/>"]


def test_a_killed_backend_frees_its_locks_and_a_hold_fails_only_once(
    postgres: ThrowawayPostgres, url: str, opened: list[Any]
) -> None:
    """The session's lock went with the backend: another instance may hold the session at
    once (this one's transaction was rolled back, so nothing of it can be committed)."""
    a, b = open_store(url, opened, "a"), open_store(url, opened, "b")
    a.commit(Commit(session(), created=True), 1.0)
    with a.coordination().hold("s1"):
        with pytest.raises(Busy), b.coordination().hold("s1"):
            pass
        kill(postgres, a._db)
        with pytest.raises(psycopg.OperationalError):
            a.get("s1")  # a read inside the lost transaction: no lock to read under
        with b.coordination().hold("s1") as seen_by_b:
            assert seen_by_b == session()
            b.commit(Commit(session(state="moved by b")), 2.0)
    with a.coordination().hold("s1") as held:  # the next hold, on a new connection
        assert held == session(state="moved by b")
        a.commit(Commit(session(state="moved by a")), 3.0)
    assert b.get("s1") == session(state="moved by a")


def test_a_write_outside_a_transaction_and_a_tick_work_after_the_kill(
    postgres: ThrowawayPostgres, url: str, opened: list[Any]
) -> None:
    store = open_store(url, opened)
    [item] = store.commit(
        Commit(session(), created=True, outbox=[("dms2.example", b"<m/>")]), 1.0
    ).outbox_ids
    store.coordination().tick(1.0)
    kill(postgres, store._db)
    store.delivered(item)  # deleted at once, on the new connection
    assert open_store(url, opened, "b").outbox_item(item) is None
    kill(postgres, store._db)
    assert store.coordination().tick(2.0).sessions == []
    with psycopg.connect(url) as db:
        assert db.execute("SELECT seen FROM instances WHERE instance_id = 'a'").fetchone() == (2.0,)


def test_after_a_reconnection_nobody_is_taken_for_dead_until_a_lease_has_passed(
    postgres: ThrowawayPostgres, url: str, opened: list[Any]
) -> None:
    """The database was unreachable for longer than a lease: every instance's lease ran out
    meanwhile. The first to come back must not take the others' processes, which renew as soon
    as they can; an instance that does not come back is adopted a lease later."""
    a, b, c = (open_store(url, opened, name) for name in "abc")
    a.commit(Commit(session(1), created=True), 1.0)
    b.commit(Commit(session(2, device="IMEI:2"), created=True), 1.0)
    c.commit(Commit(session(3, device="IMEI:3"), created=True), 1.0)
    for store in (a, b, c):
        store.coordination().tick(1.0)
    kill(postgres, b._db)
    kill(postgres, c._db)
    kill(postgres, a._db)
    assert a.coordination().tick(30.0).sessions == []  # b and c 29 s old, lease 10 s
    b.coordination().tick(31.0)  # b comes back; c does not
    assert a.coordination().tick(35.0).sessions == []
    adopted = a.coordination().tick(40.0)  # a lease after a's reconnection
    assert [s.session_id for s in adopted.sessions] == ["s3"]
    assert b.coordination().owns("s2")
    assert a.coordination().owns("s3")


def test_a_database_that_stays_unreachable_fails_clearly_logged_once_with_back_off(
    postgres: ThrowawayPostgres,
    unreachable: tuple[str, Any],
    opened: list[Any],
    logged: list[LogEvent],
) -> None:
    url, refuse = unreachable
    clock = Seconds()
    store = open_store(url, opened, clock=clock)
    store.commit(Commit(session(), created=True), 1.0)
    refuse(True)
    kill(postgres, store._db)
    with pytest.raises(StoreUnavailable) as first:
        store.get("s1")
    message = str(first.value)
    assert "the PostgreSQL store of instance a" in message
    assert "postgresql://dmdelegation:***@/unreachable" in message
    assert "not currently accepting connections" in message
    assert "s3cret" not in message
    assert f"next attempt in {FIRST_DELAY:.1f} s" in message
    refuse(False)
    # Within the back-off nothing is tried: the database would take it now, but the call
    # fails at once without reaching for it.
    for call in (store.count_open, store.outbox, lambda: store.coordination().tick(2.0)):
        with pytest.raises(StoreUnavailable):
            call()
    refuse(True)
    clock.now += FIRST_DELAY
    with pytest.raises(StoreUnavailable) as second:
        store.get("s1")  # tried again, refused again: the delay doubles
    assert f"next attempt in {2 * FIRST_DELAY:.1f} s" in str(second.value)
    refuse(False)
    clock.now += 2 * FIRST_DELAY
    assert store.get("s1") == session()
    store.commit(Commit(session(state="moved")), 3.0)
    everything = [str(formatEvent(e)) for e in logged]
    assert not any("s3cret" in line for line in everything)
    [error] = lines(logged, LogLevel.error)  # once for the outage, not once per call
    assert "the PostgreSQL store of instance a" in error
    assert "***" in error
    assert len(lines(logged, LogLevel.warn)) == 1  # the loss
    assert any("connected again" in line for line in lines(logged, LogLevel.info))


def test_a_store_closed_on_purpose_stays_closed(url: str) -> None:
    store = PostgresSessionStore(url, instance_id="a")
    store.close()
    with pytest.raises(psycopg.OperationalError):
        store.get("s1")


# the undo journals


def test_the_journal_store_reads_and_appends_again_after_the_kill(
    postgres: ThrowawayPostgres, url: str, opened: list[Any], logged: list[LogEvent]
) -> None:
    journals = PostgresJournalStore(url)
    opened.append(journals)
    journal = journals.open("delegation-1", "IMEI:1", "dms1.example")
    assert fired(journal.append(AddStep(A))) == 1
    kill(postgres, journals._conn)
    assert journals.journal_ids() == ["delegation-1"]  # a read: run again
    kill(postgres, journals._conn)
    again = journals.open("delegation-1", "IMEI:1", "dms1.example")  # adds nothing: run again
    assert fired(again.append(ReplaceStep(A, Value.integer(2)))) == 2
    fired(journal.mark(1, StepState.APPLIED))
    kill(postgres, journals._conn)
    # An append the loss cut short fails (run again, it could add its step twice): its change
    # is not sent. The next one runs on a new connection, with the mark held.
    failure = fired_failure(journal.append(ReplaceStep(A, Value.integer(3))))
    assert isinstance(failure.value, psycopg.OperationalError)
    assert fired(journal.append(ReplaceStep(A, Value.integer(4)))) == 3
    with psycopg.connect(url) as db:
        rows = db.execute("SELECT seq, state FROM journal_steps ORDER BY seq").fetchall()
    assert rows == [(1, "applied"), (2, "pending"), (3, "pending")]
    assert [e.seq for e in fired(journal.entries())] == [1, 2, 3]
    assert len(lines(logged, LogLevel.warn)) == 3  # one per loss
    assert all("the PostgreSQL undo journal store" in w for w in lines(logged, LogLevel.warn))


def test_the_journal_store_fails_clearly_while_its_database_is_unreachable(
    postgres: ThrowawayPostgres,
    unreachable: tuple[str, Any],
    opened: list[Any],
    logged: list[LogEvent],
) -> None:
    url, refuse = unreachable
    clock = Seconds()
    journals = PostgresJournalStore(url, clock=clock)
    opened.append(journals)
    journal = journals.open("delegation-1", "IMEI:1", "dms1.example")
    refuse(True)
    kill(postgres, journals._conn)
    failure = fired_failure(journal.append(AddStep(A)))
    assert isinstance(failure.value, psycopg.OperationalError)  # the loss itself
    for _ in range(3):
        failure = fired_failure(journal.append(AddStep(A)))
        assert isinstance(failure.value, StoreUnavailable)
        message = str(failure.value)
        assert "the PostgreSQL undo journal store" in message
        assert "s3cret" not in message
        assert "***" in message
    assert len(lines(logged, LogLevel.error)) == 1
    refuse(False)
    clock.now += FIRST_DELAY
    assert fired(journal.append(AddStep(A))) == 1
