"""A daemon killed after any persisted step comes back and finishes or rolls back its process.

A :class:`CrashingStore` kills its engine right after the group commit that holds its k-th
transition (the state is on disk, nothing of what was to follow has happened); a fresh engine
is then built on the same files, as a restarted daemon would be. The two sides must end
agreeing, with no session open, and the client either delegated or exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dmdelegation.engine.engine import Engine
from dmdelegation.engine.model import Outcome, Role, Session
from dmdelegation.protocol import DelegationMethod
from dmdelegation.store.sessions import Commit, SessionStore

from .harness import DEVICE, DMS1, DMS2, SUBTREE, Pair, rights_of, text_of


class Crash(Exception):
    """The process died."""


class CrashingStore(SessionStore):
    def __init__(self, path: Path, crash_after: int | None, on_death: Callable[[], None]) -> None:
        super().__init__(path)
        self.commits = 0
        self.crash_after = crash_after
        self.on_death = on_death
        self.dead = False

    def stage(self, c: Commit, now: float) -> None:
        if self.dead:
            raise Crash("dead")
        super().stage(c, now)

    def flush(self) -> list[Commit]:
        if self.dead:
            raise Crash("dead")
        written = super().flush()
        for _ in written:
            self.commits += 1
            if self.commits == self.crash_after:
                self.on_death()
                self.dead = True
                raise Crash(f"killed after commit {self.commits}")
        return written

    def delivered(self, item_id: int) -> None:
        if self.dead:
            raise Crash("dead")
        super().delivered(item_id)


def crashing(pair: Pair, side: str, crash_after: int | None) -> CrashingStore:
    """Replace ``side``'s engine with one whose store dies after ``crash_after`` commits."""
    old = pair.wire.engines[side]
    old.stop()

    def death() -> None:
        engine.stop()
        pair.wire.down.add(side)

    store = CrashingStore(pair.tmp / f"{side}-crashing.sqlite3", crash_after, death)
    engine = pair.build(side, store=store)
    if side == DMS1:
        pair.dms1 = engine
    else:
        pair.dms2 = engine
    return store


def restart(pair: Pair, side: str, store: CrashingStore) -> Engine:
    engine = pair.build(side, store=SessionStore(store.path))
    pair.wire.down.discard(side)
    if side == DMS1:
        pair.dms1 = engine
    else:
        pair.dms2 = engine
    return engine


Starter = Callable[[Pair], Session]


def _delegate(method: DelegationMethod, initiator: Role) -> Starter:
    def go(pair: Pair) -> Session:
        if initiator is Role.DMS1:
            return pair.dms1.delegate(DEVICE, DMS2, SUBTREE, method=method)
        return pair.dms2.request_delegation(DEVICE, DMS1, SUBTREE, method=method)

    return go


DELEGATIONS = [
    (method, initiator) for method in DelegationMethod for initiator in (Role.DMS1, Role.DMS2)
]


def _outcome(engine: Engine, session_id: str) -> Outcome | None:
    session = engine.store.get(session_id)
    return None if session is None else session.outcome


def _check_delegation_end(pair: Pair, session_id: str, before: str) -> None:
    assert pair.open_sessions() == (0, 0)
    one, two = _outcome(pair.dms1, session_id), _outcome(pair.dms2, session_id)
    if one is Outcome.DELEGATED:
        assert two is Outcome.DELEGATED
        assert len(pair.dms1.store.delegations()) == 1 == len(pair.dms2.store.delegations())
        assert DMS2 in text_of(pair.tree())
    else:
        assert one in (Outcome.FAILED, None), one  # None: DMS-1 never heard of it
        assert two in (Outcome.FAILED, Outcome.REFUSED, None), two
        assert text_of(pair.tree()) == before
        assert pair.dms1.store.delegations() == [] == pair.dms2.store.delegations()


def _commits_in_a_full_run(tmp: Path, side: str, go: Starter) -> int:
    pair = Pair(tmp)
    store = crashing(pair, side, None)
    session = go(pair)
    pair.settle()
    assert _outcome(pair.dms1, session.session_id) is Outcome.DELEGATED
    return store.commits


