"""WAL checkpoints made by a thread of their own (`dmdelegation.client.checkpoints`)."""

from __future__ import annotations

import gc
import os
import sqlite3
import threading
from pathlib import Path

from dmdelegation.client import ClientTreeStore, SQLiteJournalStore
from dmdelegation.client.checkpoints import CHECKPOINTER, FALLBACK_PAGES, Checkpointer
from dmdelegation.store.sessions import SessionStore

from .helpers import LogRecorder


def _wal_db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (x)")
    return conn


def _rows_in_the_database_file(path: Path, copy: Path) -> int:
    """How many rows of ``t`` the database file itself holds (its log left aside)."""
    copy.write_bytes(path.read_bytes())
    conn = sqlite3.connect(copy)
    try:
        return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])
    except sqlite3.OperationalError:  # not even the table yet
        return 0
    finally:
        conn.close()


def test_a_file_whose_log_grew_is_checkpointed_once(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    conn = _wal_db(path)
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1000)])
    checkpointer = Checkpointer()
    checkpointer._owner = os.getpid()  # no thread: the test looks itself
    checkpointer.register(str(path))
    copy = tmp_path / "copy.sqlite3"
    assert _rows_in_the_database_file(path, copy) == 0  # all in the log
    assert checkpointer.run_once() == [str(path)]
    assert _rows_in_the_database_file(path, copy) == 1000  # copied back
    assert checkpointer.run_once() == []  # nothing new: not looked at again
    conn.execute("INSERT INTO t VALUES (1)")
    assert checkpointer.run_once() == [str(path)]
    conn.close()


def test_a_file_that_is_gone_is_forgotten(tmp_path: Path) -> None:
    path = tmp_path / "gone.sqlite3"
    _wal_db(path).close()
    checkpointer = Checkpointer()
    checkpointer._owner = os.getpid()
    checkpointer.register(str(path))
    path.unlink()
    assert checkpointer.run_once() == []
    assert checkpointer.files() == []


def test_a_checkpoint_that_fails_is_logged_and_tried_again(tmp_path: Path) -> None:
    path = tmp_path / "busy.sqlite3"
    conn = _wal_db(path)
    conn.execute("INSERT INTO t VALUES (1)")
    checkpointer = Checkpointer()
    checkpointer._owner = os.getpid()
    checkpointer.register(str(path))

    def busy(_: str) -> None:
        raise sqlite3.OperationalError("database is locked")

    with LogRecorder() as log:
        assert checkpointer.run_once(busy) == []
    assert "postponed" in log.text()
    assert checkpointer.run_once() == [str(path)]
    conn.close()


def test_a_file_stays_registered_while_one_of_its_stores_is_open(tmp_path: Path) -> None:
    path = str(tmp_path / "x.sqlite3")
    _wal_db(Path(path)).close()
    checkpointer = Checkpointer()
    checkpointer._owner = os.getpid()
    checkpointer.register(path)
    checkpointer.register(path)
    checkpointer.unregister(path)
    assert checkpointer.files() == [path]
    checkpointer.unregister(path)
    assert checkpointer.files() == []


def test_one_thread_per_process_started_again_after_a_fork() -> None:
    checkpointer = Checkpointer(interval=3600)
    checkpointer.ensure_running()
    first = checkpointer._thread
    checkpointer.ensure_running()
    assert checkpointer._thread is first
    assert first is not None
    assert first.is_alive()
    assert first.daemon
    checkpointer._owner = -1  # as in the child of a fork: the parent's thread is not there
    checkpointer.ensure_running()
    assert checkpointer._thread is not first
    assert checkpointer._owner == os.getpid()


def test_the_stores_hand_their_files_to_the_thread(tmp_path: Path) -> None:
    paths = [tmp_path / n for n in ("clients.sqlite3", "journals.sqlite3", "sessions.sqlite3")]
    clients, journals = ClientTreeStore(paths[0]), SQLiteJournalStore(paths[1])
    sessions = SessionStore(paths[2])
    registered = set(CHECKPOINTER.files())
    assert {os.path.realpath(p) for p in paths} <= registered
    assert CHECKPOINTER._owner == os.getpid()
    assert any(t.name == "dmdelegation-wal-checkpoints" for t in threading.enumerate())
    for conn in (clients._conn, journals._conn, sessions._db):
        (pages,) = conn.execute("PRAGMA wal_autocheckpoint").fetchone()
        assert pages == FALLBACK_PAGES  # the writer's own checkpoint is only the fallback
    clients.close()
    journals.close()
    sessions.close()
    assert not {os.path.realpath(p) for p in paths} & set(CHECKPOINTER.files())
    read_only = ClientTreeStore(paths[0], read_only=True)
    assert os.path.realpath(paths[0]) not in CHECKPOINTER.files()
    read_only.close()


def test_the_open_files_do_not_change_when_a_checkpoint_is_made(tmp_path: Path) -> None:
    """The thread's connection opens the log and its index with the store, not at the first
    checkpoint: the process's open files stay as they were (the load test counts them)."""
    path = tmp_path / "f.sqlite3"
    conn = _wal_db(path)
    checkpointer = Checkpointer()
    checkpointer._owner = os.getpid()
    checkpointer.register(str(path))
    # Earlier tests' unreachable files are closed now, not by a collection during this test
    # (one did, and an fd of theirs went missing from the second count).
    gc.collect()
    before = sorted(os.listdir("/proc/self/fd"))
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(100)])
    assert checkpointer.run_once() == [str(path)]
    assert sorted(os.listdir("/proc/self/fd")) == before
    checkpointer.unregister(str(path))
    conn.close()
