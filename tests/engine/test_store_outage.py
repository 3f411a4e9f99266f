"""Work that finds the store out of reach, and a group commit that fails, are not lost: the
work runs again once the store is back, and the sessions of the failed commit are taken up
again as after a restart. (On PostgreSQL the store raises `StoreUnavailable` while the database
restarts: tests/store/test_postgres_reconnect.py; here the SQLite store is made to.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dmdelegation.engine.model import Outcome, Session
from dmdelegation.engine.work import STORE_RETRY
from dmdelegation.store.interfaces import StoreUnavailable
from dmdelegation.store.sessions import Commit, SessionStore

from .harness import DEVICE, DMS1, DMS2, SUBTREE, Pair, text_of


class Outage(SessionStore):
    """The engine's store, out of reach while ``down`` (reads and writes), and failing once the
    group commit that would write a session into ``fail_into``."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.down = False
        self.fail_into: str | None = None
        self.refused = 0

    def get(self, session_id: str) -> Session | None:
        if self.down:
            self.refused += 1
            raise StoreUnavailable("the state store is out of reach (test)")
        return super().get(session_id)

    def _write(self, c: Commit, now: float) -> None:
        if self.down:
            raise StoreUnavailable("the state store is out of reach (test)")
        if self.fail_into is not None and c.session.state == self.fail_into:
            self.fail_into = None
            raise sqlite3.OperationalError("disk I/O error (injected)")
        super()._write(c, now)


def _pair(tmp_path: Path) -> tuple[Pair, Outage]:
    pair = Pair(tmp_path)
    store = Outage(tmp_path / "dms1-outage.sqlite3")
    pair.dms1.stop()
    pair.dms1 = pair.build(DMS1, store=store)
    return pair, store


def test_a_timer_due_while_the_store_is_out_of_reach_fires_once_it_is_back(
    tmp_path: Path,
) -> None:
    pair, store = _pair(tmp_path)
    before = text_of(pair.tree())
    pair.wire.drop.add("BOOTSTRAP_CONFIRMED")  # DMS-1 waits for it until its deadline
    started = pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.clock.advance(0)
    waiting = store.get(started.session_id)
    assert waiting is not None
    assert waiting.state == "await-bootstrap"
    assert waiting.deadline is not None
    store.down = True
    pair.clock.advance(waiting.deadline - pair.clock.seconds())  # the deadline: out of reach
    for _ in range(5):  # tried again every STORE_RETRY seconds, while it stays out of reach
        pair.clock.advance(STORE_RETRY)
    assert store.refused >= 6
    store.down = False
    pair.clock.advance(STORE_RETRY)
    pair.settle()
    ended = pair.dms1.store.get(started.session_id)
    assert ended is not None
    assert ended.outcome is Outcome.FAILED
    assert pair.open_sessions() == (0, 0)  # DMS-2 was told, and ended too
    assert text_of(pair.tree()) == before
    assert pair.dms1.store.delegations(DEVICE) == []
    assert pair.dms2.store.delegations(DEVICE) == []


def test_the_sessions_of_a_failed_group_commit_are_taken_up_again(tmp_path: Path) -> None:
    """The commit of 'the client is prepared' fails: on disk DMS-1 is still preparing, the
    input is gone. Taken up as after a restart, the change is undone and both sides fail the
    delegation, the client as it was."""
    pair, store = _pair(tmp_path)
    before = text_of(pair.tree())
    store.fail_into = "await-confirmed"
    started = pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.clock.advance(0)
    pair.clock.advance(0)
    on_disk = SessionStore(store.path).get(started.session_id)
    assert on_disk is not None
    assert on_disk.state == "preparing"
    assert store.fail_into is None  # the failure was met
    pair.clock.advance(STORE_RETRY)
    pair.settle()
    ended = pair.dms1.store.get(started.session_id)
    assert ended is not None
    assert ended.outcome is Outcome.FAILED
    assert pair.open_sessions() == (0, 0)
    assert text_of(pair.tree()) == before
    assert pair.dms1.store.delegations(DEVICE) == []
    assert pair.dms2.store.delegations(DEVICE) == []