@pytest.mark.parametrize(("method", "initiator"), DELEGATIONS, ids=lambda v: str(v))
@pytest.mark.parametrize("side", [DMS1, DMS2])
def test_delegation_killed_after_every_step(
    tmp_path: Path, method: DelegationMethod, initiator: Role, side: str
) -> None:
    go = _delegate(method, initiator)
    total = _commits_in_a_full_run(tmp_path / "count", side, go)
    assert total >= 3
    delegated = 0
    for k in range(1, total + 1):
        pair = Pair(tmp_path / f"k{k}")
        before = text_of(pair.tree())
        store = crashing(pair, side, k)
        try:
            go(pair)
        except Crash:  # killed by the very commit that starts the process
            assert k == 1
            assert _starts_on(side, initiator)
        pair.settle(30)  # the other side goes on (and retries) while this one is down
        assert store.dead
        engine = restart(pair, side, store)
        pair.settle()
        (session,) = engine.store.sessions(DEVICE)
        _check_delegation_end(pair, session.session_id, before)
        delegated += _outcome(pair.dms1, session.session_id) is Outcome.DELEGATED
    assert delegated, "no crash point let the delegation complete"


def _starts_on(side: str, initiator: Role) -> bool:
    return (side == DMS1) == (initiator is Role.DMS1)


REVOCATIONS: dict[str, Callable[[Pair], Session]] = {
    "asked": lambda p: p.dms1.revoke(DEVICE, SUBTREE),
    "forced": lambda p: p.dms1.revoke(DEVICE, SUBTREE, forced=True),
    "requested": lambda p: p.dms2.give_back(DEVICE, SUBTREE),
}


def _delegated_pair(tmp: Path, side: str, crash_after: int | None) -> tuple[Pair, CrashingStore]:
    pair = Pair(tmp)
    store = crashing(pair, side, None)
    pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.settle()
    assert len(pair.dms1.store.delegations()) == 1
    store.crash_after = None if crash_after is None else store.commits + crash_after
    return pair, store


@pytest.mark.parametrize("kind", sorted(REVOCATIONS))
@pytest.mark.parametrize("side", [DMS1, DMS2])
def test_revocation_killed_after_every_step(tmp_path: Path, kind: str, side: str) -> None:
    pair, store = _delegated_pair(tmp_path / "count", side, None)
    start = store.commits
    REVOCATIONS[kind](pair)
    pair.settle()
    total = store.commits - start
    for k in range(1, total + 1):
        pair, store = _delegated_pair(tmp_path / f"k{k}", side, k)
        clean = rights_of(pair)
        try:
            REVOCATIONS[kind](pair)
        except Crash:  # killed by the very commit that starts the process
            assert k == 1
        pair.settle(30)
        assert store.dead
        restart(pair, side, store)
        pair.settle()
        assert pair.open_sessions() == (0, 0)
        revoked = pair.dms1.store.delegations() == []
        if revoked:
            assert DMS2 not in text_of(pair.tree())
        else:
            assert rights_of(pair) == clean  # nothing of DMS-2 was removed


def test_dms1_back_after_dms2_gave_up_still_ends_the_delegation_on_both_sides(
    tmp_path: Path,
) -> None:
    """DMS-1 dies right after taking DMS-2's DELEGATION_REVOCATION_REQ and stays down longer
    than DMS-2 tries to deliver it: DMS-2 abandons. When DMS-1 comes back it finishes the
    removal and sends DELEGATION_REVOKED, which DMS-2 now takes: both sides agree."""
    pair, store = _delegated_pair(tmp_path, DMS1, 1)
    session = pair.dms2.give_back(DEVICE, SUBTREE)
    pair.settle(pair.timeouts.delivery + 5)  # DMS-1 is down all that time
    assert store.dead
    abandoned = pair.dms2.store.get(session.session_id)
    assert abandoned is not None
    assert abandoned.outcome is Outcome.ABANDONED
    restart(pair, DMS1, store)
    pair.settle()
    assert pair.open_sessions() == (0, 0)
    assert pair.dms1.store.delegations() == [] == pair.dms2.store.delegations()
    assert DMS2 not in text_of(pair.tree())
    ended = pair.dms2.store.get(session.session_id)
    assert ended is not None
    assert ended.outcome is Outcome.REVOKED
