"""Recovery: how long a restarted daemon's engine takes to reload and re-arm its open sessions.

100 000 processes are left open in a session store (DMS-1 waiting for DMS-2's
BOOTSTRAP_CONFIRMED, each with a deadline), the engine is dropped, and a new engine is built on
the same file and started: the figure is the time ``Engine.start()`` takes to reload every open
session, re-arm its timer and resume what needs resuming. Goal (issue 6): under 5 s.

Last line: ``{"sessions": ..., "recovery_s": ..., "sessions_per_s": ...}``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._harness import DMS1, Pair, open_sessions_awaiting_bootstrap
from benchmarks._heapclock import HeapClock
from dmdelegation.store.sessions import SessionStore

SESSIONS = 100_000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pair = Pair(Path(tmp), clock=HeapClock(1_000_000))
        engine = pair.dms1
        open_sessions_awaiting_bootstrap(pair, SESSIONS)
        assert engine.store.count_open() == SESSIONS
        engine.stop()
        engine.store.close()
        path = Path(tmp) / f"{DMS1}.sqlite3"
        start = time.perf_counter()
        restarted = pair.build(DMS1, store=SessionStore(path))  # builds and starts the engine
        elapsed = time.perf_counter() - start
        assert len(restarted._timers) == SESSIONS
        assert restarted.store.count_open() == SESSIONS
    print(f"{SESSIONS} open sessions reloaded and re-armed in {elapsed:.2f} s (goal: under 5 s)")
    print(
        json.dumps(
            {
                "sessions": SESSIONS,
                "recovery_s": round(elapsed, 3),
                "sessions_per_s": round(SESSIONS / elapsed),
            }
        )
    )


if __name__ == "__main__":
    main()
