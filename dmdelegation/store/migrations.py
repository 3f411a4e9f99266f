"""The schema of the engine's store, as numbered migrations both backends share in intent.

Each migration has an SQLite and a PostgreSQL text; ``schema_migrations`` records which are
applied (version, name, when). A store applies the missing ones when it opens, in order, each in
its own transaction; on PostgreSQL under an advisory lock, so that instances starting together
migrate once. A database written before migrations existed gets migration 1 as a no-op (its
statements are ``IF NOT EXISTS``).

On PostgreSQL the database also holds DMS-1's undo journals (migration 4), so the journal store
(:mod:`dmdelegation.store.journal_postgres`) applies the same migrations when it opens; on SQLite
that migration is empty (the journals have a file of their own).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from attrs import frozen

if TYPE_CHECKING:
    import psycopg

MIGRATION_LOCK = 0x646D64656C  # "dmdel": one instance migrates at a time


@frozen
class Migration:
    version: int
    name: str
    sqlite: str
    postgresql: str


MIGRATIONS_TABLE = {
    "sqlite": "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied REAL NOT NULL)",
    "postgresql": "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied DOUBLE PRECISION NOT NULL)",
}

_SESSIONS = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    role TEXT NOT NULL, process TEXT NOT NULL, state TEXT NOT NULL,
    peer TEXT NOT NULL, device_id TEXT NOT NULL, subtree TEXT NOT NULL,
    "full" INTEGER NOT NULL, initiator TEXT NOT NULL,
    device_man TEXT NOT NULL, device_mod TEXT NOT NULL,
    touched_client INTEGER NOT NULL, aborted INTEGER NOT NULL,
    wait TEXT, deadline {real}, notify INTEGER NOT NULL, reason_code INTEGER NOT NULL,
    outcome TEXT, reason TEXT NOT NULL,
    created {real} NOT NULL, updated {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_open ON sessions (device_id) WHERE outcome IS NULL;
CREATE TABLE IF NOT EXISTS outbox (
    id {serial},
    session_id TEXT NOT NULL, peer TEXT NOT NULL, body {blob} NOT NULL, created {real} NOT NULL
);
CREATE TABLE IF NOT EXISTS inbox (
    session_id TEXT NOT NULL, root TEXT NOT NULL, response {blob}, at {real} NOT NULL,
    PRIMARY KEY (session_id, root)
);
CREATE TABLE IF NOT EXISTS message_log (
    id {serial},
    session_id TEXT NOT NULL, direction TEXT NOT NULL, root TEXT NOT NULL,
    document TEXT NOT NULL, at {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS message_log_session ON message_log (session_id);
CREATE TABLE IF NOT EXISTS delegations (
    device_id TEXT NOT NULL, subtree TEXT NOT NULL, role TEXT NOT NULL,
    peer TEXT NOT NULL, "full" INTEGER NOT NULL, since {real} NOT NULL, session_id TEXT NOT NULL,
    PRIMARY KEY (device_id, subtree, role)
);
"""

# Ownership: the instance that committed a session's last transition (or adopted it) fires its
# timer and resumes it; the instance that committed an outbox row delivers it. ``version`` counts
# a session's commits: a transition computed from a state another instance has since replaced
# is refused at commit. ``instances``
# holds each instance's lease (last heartbeat). SQLite has one instance; it keeps the columns
# (always NULL) so that both schemas say the same.
_OWNERSHIP = """
ALTER TABLE sessions ADD COLUMN owner TEXT;
ALTER TABLE sessions ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN owner TEXT;
CREATE INDEX {if_not_exists} sessions_owner ON sessions (owner) WHERE outcome IS NULL;
CREATE INDEX {if_not_exists} outbox_owner ON outbox (owner);
CREATE TABLE {if_not_exists} instances (
    instance_id TEXT PRIMARY KEY, started {real} NOT NULL, seen {real} NOT NULL
);
"""

