"""Scale-out on PostgreSQL: complete DMAcc delegations per second with one DMS-1 instance, then
with two, sharing one database (a throw-away cluster started for the run), and the ratio; two
rounds of each, alternated, the best of each kept.

Each DMS-1 instance is its own OS process with its own connection and instance name, driving
its share of the delegations against a DMS-2 engine of its own (SQLite, in that process: the
figure is DMS-1's, the side that scales out here) over the in-memory transport that encodes
and decodes every message. Every DMS-1 transition takes the session's advisory lock and is
committed to PostgreSQL, and its undo journals are in the same database (a second connection),
as in production. Both runs do the same number of delegations per
instance; the rate is all delegations over the time from a common start to the last instance's
end. The baseline (one instance) is measured in the same run.

Last line: one JSON object with ``one_instance_per_s``, ``two_instances_per_s``, ``ratio``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import sys
import tempfile
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._harness import DMS1, DMS2, Pair, provision_devices
from benchmarks._heapclock import HeapClock
from dmdelegation.client.revocation import RECORD_COMPLETE
from dmdelegation.client.testing import fired
from dmdelegation.engine.client_changes import JournaledClientChanges
from dmdelegation.engine.model import Outcome
from dmdelegation.store.journal_postgres import PostgresJournalStore
from dmdelegation.store.postgres import PostgresSessionStore
from dmdelegation.store.throwaway import ThrowawayPostgres

PER_INSTANCE = 1000
ROUNDS = 2  # one, two, one, two: the best of each, so that a burst of other work on a
# shared machine does not decide the ratio
NO_TAKEOVER = 1e9  # the instances' clocks are simulated and apart: no lease may run out


def instance(url: str, name: str, tmp: str, barrier: Barrier, results: Any) -> None:
    clock = HeapClock(1_000_000)
    pair = Pair(Path(tmp) / name, clock=clock)
    pair.dms1.stop()
    store = PostgresSessionStore(url, instance_id=name, lease=NO_TAKEOVER)
    journals = PostgresJournalStore(url)
    changes = JournaledClientChanges(
        DMS1, lambda d: pair.clients.session(d, DMS1), journals, registry=store
    )
    pair.dms1 = pair.build(DMS1, store=store, client_changes=changes)
    devices = provision_devices(pair, (f"IMEI:{name}:{i:09d}" for i in range(PER_INSTANCE)))
    backends = [_backend_pid(store), journals._conn.info.backend_pid]
    barrier.wait()
    start, cpu, db_cpu = time.time(), time.process_time(), sum(map(_cpu_of, backends))
    sessions = [pair.dms1.delegate(d, DMS2, "./Vendor/Enterprise") for d in devices]
    clock.run(horizon=60)
    end, cpu = time.time(), time.process_time() - cpu
    db_cpu = sum(map(_cpu_of, backends)) - db_cpu
    outcomes = {store.get(s.session_id).outcome for s in sessions}  # type: ignore[union-attr]
    assert outcomes == {Outcome.DELEGATED}, outcomes
    # what stays of this instance's delegations: their grant records, each the journal of the
    # process that made it (the instances share the database, so the other's are there too)
    assert {s.session_id for s in sessions} <= set(journals.journal_ids())
    for s in sessions:
        entries = fired(journals.open(s.session_id, s.device_id, DMS1).entries())
        assert entries[-1].step == RECORD_COMPLETE, s.session_id
    store.close()
    journals.close()
    results.put((start, end, len(sessions), cpu, db_cpu))


def _backend_pid(store: PostgresSessionStore) -> int:
    row = store._x("SELECT pg_backend_pid() AS pid").fetchone()
    assert row is not None
    return int(row["pid"])


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) of a local process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rate(server: ThrowawayPostgres, instances: int, tmp: str) -> tuple[float, float, float]:
    """Delegations per second, and CPU milliseconds per delegation of the instances (with their
    DMS-2) and of their database backends."""
    url = server.fresh_url()
    PostgresSessionStore(url, instance_id="migrate").close()  # the schema, before the clock
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(instances)
    results = context.Queue()
    workers = [
        context.Process(target=instance, args=(url, f"dms1-{n}", tmp, barrier, results))
        for n in range(instances)
    ]
    for w in workers:
        w.start()
    figures: list[tuple[float, float, int, float, float]] = []
    while len(figures) < len(workers):  # an instance that dies ends the run at once
        try:
            figures.append(results.get(timeout=1))
        except queue.Empty:
            failed = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
            if failed:
                raise SystemExit(f"an instance failed (exit code {failed[0]})") from None
    for w in workers:
        w.join()
        if w.exitcode != 0:
            raise SystemExit(f"an instance failed (exit code {w.exitcode})")
    start = min(f[0] for f in figures)
    end = max(f[1] for f in figures)
    done = sum(f[2] for f in figures)
    cpu = 1000 * sum(f[3] for f in figures) / done
    db_cpu = 1000 * sum(f[4] for f in figures) / done
    return done / (end - start), cpu, db_cpu


def main() -> None:
    server = ThrowawayPostgres().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ones, twos = [], []
            for r in range(ROUNDS):
                ones.append(rate(server, 1, f"{tmp}/one{r}"))
                twos.append(rate(server, 2, f"{tmp}/two{r}"))
                print(
                    f"round {r + 1}: {ones[-1][0]:,.0f}/s with one, {twos[-1][0]:,.0f}/s with two"
                )
            one, cpu1, db1 = max(ones)
            two, cpu2, db2 = max(twos)
    finally:
        server.stop()
    cores = os.cpu_count() or 1
    print(f"load average during the runs: {os.getloadavg()[0]:.1f} on {cores} cores")
    print(
        f"one DMS-1 instance on PostgreSQL: {one:,.0f} delegations/s "
        f"(CPU per delegation: {cpu1:.1f} ms instance and its DMS-2, {db1:.1f} ms database)"
    )
    print(
        f"two DMS-1 instances on PostgreSQL: {two:,.0f} delegations/s ({two / one:.2f}x) "
        f"(CPU per delegation: {cpu2:.1f} ms instance and its DMS-2, {db2:.1f} ms database)"
    )
    print(
        f"this machine's {cores} cores could give at most "
        f"{1000 * cores / (cpu2 + db2):,.0f} delegations/s at that CPU cost, if nothing else ran"
    )
    figures = {
        "one_instance_per_s": round(one, 1),
        "two_instances_per_s": round(two, 1),
        "ratio": round(two / one, 2),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
