"""What the SQLite store answers from memory (one instance writes its file) agrees with what a
fresh opening of the file reads: whether an inbound message was taken (``seen``), for sessions
created in this opening or before it, in the cache or evicted from it, and after a group commit
that failed. (Outbox items: the contract suite, ``test_contract.py``.)
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from dmdelegation.store.sessions import NO_RESPONSE, Commit, SessionStore

from .test_contract import session

ROOTS = ("DELEGATION_REQ", "BOOTSTRAP_CONFIRMED", "DELEGATION_PREPARED")


def agrees(store: SessionStore, path: Path, ids: list[str]) -> None:
    fresh = SessionStore(path)
    try:
        for session_id, root in itertools.product(ids, ROOTS):
            assert store.seen(session_id, root) == fresh.seen(session_id, root), (session_id, root)
    finally:
        fresh.close()


def test_replays_are_recognised_as_the_file_says_in_and_out_of_the_cache(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite3"
    old = SessionStore(path)  # a session written before this opening: read from the file
    old.commit(Commit(session(9, device="IMEI:9"), created=True, inbound_root=ROOTS[0]), 1.0)
    old.close()
    store = SessionStore(path)
    store.CACHE_SIZE = 2
    ids = [f"s{n}" for n in (1, 2, 3, 9)]
    for n in (1, 2, 3):
        store.commit(Commit(session(n, device=f"IMEI:{n}"), created=True), 1.0)
        agrees(store, path, ids)
        store.commit(Commit(session(n, device=f"IMEI:{n}"), inbound_root=ROOTS[0]), 2.0)
        agrees(store, path, ids)
    # an answer recorded for a message taken, and a second message taken, in one session
    answered = Commit(
        session(3, device="IMEI:3", state="x"),
        inbound_root=ROOTS[1],
        response=(ROOTS[1], b"<answer/>"),
    )
    store.commit(answered, 3.0)
    assert store.seen("s3", ROOTS[1]) == b"<answer/>"
    agrees(store, path, ids)
    # s1 was evicted from the cache of two: what it takes now is still recognised
    store.commit(Commit(session(1, device="IMEI:1", state="y"), inbound_root=ROOTS[2]), 4.0)
    agrees(store, path, ids)
    assert store.seen("s1", ROOTS[2]) is None
    store.close()


def test_a_failed_group_commit_leaves_the_inbox_as_the_file_has_it(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite3"
    store = SessionStore(path)
    store.commit(Commit(session(1), created=True, inbound_root=ROOTS[0]), 1.0)
    store.stage(Commit(session(2, device="IMEI:2"), created=True, inbound_root=ROOTS[0]), 2.0)
    store.stage(Commit(session(1, state="x"), inbound_root=ROOTS[1]), 2.0)
    store.stage(Commit(session(1), created=True), 2.0)  # s1 exists: the batch fails
    with pytest.raises(Exception):  # noqa: B017, PT011
        store.flush()
    agrees(store, path, ["s1", "s2"])
    assert store.seen("s1", ROOTS[1]) is NO_RESPONSE  # never taken, as in the file
    # s2 was never written; taken now (created again), it is known as the file knows it
    store.commit(Commit(session(2, device="IMEI:2"), created=True, inbound_root=ROOTS[2]), 3.0)
    agrees(store, path, ["s1", "s2"])
    store.close()


def test_a_session_found_missing_is_not_read_again_until_it_is_created(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite3"
    store = SessionStore(path)
    reads: list[str] = []
    store._db.set_trace_callback(lambda sql: reads.append(sql) if "FROM sessions" in sql else None)
    assert store.get("s1") is None
    assert store.get("s1") is None
    assert len(reads) == 1  # the second answer came from memory
    store.stage(Commit(session(1), created=True), 1.0)
    assert store.get("s1") == session(1)  # staged: known at once
    store.stage(Commit(session(2, device="IMEI:2"), created=True), 1.0)
    store.stage(Commit(session(2, device="IMEI:2"), created=True), 1.0)  # the batch fails
    with pytest.raises(Exception):  # noqa: B017, PT011
        store.flush()
    fresh = SessionStore(path)
    try:
        for session_id in ("s1", "s2"):  # neither written: both missing, as in the file
            assert store.get(session_id) is None
            assert fresh.get(session_id) is None
    finally:
        fresh.close()
    store.commit(Commit(session(1), created=True), 2.0)  # this store is the file's one writer
    fresh = SessionStore(path)
    try:
        assert store.get("s1") == fresh.get("s1") == session(1)
    finally:
        fresh.close()
        store.close()
