"""Several instances on one PostgreSQL database: locks, ownership, leases and adoption."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from dmdelegation.engine.model import Outcome
from dmdelegation.store.interfaces import Busy, Commit
from dmdelegation.store.postgres import PostgresSessionStore
from dmdelegation.store.throwaway import ThrowawayPostgres

from .test_contract import session

Instance = Callable[[str], PostgresSessionStore]


@pytest.fixture
def instance(postgres: ThrowawayPostgres) -> Iterator[Instance]:
    url = postgres.fresh_url()
    opened: list[PostgresSessionStore] = []

    def open_instance(name: str) -> PostgresSessionStore:
        store = PostgresSessionStore(url, instance_id=name, lease=10.0)
        opened.append(store)
        return store

    yield open_instance
    for store in opened:
        store.close()


def test_a_held_session_is_busy_for_the_other_instance_until_committed(instance: Instance) -> None:
    a, b = instance("a"), instance("b")
    a.commit(Commit(session(), created=True), 1.0)
    with a.coordination().hold("s1") as held:
        assert held == session()
        with pytest.raises(Busy), b.coordination().hold("s1"):
            pass
        a.commit(Commit(session(state="moved")), 2.0)  # ends the transaction: lock freed
        with b.coordination().hold("s1") as seen_by_b:
            assert seen_by_b == session(state="moved")


def test_a_transition_computed_from_a_replaced_state_is_refused(instance: Instance) -> None:
    """Even without a hold (a path that forgot it, or a commit deferred past it), a transition
    is not written over another instance's newer one."""
    a, b = instance("a"), instance("b")
    a.commit(Commit(session(), created=True), 1.0)
    assert a.get("s1") == session()  # a computes its next state from this...
    b.get("s1")
    b.commit(Commit(session(state="moved by b")), 2.0)  # ...but b moves the session first
    with pytest.raises(Busy):
        a.commit(Commit(session(state="moved by a"), outbox=[("p", b"<x/>")]), 3.0)
    assert a.get("s1") == session(state="moved by b")
    assert a.outbox() == []
    a.commit(Commit(session(state="moved by a")), 4.0)  # computed from a fresh read: taken
    assert b.get("s1") == session(state="moved by a")


def test_leaving_a_hold_without_commit_frees_the_lock_and_changes_nothing(
    instance: Instance,
) -> None:
    a, b = instance("a"), instance("b")
    a.commit(Commit(session(), created=True), 1.0)
    with a.coordination().hold("s1"):
        pass
    with b.coordination().hold("s1") as held:
        assert held == session()


def test_a_device_is_locked_while_a_process_starts_on_it(instance: Instance) -> None:
    a, b = instance("a"), instance("b")
    with a.coordination().hold(None):
        a.coordination().lock_device("IMEI:1")
        with pytest.raises(Busy), b.coordination().hold(None):
            b.coordination().lock_device("IMEI:1")
        with b.coordination().hold(None):
            b.coordination().lock_device("IMEI:2")  # another device is free
    with b.coordination().hold(None):
        b.coordination().lock_device("IMEI:1")


def test_the_last_instance_to_commit_owns_the_session(instance: Instance) -> None:
    a, b = instance("a"), instance("b")
    a.commit(Commit(session(), created=True), 1.0)
    with a.coordination().hold("s1"):
        assert a.coordination().owns("s1")
    with b.coordination().hold("s1"):
        assert not b.coordination().owns("s1")
        b.commit(Commit(session(state="moved")), 2.0)
    with a.coordination().hold("s1"):
        assert not a.coordination().owns("s1")
    assert [s.session_id for s in b.coordination().resumable()] == ["s1"]
    assert list(a.coordination().resumable()) == []


def test_an_instance_delivers_only_its_own_outbox(instance: Instance) -> None:
    a, b = instance("a"), instance("b")
    c = a.commit(Commit(session(), created=True, outbox=[("p", b"<a/>")]), 1.0)
    (item_id,) = c.outbox_ids
    assert [i.id for i in a.outbox()] == [item_id]
    assert b.outbox() == []
    assert b.outbox_item(item_id) is None


def test_a_dead_instances_work_is_adopted_by_exactly_one_survivor(instance: Instance) -> None:
    a, b, c = instance("a"), instance("b"), instance("c")
    for store in (a, b, c):
        store.coordination().tick(100.0)
    a.commit(Commit(session(1), created=True, outbox=[("p", b"<x/>")]), 100.0)
    ended = session(2, device="IMEI:2", state="done", outcome=Outcome.DELEGATED)
    a.commit(Commit(ended, created=True), 100.0)  # closed: nothing to adopt
    a.commit(Commit(session(3, device="IMEI:3"), created=True, outbox=[("p", b"<y/>")]), 100.0)
    delivered, pending = a.outbox()
    a.delivered(delivered.id)  # acknowledged: must not be sent again by the adopter
    # b and c renew their leases; a stops renewing (it died at 100).
    assert b.coordination().tick(105.0).sessions == []
    c.coordination().tick(105.0)
    adopted_by_b = b.coordination().tick(111.0)
    adopted_by_c = c.coordination().tick(111.5)
    assert [s.session_id for s in adopted_by_b.sessions] == ["s1", "s3"]
    assert list(adopted_by_b.outbox) == [pending.id]
    assert adopted_by_c.sessions == []
    assert adopted_by_c.outbox == []
    assert [i.id for i in b.outbox()] == [pending.id]
    with b.coordination().hold("s1"):
        assert b.coordination().owns("s1")


def test_an_instance_within_its_lease_is_not_adopted(instance: Instance) -> None:
    a, b = instance("a"), instance("b")
    a.coordination().tick(100.0)
    b.coordination().tick(100.0)
    a.commit(Commit(session(), created=True), 100.0)
    a.coordination().tick(108.0)
    assert b.coordination().tick(112.0).sessions == []  # a was seen 4 s ago: alive
    assert [s.session_id for s in a.coordination().resumable()] == ["s1"]


def test_an_instance_taken_for_dead_loses_its_work_and_rejoins(instance: Instance) -> None:
    a, b = instance("a"), instance("b")
    a.coordination().tick(100.0)
    b.coordination().tick(100.0)
    c = a.commit(Commit(session(), created=True, outbox=[("p", b"<x/>")]), 100.0)
    b.coordination().tick(120.0)  # a missed its lease (a long pause, say)
    a.coordination().tick(121.0)  # a comes back: rejoins, owns nothing any more
    assert list(a.coordination().resumable()) == []
    assert a.outbox_item(c.outbox_ids[0]) is None
    with a.coordination().hold("s1"):
        assert not a.coordination().owns("s1")
    assert b.coordination().tick(125.0).sessions == []  # a is alive again: nothing to adopt


def test_an_instance_that_stops_cleanly_is_taken_over_at_once(instance: Instance) -> None:
    a, b = instance("a"), instance("b")
    a.coordination().tick(100.0)
    b.coordination().tick(100.0)
    a.commit(Commit(session(), created=True, outbox=[("p", b"<x/>")]), 100.0)
    a.close()
    adopted = b.coordination().tick(101.0)  # well within a's lease
    assert [s.session_id for s in adopted.sessions] == ["s1"]
    assert len(adopted.outbox) == 1
