"""Pruning on the shared PostgreSQL store forgets what the SQLite store does: ended sessions
older than the cut, with their message logs and inbox, but not a delegation in force's."""

from __future__ import annotations

import psycopg

from dmdelegation.store.postgres import PostgresSessionStore
from dmdelegation.store.throwaway import ThrowawayPostgres

COLUMNS = (
    'session_id, role, process, state, peer, device_id, subtree, "full", initiator, '
    "device_man, device_mod, touched_client, aborted, wait, deadline, notify, reason_code, "
    "outcome, reason, created, updated"
)


def _session(db: psycopg.Connection, session_id: str, outcome: str | None, updated: float) -> None:
    db.execute(
        f"INSERT INTO sessions ({COLUMNS}) VALUES "
        "(%s, 'dms1', 'delegation_dmacc', 'done', 'peer', 'IMEI:1', './A', 0, 'dms2', '', '', "
        "0, 0, NULL, NULL, 0, 200, %s, '', %s, %s)",
        (session_id, outcome, updated, updated),
    )
    db.execute(
        "INSERT INTO message_log (session_id, direction, root, document, at) "
        "VALUES (%s, 'in', 'DELEGATION_REQ', '<x/>', %s)",
        (session_id, updated),
    )
    db.execute(
        "INSERT INTO inbox (session_id, root, response, at) "
        "VALUES (%s, 'DELEGATION_REQ', NULL, %s)",
        (session_id, updated),
    )


def test_pruning_on_postgresql(postgres: ThrowawayPostgres) -> None:
    url = postgres.fresh_url()
    store = PostgresSessionStore(url, instance_id="prune")
    try:
        with psycopg.connect(url, autocommit=True) as db:
            _session(db, "old-ended", "refused", 100.0)
            _session(db, "old-delegated", "delegated", 100.0)
            _session(db, "new-ended", "refused", 900.0)
            _session(db, "old-open", None, 100.0)
            db.execute(
                'INSERT INTO delegations (device_id, subtree, role, peer, "full", since, '
                "session_id) VALUES ('IMEI:1', './A', 'dms1', 'peer', 0, 100, 'old-delegated')"
            )
        assert store.prune(500.0) == 1
        assert store.prune(500.0) == 0
        with psycopg.connect(url) as db:
            left = {r[0] for r in db.execute("SELECT session_id FROM sessions")}
            logged = {r[0] for r in db.execute("SELECT session_id FROM message_log")}
            inbox = {r[0] for r in db.execute("SELECT session_id FROM inbox")}
        assert left == logged == inbox == {"old-delegated", "new-ended", "old-open"}
    finally:
        store.close()