# The audit trail and the timed delegations' expiries (dmdelegation.store.audit).
_AUDIT = """
CREATE TABLE IF NOT EXISTS audit (
    id {serial},
    device_id TEXT NOT NULL, subtree TEXT NOT NULL, role TEXT NOT NULL, peer TEXT NOT NULL,
    "full" INTEGER NOT NULL, event TEXT NOT NULL, session_id TEXT NOT NULL, process TEXT NOT NULL,
    detail TEXT NOT NULL, at {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_device ON audit (device_id);
CREATE TABLE IF NOT EXISTS timed (
    session_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, subtree TEXT NOT NULL,
    expires {real} NOT NULL
);
"""

# DMS-1's undo journals (dmdelegation.store.journal_postgres), shared by the instances of a
# deployment so that one can undo a tree change another died in the middle of. On SQLite the
# journals are not in the engine's file but in journals.sqlite3 (dmdelegation.client.
# journal_store, which creates its own tables): nothing to do there.
_JOURNALS = """
CREATE TABLE IF NOT EXISTS journals (
    journal_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    server_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS journal_steps (
    journal_id TEXT NOT NULL REFERENCES journals (journal_id),
    seq INTEGER NOT NULL,
    step TEXT NOT NULL,
    state TEXT NOT NULL,
    undo_progress INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (journal_id, seq)
);
"""

# The DM commands each process sent its device (dmdelegation.engine.recording), for its trace:
# command, URI and status, never a value; ``after_messages`` places each among the session's
# message log lines (a clock's resolution cannot: a command and a message may share a time).
_DEVICE_COMMANDS = """
CREATE TABLE IF NOT EXISTS device_commands (
    id {serial},
    session_id TEXT NOT NULL, command TEXT NOT NULL, uri TEXT NOT NULL, status INTEGER,
    at {real} NOT NULL, after_messages INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS device_commands_session ON device_commands (session_id);
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "sessions, outbox, inbox, message log, delegations",
        _SESSIONS.format(real="REAL", blob="BLOB", serial="INTEGER PRIMARY KEY AUTOINCREMENT"),
        _SESSIONS.format(
            real="DOUBLE PRECISION",
            blob="BYTEA",
            serial="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        ),
    ),
    Migration(
        2,
        "instances, which instance owns a session or an outbox message, session versions",
        _OWNERSHIP.format(real="REAL", if_not_exists="IF NOT EXISTS"),
        _OWNERSHIP.format(real="DOUBLE PRECISION", if_not_exists="IF NOT EXISTS"),
    ),
    Migration(
        3,
        "audit trail, timed delegations",
        _AUDIT.format(real="REAL", serial="INTEGER PRIMARY KEY AUTOINCREMENT"),
        _AUDIT.format(
            real="DOUBLE PRECISION", serial="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
        ),
    ),
    Migration(4, "undo journals (PostgreSQL only)", "", _JOURNALS),
    Migration(
        5,
        "the DM commands each process sent its device",
        _DEVICE_COMMANDS.format(real="REAL", serial="INTEGER PRIMARY KEY AUTOINCREMENT"),
        _DEVICE_COMMANDS.format(
            real="DOUBLE PRECISION", serial="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
        ),
    ),
)

LATEST = MIGRATIONS[-1].version


def statements(script: str) -> list[str]:
    """The statements of a migration's text (none of ours holds a ';' in a literal)."""
    return [s.strip() for s in script.split(";") if s.strip()]


def migrate_postgresql(db: psycopg.Connection[Any]) -> int:
    """Apply the missing migrations to the PostgreSQL database of ``db`` (an autocommit
    connection with no transaction open), in one transaction under an advisory lock, so that
    instances (and their journal stores) starting together migrate once; the schema's version."""
    from psycopg.rows import tuple_row

    with db.transaction():
        cur = db.cursor(row_factory=tuple_row)
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        cur.execute(MIGRATIONS_TABLE["postgresql"])
        row = cur.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        assert row is not None
        version = int(row[0])
        for m in MIGRATIONS:
            if m.version <= version:
                continue
            for statement in statements(m.postgresql):
                cur.execute(statement)
            cur.execute(
                "INSERT INTO schema_migrations (version, name, applied) VALUES (%s, %s, %s)",
                (m.version, m.name, time.time()),
            )
            version = m.version
    return version
