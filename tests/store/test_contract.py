"""The store's contract, one suite run on both backends: SQLite (a file) and PostgreSQL (a
schema of its own in the throw-away cluster)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest
from zope.interface.verify import verifyObject

from dmdelegation.engine.model import Delegation, Outcome, Process, Role, Session
from dmdelegation.store.audit import AuditEvent, Expiry
from dmdelegation.store.interfaces import DeviceCommand, ICoordination, ISessionStore, LogLine
from dmdelegation.store.migrations import LATEST, MIGRATIONS
from dmdelegation.store.postgres import PostgresSessionStore
from dmdelegation.store.sessions import NO_RESPONSE, Commit, SessionStore
from dmdelegation.store.throwaway import ThrowawayPostgres

Opener = Callable[[], ISessionStore]


@pytest.fixture(params=["sqlite", "postgresql"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens (again) the same store: every call is a new connection to the same state."""
    opened: list[ISessionStore] = []
    if request.param == "sqlite":
        path = tmp_path / "sessions.sqlite3"

        def open_sqlite() -> ISessionStore:
            store = SessionStore(path)
            opened.append(store)
            return store

        yield open_sqlite
    else:
        server: ThrowawayPostgres = request.getfixturevalue("postgres")
        url = server.fresh_url()

        def open_postgres() -> ISessionStore:
            store = PostgresSessionStore(url, instance_id="i1")
            opened.append(store)
            return store

        yield open_postgres
    for store in opened:
        store.close()


def session(n: int = 1, device: str = "IMEI:1", subtree: str = "./A", **changes: object) -> Session:
    s = Session(
        session_id=f"s{n}",
        role=Role.DMS1,
        process=Process.DELEGATION_DMACC,
        state="new",
        peer="dms2.example",
        device_id=device,
        subtree=subtree,
        full=False,
        initiator=Role.DMS1,
        device_man="Acme",
        device_mod="Phone",
    )
    return s.to(str(changes.pop("state", "new")), **changes)


def test_both_interfaces_are_provided(opener: Opener) -> None:
    store = opener()
    assert verifyObject(ISessionStore, store)
    assert verifyObject(ICoordination, store.coordination())


def test_migrations_are_applied_once(opener: Opener) -> None:
    assert opener().schema_version() == LATEST == MIGRATIONS[-1].version
    assert opener().schema_version() == LATEST  # a second opening applies nothing again


def test_a_committed_session_reads_back_from_a_new_connection(opener: Opener) -> None:
    store = opener()
    s = session(wait="peer", deadline=1234.5, touched_client=True, notify=True, reason_code=514)
    store.commit(Commit(s, created=True), 10.0)
    assert store.get("s1") == s
    again = opener()
    assert again.get("s1") == s
    assert again.get("nope") is None
    assert again.count_open() == 1
    assert list(again.open_sessions()) == [s]
    assert again.open_on("IMEI:1") == [s]
    assert again.open_on("IMEI:2") == []


def test_an_update_replaces_the_state_and_an_outcome_closes(opener: Opener) -> None:
    store = opener()
    store.commit(Commit(session(), created=True), 1.0)
    done = session(state="done", outcome=Outcome.DELEGATED, reason="ok")
    store.commit(Commit(done), 2.0)
    assert opener().get("s1") == done
    assert store.count_open() == 0
    assert list(store.open_sessions()) == []
    assert store.sessions("IMEI:1") == [done]


def test_sessions_are_listed_oldest_first(opener: Opener) -> None:
    store = opener()
    store.commit(Commit(session(2, device="IMEI:2"), created=True), 1.0)
    store.commit(Commit(session(1, device="IMEI:1"), created=True), 2.0)
    store.commit(Commit(session(3, device="IMEI:1", subtree="./B"), created=True), 3.0)
    assert [s.session_id for s in store.sessions()] == ["s2", "s1", "s3"]
    assert [s.session_id for s in store.sessions("IMEI:1")] == ["s1", "s3"]


