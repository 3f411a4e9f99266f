"""Group commit: the transitions of one reactor turn are written in one transaction, nothing of
theirs leaves or is acknowledged before it, the engine's own reads see them at once, and a
group commit that fails leaves everything as it was on disk."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import attrs
import pytest

from dmdelegation.engine.engine import Refused
from dmdelegation.engine.model import Delegation, Outcome, Process, Role, Session
from dmdelegation.protocol import DelegationResponse
from dmdelegation.store.sessions import NO_RESPONSE, Commit, SessionStore

from .harness import (
    DEVICE,
    DMS1,
    DMS2,
    SUBTREE,
    Pair,
    delegation_request,
    fired,
    provision_devices,
    text_of,
)


class CountingStore(SessionStore):
    """Counts the transactions that wrote transitions, and can be made to fail the next one."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.transactions: list[int] = []  # transitions written by each
        self.fail_next = False

    def _write(self, c: Commit, now: float) -> None:
        if self.fail_next:
            raise sqlite3.OperationalError("disk I/O error (injected)")
        super()._write(c, now)

    def flush(self) -> list[Commit]:
        written = super().flush()
        if written:
            self.transactions.append(len(written))
        return written


def on_disk(path: str, query: str) -> list[tuple[object, ...]]:
    """What another process reading the store file would see."""
    db = sqlite3.connect(path)
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


def devices(pair: Pair, n: int) -> list[str]:
    return provision_devices(pair, (f"IMEI:{i:015d}" for i in range(n)))


def counting(pair: Pair, side: str, **overrides: Any) -> CountingStore:
    pair.wire.engines[side].stop()
    store = CountingStore(pair.tmp / f"{side}-counting.sqlite3")
    engine = pair.build(side, store=store, **overrides)
    if side == DMS1:
        pair.dms1 = engine
    else:
        pair.dms2 = engine
    return store


