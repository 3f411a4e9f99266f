"""WAL checkpoints of the SQLite files, made by a thread of their own instead of the reactor's.

In WAL mode a commit appends pages to the ``-wal`` file; a *checkpoint* copies them back into the
database and, with ``synchronous=NORMAL``, syncs both files: two fsyncs, a few milliseconds on an
ordinary disk. SQLite makes it, by default, inside whichever commit takes the log past 1 000
pages: on the reactor's thread, a stall every few hundred delegations, and about 6 % of the
engine's time (`benchmarks/engine.py`).

Each file this process writes (the engine's state, the undo journals, the embedded DM Clients) is
`register`\\ ed here. A daemon thread looks at them every `INTERVAL` seconds and checkpoints, with
a connection of its own (``PRAGMA wal_checkpoint(PASSIVE)``: never waits for, nor blocks, the
writers), each whose log has grown since it last looked. The writers' connections keep an
automatic checkpoint of their own, at `FALLBACK_PAGES` (about 40 MB of log), should the thread
ever fall behind. Nothing about durability changes: a commit is in the log, handed to the
operating system (or synced, with ``durability="full"``), before it returns, and a checkpoint
interrupted by the death of the process is finished by the next one.

Python's sqlite3 releases the GIL while SQLite works, so on a machine with a second core the copy
and the fsyncs run beside the reactor.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable

from twisted.logger import Logger

INTERVAL = 0.25  # seconds between two looks
FALLBACK_PAGES = 10_000  # the writers' own automatic checkpoint, if the thread falls behind

log = Logger()


class _File:
    """A registered file: how many stores have it open, and the thread's connection to it
    (opened with the first store, so that the process's open files do not come and go)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.stores = 0
        self.lock = threading.Lock()  # held while the connection is in use or being closed
        self.conn: sqlite3.Connection | None = None
        self.seen: tuple[int, int] | None = None  # (mtime_ns, size) of its log, last look

    def open(self) -> None:
        with self.lock:
            if self.conn is None:
                self.conn = sqlite3.connect(
                    self.path, timeout=0.1, isolation_level=None, check_same_thread=False
                )
                # Open the log and its index now, not at the first checkpoint.
                self.conn.execute("SELECT count(*) FROM sqlite_master").fetchall()

    def close(self) -> None:
        with self.lock:
            if self.conn is not None:
                self.conn.close()
                self.conn = None

    def checkpoint(self) -> None:
        with self.lock:
            if self.conn is not None:
                self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


class Checkpointer:
    """The files to checkpoint, and the thread that does it."""

    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._files: dict[str, _File] = {}
        self._thread: threading.Thread | None = None
        self._owner = 0  # the process that started the thread (a fork has none)

    def register(self, path: str) -> None:
        """Checkpoint ``path`` from now on (until as many `unregister`)."""
        with self._lock:
            file = self._files.setdefault(path, _File(path))
            file.stores += 1
        file.open()
        self.ensure_running()

    def unregister(self, path: str) -> None:
        with self._lock:
            file = self._files.get(path)
            if file is None:
                return
            file.stores -= 1
            if file.stores > 0:
                return
            del self._files[path]
        file.close()

    def unregister_all(self, path: str) -> None:
        with self._lock:
            file = self._files.pop(path, None)
        if file is not None:
            file.close()

    def files(self) -> list[str]:
        with self._lock:
            return list(self._files)

    def ensure_running(self) -> None:
        """Start the thread if this process has none (first use, or a fork: twistd daemonizes
        after the stores are opened). Cheap enough to call on every group commit."""
        if self._owner == os.getpid():
            return
        with self._lock:
            if self._owner == os.getpid():
                return
            self._owner = os.getpid()
            self._thread = threading.Thread(
                target=self._loop, name="dmdelegation-wal-checkpoints", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        stop = threading.Event()  # never set: a daemon thread ends with the process
        while not stop.wait(self.interval):
            self.run_once()

    def run_once(self, checkpoint: Callable[[str], None] | None = None) -> list[str]:
        """Checkpoint every registered file whose log has changed since the last look; the
        paths checkpointed. A file that is gone is forgotten; an error is logged and the file
        tried again at the next look. ``checkpoint`` replaces the checkpoint itself (tests)."""
        done: list[str] = []
        with self._lock:
            files = list(self._files.values())
        for file in files:
            if not os.path.exists(file.path):
                self.unregister_all(file.path)
                continue
            state = _log_state(file.path)
            if state is None or state == file.seen:
                continue
            try:
                if checkpoint is None:
                    file.checkpoint()
                else:
                    checkpoint(file.path)
            except Exception as e:  # the file is busy: try at the next look
                log.info("WAL checkpoint of {path} postponed: {error}", path=file.path, error=e)
                continue
            file.seen = _log_state(file.path)
            done.append(file.path)
        return done


def _log_state(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path + "-wal")
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size


CHECKPOINTER = Checkpointer()


def writing(conn: sqlite3.Connection, path: str) -> None:
    """``conn`` writes the WAL file ``path``: its own automatic checkpoint becomes the fallback,
    and the thread checkpoints the file."""
    conn.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_PAGES}")
    CHECKPOINTER.register(os.path.realpath(path))


def closed(path: str) -> None:
    """A store that `writing` registered has closed its file."""
    CHECKPOINTER.unregister(os.path.realpath(path))