def test_outbox_rows_get_ids_in_order_and_leave_when_delivered(opener: Opener) -> None:
    store = opener()
    c = store.commit(
        Commit(
            session(), created=True, outbox=[("dms2.example", b"<a/>"), ("dms2.example", b"<b/>")]
        ),
        5.0,
    )
    assert isinstance(c, Commit)
    first, second = c.outbox_ids
    assert first < second
    items = store.outbox()
    assert [(i.id, i.session_id, i.peer, i.body, i.created) for i in items] == [
        (first, "s1", "dms2.example", b"<a/>", 5.0),
        (second, "s1", "dms2.example", b"<b/>", 5.0),
    ]
    store.delivered(first)
    assert store.outbox_item(first) is None
    assert [i.id for i in store.outbox()] == [second]
    store.flush()
    assert [i.id for i in opener().outbox()] == [second]  # gone from the database too
    item = store.outbox_item(second)
    assert item is not None
    assert item.body == b"<b/>"


def test_cancelling_the_outbox_drops_the_sessions_messages_only(opener: Opener) -> None:
    store = opener()
    store.commit(Commit(session(1), created=True, outbox=[("p", b"<a/>")]), 1.0)
    other = store.commit(
        Commit(session(2, device="IMEI:2"), created=True, outbox=[("p", b"<b/>")]), 1.0
    )
    assert isinstance(other, Commit)
    store.commit(Commit(session(1, state="x"), cancel_outbox=True), 2.0)
    assert [i.id for i in store.outbox()] == other.outbox_ids


def test_an_outbox_item_reads_as_written_until_delivered_or_cancelled(opener: Opener) -> None:
    store = opener()
    first = store.commit(Commit(session(1), created=True, outbox=[("p", b"<a/>")]), 1.0)
    (item_id,) = first.outbox_ids
    item = store.outbox_item(item_id)
    assert item is not None
    assert (item.id, item.session_id, item.peer, item.body, item.created) == (
        item_id,
        "s1",
        "p",
        b"<a/>",
        1.0,
    )
    assert opener().outbox_item(item_id) == item  # as another opening of the store reads it
    # Cancelled in the commit that adds the session's next message: only that one is left.
    second = store.commit(
        Commit(session(1, state="x"), cancel_outbox=True, outbox=[("p", b"<b/>")]), 2.0
    )
    assert store.outbox_item(item_id) is None
    assert opener().outbox_item(item_id) is None
    (next_id,) = second.outbox_ids
    again = store.outbox_item(next_id)
    assert again is not None
    assert again.body == b"<b/>"
    store.delivered(next_id)
    assert store.outbox_item(next_id) is None
    store.flush()
    assert store.outbox_item(next_id) is None
    assert opener().outbox_item(next_id) is None


def test_a_message_cancelled_in_the_batch_that_wrote_it_is_never_an_item(opener: Opener) -> None:
    store = opener()
    first = Commit(session(1), created=True, outbox=[("p", b"<a/>")])
    store.stage(first, 1.0)
    store.stage(Commit(session(1, state="x"), cancel_outbox=True), 1.0)
    store.flush()
    (item_id,) = first.outbox_ids
    assert store.outbox_item(item_id) is None
    assert store.outbox() == []


def test_the_inbox_recognises_a_replay_and_keeps_its_answer(opener: Opener) -> None:
    store = opener()
    assert store.seen("s1", "DELEGATION_REQ") is NO_RESPONSE
    store.commit(Commit(session(), created=True, inbound_root="DELEGATION_REQ"), 1.0)
    assert store.seen("s1", "DELEGATION_REQ") is None  # taken, no answer yet
    store.commit(
        Commit(
            session(state="x"), inbound_root="DELEGATION_REQ", response=("DELEGATION_REQ", b"<r/>")
        ),
        2.0,
    )
    assert opener().seen("s1", "DELEGATION_REQ") == b"<r/>"
    assert store.seen("s1", "DELEGATION_COMPLETE") is NO_RESPONSE


