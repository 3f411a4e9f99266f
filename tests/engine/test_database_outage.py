"""An engine on PostgreSQL rides out a database that is out of reach for a while: its lease
keeps being renewed once the database is back (a tick that failed does not stop the ticks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from dmdelegation.store.postgres import PostgresSessionStore
from dmdelegation.store.reconnect import FIRST_DELAY

from ..store.outage import kill, unreachable
from .harness import DMS1, Pair

__all__ = ["unreachable"]  # a fixture


def seen(url: str) -> float:
    with psycopg.connect(url) as db:
        row = db.execute("SELECT seen FROM instances WHERE instance_id = 'a'").fetchone()
    assert row is not None
    return float(row[0])


def test_the_lease_is_renewed_again_once_the_database_is_back(
    tmp_path: Path, postgres: Any, unreachable: tuple[str, Any]
) -> None:
    url, refuse = unreachable
    pair = Pair(tmp_path)
    clock = pair.clock
    store = PostgresSessionStore(url, instance_id="a", lease=3.0, clock=clock.seconds)
    engine = pair.build(DMS1, store=store)
    ticks: list[float] = []
    tick = engine.coordination.tick

    def counted(now: float) -> Any:
        ticks.append(now)
        return tick(now)

    engine.coordination.tick = counted  # type: ignore[method-assign]
    try:
        interval = engine.coordination.interval
        start = clock.seconds()
        assert seen(url) == start  # the tick at start
        refuse(True)
        kill(postgres, store._db)
        assert interval == 1.0
        assert FIRST_DELAY == 0.5
        for _ in range(3):  # ticks while the database is out of reach: each one fails
            clock.advance(interval)
        refuse(False)
        # The back-off doubled with each failed tick (0.5, 1, 2 s): the tick after it ends
        # reconnects, and every tick renews from then on.
        clock.advance(interval)  # 4 s: still within the back-off
        assert seen(url) == start
        clock.advance(interval)  # 5 s: the back-off ends
        assert seen(url) == clock.seconds()
        clock.advance(interval)
        assert seen(url) == clock.seconds()
        # One tick per interval throughout: a tick that failed was not also run again as
        # work that met the store out of reach (two chains of ticks, then four...).
        assert ticks == [start + n * interval for n in range(1, 7)]
    finally:
        engine.stop()
        store.close()
