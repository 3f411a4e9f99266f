"""Two OS processes, two instances, the same sessions, at the same time: every transition is
applied on the state the other instance left, none is lost (the hold's lock, the version)."""

from __future__ import annotations

import multiprocessing
import random
from multiprocessing.queues import Queue
from typing import Any

from dmdelegation.store.interfaces import Busy, Commit
from dmdelegation.store.postgres import PostgresSessionStore
from dmdelegation.store.throwaway import ThrowawayPostgres

from .test_contract import session

SESSIONS = 5
STEPS = 150


def increment(url: str, name: str, seed: int, results: Queue[Any]) -> None:
    """Add 1 to the counter of a random session, STEPS times, retrying when it is busy; send
    back how many times each session was moved and how often the other instance held it."""
    store = PostgresSessionStore(url, instance_id=name)
    coordination = store.coordination()
    rng = random.Random(seed)
    done = [0] * SESSIONS
    busy = 0
    while sum(done) < STEPS:
        n = rng.randrange(SESSIONS)
        try:
            with coordination.hold(f"s{n}") as current:
                assert current is not None
                moved = current.to("counting", reason=str(int(current.reason) + 1))
                store.stage(Commit(moved), 1.0)
                store.flush()
        except Busy:
            busy += 1
            continue
        done[n] += 1
    store.close()
    results.put((done, busy))


def test_two_processes_lose_no_transition(postgres: ThrowawayPostgres) -> None:
    url = postgres.fresh_url()
    store = PostgresSessionStore(url, instance_id="setup")
    for n in range(SESSIONS):
        store.commit(Commit(session(n, device=f"IMEI:{n}", reason="0"), created=True), 1.0)
    context = multiprocessing.get_context("fork")
    results: Queue[Any] = context.Queue()
    workers = [context.Process(target=increment, args=(url, f"i{k}", k, results)) for k in range(2)]
    for w in workers:
        w.start()
    figures = [results.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    for n in range(SESSIONS):
        final = store.get(f"s{n}")
        assert final is not None
        assert int(final.reason) == sum(done[n] for done, _ in figures)
    assert sum(sum(done) for done, _ in figures) == 2 * STEPS
    store.close()