def test_the_message_log_keeps_order(opener: Opener) -> None:
    store = opener()
    lines = [LogLine("s1", "in", "A", "<A/>"), LogLine("s1", "out", "B", "<B/>")]
    store.commit(Commit(session(), created=True, log=lines[:1]), 1.0)
    store.commit(Commit(session(state="x"), log=lines[1:]), 2.0)
    assert opener().message_log("s1") == [
        attrs.evolve(lines[0], at=1.0),
        attrs.evolve(lines[1], at=2.0),
    ]
    assert store.message_log("s2") == []


def test_device_commands_are_written_with_the_group_commit_among_the_log(opener: Opener) -> None:
    store = opener()
    add = DeviceCommand("s1", "Add", "./DMAcc/2", 201, 1.5)
    acl = DeviceCommand("s1", "Replace ACL", "./A", None, 1.6)  # no answer came
    delete = DeviceCommand("s1", "Delete", "./DMAcc/2", 200, 3.0)
    store.stage(Commit(session(), created=True, log=[LogLine("s1", "in", "A", "<A/>")]), 1.0)
    store.record_command(add)  # after the staged commit's line
    assert store.device_commands("s1") == [attrs.evolve(add, after=1)]  # seen at once...
    assert opener().device_commands("s1") == []  # ...written with the flush
    store.record_command(acl)
    store.stage(Commit(session(state="x"), log=[LogLine("s1", "out", "B", "<B/>")]), 2.0)
    store.flush()
    written = [attrs.evolve(add, after=1), attrs.evolve(acl, after=1)]
    assert opener().device_commands("s1") == written
    store.record_command(delete)  # nothing staged: a flush of its own
    store.flush()
    assert opener().device_commands("s1") == [*written, attrs.evolve(delete, after=2)]
    assert opener().device_commands("s2") == []


def test_the_audit_trail_and_the_expiries_are_written_with_their_transition(
    opener: Opener,
) -> None:
    store = opener()
    granted = AuditEvent("granted", "IMEI:1", "./A", "dms1", "dms2.example", True, "s1", "p")
    later = AuditEvent("ended", "IMEI:2", "./B", "dms1", "dms2.example", False, "s2", "p", "x")
    expiry = Expiry("s1", "IMEI:1", "./A", 500.0)
    store.commit(Commit(session(), created=True, records=[granted, expiry]), 7.0)
    store.commit(Commit(session(2, device="IMEI:2"), created=True, records=[later]), 8.0)
    store.commit(Commit(session(state="x"), records=[attrs.evolve(expiry, expires=400.0)]), 9.0)
    again = opener()
    assert again.audit_events() == [attrs.evolve(granted, at=7.0), attrs.evolve(later, at=8.0)]
    assert again.audit_events("IMEI:2") == [attrs.evolve(later, at=8.0)]
    assert again.expiries() == [attrs.evolve(expiry, expires=400.0)]
    assert again.expiries("IMEI:2") == []


def test_open_sessions_are_counted_by_state(opener: Opener) -> None:
    store = opener()
    store.commit(Commit(session(1), created=True), 1.0)
    store.commit(Commit(session(2, device="IMEI:2"), created=True), 1.0)
    store.commit(Commit(session(3, device="IMEI:3", state="waiting"), created=True), 1.0)
    ended = session(4, device="IMEI:4", state="done", outcome=Outcome.FAILED)
    store.commit(Commit(ended, created=True), 1.0)
    assert store.count_open_by_state() == {
        ("dms1", "delegation-dmacc", "new"): 2,
        ("dms1", "delegation-dmacc", "waiting"): 1,
    }


