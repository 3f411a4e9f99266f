"""The SQL text of the SQLite session store (:mod:`dmdelegation.store.sessions`), the
migration of its file to the newest schema (:mod:`dmdelegation.store.migrations`), and the
pruning of ended sessions (retention: ``docs/configuration.md``)."""

from __future__ import annotations

import sqlite3

from dmdelegation.store.interfaces import PRUNABLE
from dmdelegation.store.migrations import MIGRATIONS, MIGRATIONS_TABLE, statements
from dmdelegation.store.rows import (
    DELEGATION_COLUMNS,
    LOG_COLUMNS,
    OUTBOX_COLUMNS,
    SESSION_COLUMNS,
)

# sessions

SELECT_SESSIONS = f"SELECT {SESSION_COLUMNS} FROM sessions"
SELECT_SESSION = SELECT_SESSIONS + " WHERE session_id = ?"
SELECT_OPEN = SELECT_SESSIONS + " WHERE outcome IS NULL"
SELECT_OPEN_ON = SELECT_OPEN + " AND device_id = ?"
COUNT_OPEN_BY_STATE = (
    "SELECT role, process, state, count(*) FROM sessions WHERE outcome IS NULL "
    "GROUP BY role, process, state"
)
COUNT_OPEN = "SELECT count(*) FROM sessions WHERE outcome IS NULL"
INSERT_SESSION = (
    f"INSERT INTO sessions ({SESSION_COLUMNS}, created, updated) VALUES ({', '.join('?' * 21)})"
)
UPDATE_SESSION = (
    "UPDATE sessions SET "
    + ", ".join(f"{name.strip()} = ?" for name in SESSION_COLUMNS.split(",")[1:])
    + ", updated = ? WHERE session_id = ?"
)

# outbox, inbox, message log

INSERT_OUTBOX = "INSERT INTO outbox (session_id, peer, body, created) VALUES (?, ?, ?, ?)"
CANCEL_OUTBOX = "DELETE FROM outbox WHERE session_id = ?"
DELETE_DELIVERED = "DELETE FROM outbox WHERE id = ?"
SELECT_OUTBOX = f"SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY id"
SELECT_OUTBOX_ITEM = f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = ?"
INSERT_INBOX = "INSERT OR IGNORE INTO inbox (session_id, root, response, at) VALUES (?, ?, NULL, ?)"
SET_RESPONSE = "UPDATE inbox SET response = ? WHERE session_id = ? AND root = ?"
SELECT_RESPONSE = "SELECT response FROM inbox WHERE session_id = ? AND root = ?"
INSERT_LOG = f"INSERT INTO message_log ({LOG_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
SELECT_LOG = f"SELECT {LOG_COLUMNS} FROM message_log WHERE session_id = ? ORDER BY id"

# registry

REGISTER = "INSERT OR REPLACE INTO delegations VALUES (?, ?, ?, ?, ?, ?, ?)"
UNREGISTER = "DELETE FROM delegations WHERE device_id = ? AND subtree = ? AND role = ?"
SELECT_DELEGATIONS = f"SELECT {DELEGATION_COLUMNS} FROM delegations WHERE 1 = 1"


INSERT_DEVICE_COMMAND = (
    "INSERT INTO device_commands (session_id, command, uri, status, at, after_messages) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


def migrate_sqlite(db: sqlite3.Connection, now: float) -> int:
    """Apply the migrations ``db`` lacks; the version it is at."""
    db.execute(MIGRATIONS_TABLE["sqlite"])
    (version,) = db.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    for m in MIGRATIONS:
        if m.version <= version:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements(m.sqlite):
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)",
                (m.version, m.name, now),
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        version = m.version
    return int(version)


def prune(db: sqlite3.Connection, before: float) -> list[str]:
    """Forget, in one transaction, the sessions ``PRUNABLE`` names (ended before ``before``,
    named by no delegation in force and no undelivered message), with their message log and
    inbox; their ids."""
    prunable = PRUNABLE.format(p="?")
    db.execute("BEGIN IMMEDIATE")
    try:
        ids = [row[0] for row in db.execute(prunable, (before,))]
        if ids:
            for table in ("message_log", "device_commands", "inbox", "sessions"):
                db.execute(
                    f"DELETE FROM {table} WHERE session_id IN ({prunable})",
                    (before,),
                )
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return ids