def test_one_turn_is_one_transaction_and_nothing_leaves_before_it(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    store = counting(pair, DMS1)
    started = [pair.dms1.delegate(d, DMS2, SUBTREE) for d in devices(pair, 20)]

    assert on_disk(store.path, "SELECT count(*) FROM sessions") == [(0,)]
    assert pair.wire.trace == []  # not a message left before the turn ended
    assert [pair.dms1.store.get(s.session_id) for s in started] == started  # seen in memory

    pair.clock.advance(0)  # (Clock runs what this turn schedules at once, too)
    assert store.transactions[0] == 20
    assert on_disk(store.path, "SELECT count(*) FROM sessions") == [(20,)]

    pair.settle()
    outcomes = {pair.dms1.store.get(s.session_id).outcome for s in started}  # type: ignore[union-attr]
    assert outcomes == {Outcome.DELEGATED}
    transitions = sum(store.transactions)
    assert transitions >= 20 * 4
    assert len(store.transactions) < transitions / 10, store.transactions


def test_a_burst_is_written_in_batches_of_at_most_the_limit(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    store = counting(pair, DMS1, batch_limit=8)
    started = [pair.dms1.delegate(d, DMS2, SUBTREE) for d in devices(pair, 20)]
    assert store.transactions == [8, 8]  # written as the burst came, not held whole
    assert store.staged == 4
    assert on_disk(store.path, "SELECT count(*) FROM sessions") == [(16,)]
    pair.settle()
    assert max(store.transactions) <= 8
    outcomes = {pair.dms1.store.get(s.session_id).outcome for s in started}  # type: ignore[union-attr]
    assert outcomes == {Outcome.DELEGATED}


def test_an_answer_to_a_peer_waits_for_the_disk(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    request = delegation_request(session_id="e" * 32)
    answers: list[object] = []
    pair.dms1.receive(DMS2, request).addBoth(answers.append)
    replayed: list[object] = []
    pair.dms1.receive(DMS2, request).addBoth(replayed.append)  # the same turn
    assert answers == [] == replayed
    inbox = "SELECT root, response IS NOT NULL FROM inbox"
    store = pair.dms1.store
    assert isinstance(store, SessionStore)
    assert on_disk(store.path, inbox) == []

    pair.clock.advance(0)
    assert on_disk(store.path, inbox) == [("DELEGATION_REQ", 1)]
    assert isinstance(answers[0], DelegationResponse)
    assert replayed == answers  # the replay is answered as the first, and no sooner


def test_a_second_process_on_a_staged_subtree_is_refused_in_the_same_turn(
    tmp_path: Path,
) -> None:
    pair = Pair(tmp_path)
    first = pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    with pytest.raises(Refused) as refused:
        pair.dms1.delegate(DEVICE, DMS2, SUBTREE + "/Apps")
    assert refused.value.status == 409
    assert first.session_id in refused.value.reason


def test_a_failed_group_commit_changes_nothing_and_the_engine_goes_on(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    store = counting(pair, DMS1)
    tree = text_of(pair.tree())
    store.fail_next = True
    lost = pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    answers: list[object] = []
    request = delegation_request(device_id="IMEI:000000000000009", session_id="d" * 32)
    pair.dms1.receive(DMS2, request).addBoth(answers.append)
    pair.clock.advance(0)

    error = answers[0].value  # type: ignore[attr-defined]
    assert isinstance(error, Refused)
    assert error.status == 503  # the peer will try again
    assert store.get(lost.session_id) is None
    assert store.get(request.session_id) is None
    assert on_disk(store.path, "SELECT count(*) FROM sessions") == [(0,)]
    pair.settle()
    assert pair.wire.trace == []
    assert text_of(pair.tree()) == tree

    store.fail_next = False
    again = pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.settle()
    assert fired(pair.dms1.wait(again.session_id)).outcome is Outcome.DELEGATED


def _session(session_id: str, device: str = DEVICE, **changes: Any) -> Session:
    base = Session(
        session_id=session_id,
        role=Role.DMS1,
        process=Process.DELEGATION_DMACC,
        state="await-bootstrap",
        peer=DMS2,
        device_id=device,
        subtree=SUBTREE,
        full=False,
        initiator=Role.DMS1,
    )
    return attrs.evolve(base, **changes)


def test_store_reads_see_staged_commits_as_the_flush_will_write_them(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.sqlite3")
    a = _session("a" * 32)
    store.commit(Commit(session=a, created=True, inbound_root="DELEGATION_REQ"), 1.0)
    registered = Delegation(DEVICE, SUBTREE, Role.DMS1, DMS2, False, 2.0, "b" * 32)
    b = _session("b" * 32, state="done", outcome=Outcome.DELEGATED)
    closed = attrs.evolve(a, state="failed", outcome=Outcome.FAILED)

    store.stage(Commit(session=closed, inbound_root="DELEGATION_FAILURE"), 2.0)
    store.stage(Commit(session=b, created=True, inbound_root="DELEGATION_REQ"), 2.0)
    store.stage(Commit(session=b, response=("DELEGATION_REQ", b"x")), 2.0)
    store.stage(Commit(session=b, response=("BOOTSTRAP_CONFIRMED", b"y")), 2.0)  # never taken
    store.stage(Commit(session=b, register=registered), 2.0)
    staged = (
        store.get(a.session_id),
        store.open_on(DEVICE),
        store.delegations(DEVICE),
        store.delegations(DEVICE, Role.DMS2),
        store.seen(a.session_id, "DELEGATION_FAILURE"),
        store.seen(a.session_id, "DELEGATION_REQ"),
        store.seen(b.session_id, "DELEGATION_REQ"),
        store.seen(b.session_id, "BOOTSTRAP_CONFIRMED") is NO_RESPONSE,
    )
    assert staged == (closed, [], [registered], [], None, None, b"x", True)

    store.flush()
    fresh = SessionStore(store.path)
    assert (
        fresh.get(a.session_id),
        fresh.open_on(DEVICE),
        fresh.delegations(DEVICE),
        fresh.delegations(DEVICE, Role.DMS2),
        fresh.seen(a.session_id, "DELEGATION_FAILURE"),
        fresh.seen(a.session_id, "DELEGATION_REQ"),
        fresh.seen(b.session_id, "DELEGATION_REQ"),
        fresh.seen(b.session_id, "BOOTSTRAP_CONFIRMED") is NO_RESPONSE,
    ) == staged

    store.stage(Commit(session=b, unregister=True), 3.0)
    assert store.delegations(DEVICE) == []
    store.flush()
    assert SessionStore(store.path).delegations() == []