def test_the_registry_records_replaces_and_forgets(opener: Opener) -> None:
    store = opener()
    d = Delegation("IMEI:1", "./A", Role.DMS1, "dms2.example", True, 3.0, "s1")
    store.commit(Commit(session(), created=True, register=d), 3.0)
    other = Delegation("IMEI:2", "./B", Role.DMS2, "dms1.example", False, 4.0, "s2")
    store.commit(
        Commit(session(2, device="IMEI:2", subtree="./B"), created=True, register=other), 4.0
    )
    assert opener().delegations() == [d, other]
    assert store.delegations("IMEI:1") == [d]
    assert store.delegations(role=Role.DMS2) == [other]
    assert store.delegations("IMEI:1", Role.DMS2) == []
    again = Delegation("IMEI:1", "./A", Role.DMS1, "dms3.example", False, 5.0, "s3")
    store.commit(Commit(session(3, state="y"), created=True, register=again), 5.0)
    assert store.delegations("IMEI:1") == [again]
    store.commit(Commit(session(3, state="z"), unregister=True), 6.0)
    assert store.delegations("IMEI:1") == []


def test_a_group_commit_is_one_transaction_seen_before_it_is_written(opener: Opener) -> None:
    store = opener()
    a = Commit(session(1), created=True, outbox=[("p", b"<a/>")], inbound_root="X")
    d = Delegation("IMEI:2", "./A", Role.DMS1, "p", False, 1.0, "s2")
    b = Commit(session(2, device="IMEI:2"), created=True, outbox=[("p", b"<b/>")], register=d)
    store.stage(a, 1.0)
    store.stage(b, 1.0)
    assert store.staged == 2
    # what is staged is what the engine reads, before the flush...
    assert store.get("s1") == session(1)
    assert store.seen("s1", "X") is None
    assert store.open_on("IMEI:2") == [session(2, device="IMEI:2")]
    assert store.delegations("IMEI:2") == [d]
    assert opener().get("s1") is None  # ...and nobody else
    assert store.flush() == [a, b]
    assert store.staged == 0
    assert len(a.outbox_ids) == 1
    assert len(b.outbox_ids) == 1
    assert [i.id for i in opener().outbox()] == a.outbox_ids + b.outbox_ids


def test_a_group_commit_that_fails_writes_none_of_its_commits(opener: Opener) -> None:
    store = opener()
    store.commit(Commit(session(1), created=True), 1.0)
    c = Commit(session(3, device="IMEI:3"), created=True, outbox=[("p", b"<d/>")])
    clash = Commit(session(1), created=True)  # s1 exists: this one cannot be written
    store.stage(c, 2.0)
    store.stage(clash, 2.0)
    with pytest.raises(Exception):  # noqa: B017, PT011  (each backend raises its own error)
        store.flush()
    assert c.outbox_ids == []
    fresh = opener()
    assert fresh.get("s3") is None
    assert fresh.outbox() == []
    assert store.get("s3") is None
    # and the store goes on
    store.commit(Commit(session(3, device="IMEI:3"), created=True), 3.0)
    assert opener().get("s3") == session(3, device="IMEI:3")


def test_a_failed_commit_changes_nothing(opener: Opener) -> None:
    store = opener()
    store.commit(Commit(session(), created=True), 1.0)
    with pytest.raises(Exception):  # noqa: B017, PT011  (each backend raises its own error)
        store.commit(Commit(session(state="other"), created=True, outbox=[("p", b"<x/>")]), 2.0)
    assert store.get("s1") == session()
    assert opener().outbox() == []


def test_hold_reads_the_current_state(opener: Opener) -> None:
    store = opener()
    store.commit(Commit(session(), created=True), 1.0)
    coordination = store.coordination()
    with coordination.hold("s1") as held:
        assert held == session()
    store.commit(Commit(session(state="moved")), 2.0)
    with coordination.hold("s1") as held:
        assert held == session(state="moved")
        assert coordination.owns("s1")
    with coordination.hold("unknown") as held:
        assert held is None
    assert [s.session_id for s in coordination.resumable()] == ["s1"]
