"""A store's database lost and out of reach, for real: its backend terminated from another
connection, and the database refusing new connections for a while."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from dmdelegation.store.throwaway import ThrowawayPostgres


def backend(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(next(iter(row.values())) if isinstance(row, dict) else row[0])


def kill(server: ThrowawayPostgres, conn: psycopg.Connection[Any]) -> int:
    """Terminate the backend of ``conn`` from another connection; its pid."""
    pid = backend(conn)
    with psycopg.connect(server.url(), autocommit=True) as admin:
        row = admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()
        assert row == (True,)
        # Terminating only signals the backend: wait (in the server, 10 s at most) until it
        # has gone.
        admin.execute("SET statement_timeout = '10s'")
        admin.execute(
            "DO $$ BEGIN WHILE EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = "
            f"{pid}) LOOP PERFORM pg_stat_clear_snapshot(); END LOOP; END $$"
        )
    return pid


@pytest.fixture
def unreachable(postgres: ThrowawayPostgres) -> Iterator[tuple[str, Any]]:
    """A database of its own, its URL with a password (which trust authentication ignores),
    and a switch that makes it refuse every new connection (or take them again)."""
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute("CREATE DATABASE unreachable")
    url = postgres.url("unreachable").replace("dmdelegation@", "dmdelegation:s3cret@")

    def refuse(refused: bool) -> None:
        with psycopg.connect(postgres.url(), autocommit=True) as admin:
            allowed = "false" if refused else "true"
            admin.execute(f"ALTER DATABASE unreachable WITH ALLOW_CONNECTIONS {allowed}")

    yield url, refuse
    refuse(False)
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute("DROP DATABASE unreachable WITH (FORCE)")
