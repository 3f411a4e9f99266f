"""Engine throughput and memory: complete in-memory DMAcc delegations per second, and the
memory one open session costs with 10 000 and 100 000 sessions open.

Delegations: a DMS-1 and a DMS-2 engine back to back (in-memory transport that encodes and
decodes every message, a Clock), each delegation on its own embedded device, with every state
change, undo-journal step and tree change committed to the SQLite files as in production.
Memory: DMS-2 asks DMS-1 for N delegations; DMS-1 accepts each and waits for BOOTSTRAP_CONFIRMED,
so N sessions are open with a timer each; the figure is the growth of the process (Python heap
by tracemalloc, and resident size) divided by N.

Delegations are measured with the garbage collector as the daemon sets it once started
(`dmdelegation.daemon.gc_tuning`: ``delegations_per_s``) and as CPython sets it by default
(``delegations_per_s_default_gc``, what a library host that keeps its own settings gets); each
is the best of `RUNS` runs of `DELEGATIONS`, on fresh stores.

Last line: one JSON object with ``delegations_per_s``, ``delegations_per_s_default_gc``,
``bytes_per_session_10k``, ``bytes_per_session_100k`` (resident) and the Python-heap figures.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._harness import (
    DMS1,
    DMS2,
    Pair,
    open_sessions_awaiting_bootstrap,
    provision_devices,
)
from benchmarks._heapclock import HeapClock
from dmdelegation.daemon import gc_tuning
from dmdelegation.engine.engine import Engine
from dmdelegation.engine.model import Outcome

DELEGATIONS = 500
RUNS = 3


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def delegations_per_second(tmp: Path, *, daemon_gc: bool = False) -> float:
    clock = HeapClock(1_000_000)
    pair = Pair(tmp, clock=clock)
    devices = provision_devices(pair, (f"IMEI:{i:015d}" for i in range(DELEGATIONS)))
    threshold = gc.get_threshold()
    if daemon_gc:
        gc_tuning.apply()  # as the daemon does once started
    try:
        return _delegate(pair, devices, clock)
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def _delegate(pair: Pair, devices: list[str], clock: HeapClock) -> float:
    start = time.perf_counter()
    sessions = [pair.dms1.delegate(d, DMS2, "./Vendor/Enterprise") for d in devices]
    clock.run(horizon=60)
    elapsed = time.perf_counter() - start
    outcomes = {pair.dms1.store.get(s.session_id).outcome for s in sessions}  # type: ignore[union-attr]
    assert outcomes == {Outcome.DELEGATED}, outcomes
    return DELEGATIONS / elapsed


class RoleClock:
    """Wall time spent in each engine's own work: every entry into an engine (a message
    received, work it runs from its queue or its timers) is timed, and time spent in the other
    engine while it waits (a request's answer is computed synchronously) is the other's."""

    def __init__(self, *engines: Engine) -> None:
        self.spent: dict[str, float] = {e.server_id: 0.0 for e in engines}
        self._stack: list[list[Any]] = []  # [server_id, time entered or resumed]
        for engine in engines:
            for name in ("receive", "_run"):
                setattr(engine, name, self._timed(engine.server_id, getattr(engine, name)))

    def _timed(self, server_id: str, f: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            now = time.perf_counter()
            if self._stack:
                self.spent[self._stack[-1][0]] += now - self._stack[-1][1]
            self._stack.append([server_id, now])
            try:
                return f(*args, **kwargs)
            finally:
                now = time.perf_counter()
                sid, since = self._stack.pop()
                self.spent[sid] += now - since
                if self._stack:
                    self._stack[-1][1] = now

        return timed


def per_role(tmp: Path) -> dict[str, float]:
    """Microseconds of each role's engine per delegation (daemon collector settings)."""
    clock = HeapClock(1_000_000)
    pair = Pair(tmp, clock=clock)
    devices = provision_devices(pair, (f"IMEI:{i:015d}" for i in range(DELEGATIONS)))
    roles = RoleClock(pair.dms1, pair.dms2)
    threshold = gc.get_threshold()
    gc_tuning.apply()
    try:
        _delegate(pair, devices, clock)
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
    return {sid: spent / DELEGATIONS * 1e6 for sid, spent in roles.spent.items()}


def bytes_per_open_session(tmp: Path, n: int) -> tuple[float, float]:
    pair = Pair(tmp, clock=HeapClock(1_000_000))
    engine = pair.dms1
    gc.collect()
    tracemalloc.start()
    heap0 = tracemalloc.get_traced_memory()[0]
    rss0 = _rss()
    open_sessions_awaiting_bootstrap(pair, n)  # then the turn ends: on disk, timers armed
    gc.collect()
    heap = (tracemalloc.get_traced_memory()[0] - heap0) / n
    rss = (_rss() - rss0) / n
    tracemalloc.stop()
    assert engine.store.count_open() == n
    assert len(engine._timers) == n
    return heap, rss


def _in_fresh_process(n: int) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--memory", str(n)], check=True, capture_output=True, text=True
    ).stdout
    heap, rss = json.loads(out.splitlines()[-1])
    return float(heap), float(rss)


def _memory(n: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        print(json.dumps(bytes_per_open_session(Path(d) / "m", n)))


def main() -> None:
    # Memory in a fresh process each: resident growth means nothing in a process where earlier
    # runs left freed memory for the sessions to reuse (nor do rates in one that holds 100 000
    # sessions' worth of leftovers).
    heap10, rss10 = _in_fresh_process(10_000)
    heap100, rss100 = _in_fresh_process(100_000)
    with tempfile.TemporaryDirectory() as d:
        rates = {
            daemon_gc: max(
                delegations_per_second(Path(d) / f"rate-{daemon_gc}-{i}", daemon_gc=daemon_gc)
                for i in range(RUNS)
            )
            for daemon_gc in (False, True)
        }
        roles = min(
            (per_role(Path(d) / f"roles-{i}") for i in range(RUNS)), key=lambda r: sum(r.values())
        )
    dms1_us, dms2_us = roles[DMS1], roles[DMS2]
    print(
        f"complete DMAcc delegations (both engines, {DELEGATIONS} devices, best of {RUNS}):"
        f" {rates[True]:,.0f}/s with the daemon's collector settings,"
        f" {rates[False]:,.0f}/s with CPython's defaults"
    )
    print(
        f"each role's engine per delegation: DMS-1 {dms1_us:,.0f} us ({1e6 / dms1_us:,.0f}/s"
        f" alone), DMS-2 {dms2_us:,.0f} us ({1e6 / dms2_us:,.0f}/s alone)"
    )
    print(f"memory per open session, 10 000 open:  {rss10:,.0f} B resident, {heap10:,.0f} B heap")
    print(f"memory per open session, 100 000 open: {rss100:,.0f} B resident, {heap100:,.0f} B heap")
    print(
        json.dumps(
            {
                "delegations_per_s": round(rates[True], 1),
                "delegations_per_s_default_gc": round(rates[False], 1),
                "dms1_us_per_delegation": round(dms1_us),
                "dms2_us_per_delegation": round(dms2_us),
                "dms1_alone_per_s": round(1e6 / dms1_us, 1),
                "dms2_alone_per_s": round(1e6 / dms2_us, 1),
                "bytes_per_session_10k": round(rss10),
                "bytes_per_session_100k": round(rss100),
                "heap_bytes_per_session_10k": round(heap10),
                "heap_bytes_per_session_100k": round(heap100),
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--memory"]:
        _memory(int(sys.argv[2]))
    else:
        main()
