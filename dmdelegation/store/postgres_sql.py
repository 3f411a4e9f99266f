"""The SQL text of the PostgreSQL session store (:mod:`dmdelegation.store.postgres`) and of its
coordination (:mod:`dmdelegation.store.postgres_coordination`): the same tables as SQLite's,
plus the owner of each session and outbox row, the sessions' versions, and the instances'
leases."""

from __future__ import annotations

from dmdelegation.store.audit import AuditEvent, Expiry, Record
from dmdelegation.store.rows import (
    DELEGATION_COLUMNS,
    LOG_COLUMNS,
    OUTBOX_COLUMNS,
    SESSION_COLUMNS,
)

# sessions

SELECT_SESSIONS = f"SELECT {SESSION_COLUMNS} FROM sessions"
SELECT_SESSION = f"SELECT {SESSION_COLUMNS}, version FROM sessions WHERE session_id = %s"
SELECT_OPEN = SELECT_SESSIONS + " WHERE outcome IS NULL"
SELECT_OPEN_ON = SELECT_OPEN + " AND device_id = %s"
COUNT_OPEN_BY_STATE = (
    "SELECT role, process, state, count(*) AS n FROM sessions WHERE outcome IS NULL "
    "GROUP BY role, process, state"
)
COUNT_OPEN = "SELECT count(*) AS n FROM sessions WHERE outcome IS NULL"
INSERT_SESSION = (
    f"INSERT INTO sessions ({SESSION_COLUMNS}, created, updated, owner) "
    f"VALUES ({', '.join(['%s'] * 22)})"
)
# Only if the session is at the version this instance read it at (when it read it lately).
UPDATE_SESSION = (
    "UPDATE sessions SET "
    + ", ".join(f"{name.strip()} = %s" for name in SESSION_COLUMNS.split(",")[1:])
    + ", updated = %s, owner = %s, "
    "version = version + 1 WHERE session_id = %s AND (%s::integer IS NULL OR "
    "version = %s::integer) RETURNING version"
)

# outbox, inbox, message log

INSERT_OUTBOX = (
    "INSERT INTO outbox (session_id, peer, body, created, owner) "
    "VALUES (%s, %s, %s, %s, %s) RETURNING id"
)
CANCEL_OUTBOX = "DELETE FROM outbox WHERE session_id = %s"
DELETE_DELIVERED = "DELETE FROM outbox WHERE id = ANY(%s)"
SELECT_OUTBOX = f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE owner = %s ORDER BY id"
SELECT_OUTBOX_ITEM = f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = %s AND owner = %s"
INSERT_INBOX = (
    "INSERT INTO inbox (session_id, root, response, at) VALUES (%s, %s, NULL, %s) "
    "ON CONFLICT DO NOTHING"
)
SET_RESPONSE = "UPDATE inbox SET response = %s WHERE session_id = %s AND root = %s"
SELECT_RESPONSE = "SELECT response FROM inbox WHERE session_id = %s AND root = %s"
INSERT_LOG = f"INSERT INTO message_log ({LOG_COLUMNS}) VALUES (%s, %s, %s, %s, %s)"
SELECT_LOG = f"SELECT {LOG_COLUMNS} FROM message_log WHERE session_id = %s ORDER BY id"

# registry, audit trail, timed delegations

REGISTER = (
    f"INSERT INTO delegations ({DELEGATION_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (device_id, subtree, role) DO UPDATE SET peer = excluded.peer, "
    '"full" = excluded."full", since = excluded.since, '
    "session_id = excluded.session_id"
)
UNREGISTER = "DELETE FROM delegations WHERE device_id = %s AND subtree = %s AND role = %s"
SELECT_DELEGATIONS = f"SELECT {DELEGATION_COLUMNS} FROM delegations WHERE 1 = 1"
SELECT_AUDIT = (
    'SELECT event, device_id, subtree, role, peer, "full", session_id, process, detail, '
    "at FROM audit"
)
SELECT_EXPIRIES = "SELECT session_id, device_id, subtree, expires FROM timed"
INSERT_AUDIT = (
    'INSERT INTO audit (device_id, subtree, role, peer, "full", event, session_id, '
    "process, detail, at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
INSERT_EXPIRY = (
    "INSERT INTO timed (session_id, device_id, subtree, expires) "
    "VALUES (%s, %s, %s, %s) ON CONFLICT (session_id) DO UPDATE SET "
    "device_id = excluded.device_id, subtree = excluded.subtree, "
    "expires = excluded.expires"
)


def record_statement(record: Record, now: float) -> tuple[str, tuple[object, ...]]:
    """The statement that writes an audit event or a timed delegation's expiry, and its
    arguments (``Record.write`` is SQLite's)."""
    if isinstance(record, AuditEvent):
        return INSERT_AUDIT, (
            record.device_id,
            record.subtree,
            record.role,
            record.peer,
            int(record.full),
            record.event,
            record.session_id,
            record.process,
            record.detail,
            now,
        )
    if isinstance(record, Expiry):
        return INSERT_EXPIRY, (record.session_id, record.device_id, record.subtree, record.expires)
    raise TypeError(f"no PostgreSQL form for {type(record).__name__}")


# coordination: advisory locks, ownership, leases

TRY_LOCK = "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0)) AS ok"
OWNER = "SELECT owner FROM sessions WHERE session_id = %s"
RESUMABLE = SELECT_OPEN + " AND owner = %s"
RENEW_LEASE = "UPDATE instances SET seen = %s WHERE instance_id = %s"
GIVE_UP_LEASE = "UPDATE instances SET seen = 0 WHERE instance_id = %s"
JOIN = "INSERT INTO instances (instance_id, started, seen) VALUES (%s, %s, %s)"
DEAD = (
    "SELECT instance_id FROM instances WHERE instance_id <> %s AND seen < %s "
    "ORDER BY instance_id FOR UPDATE SKIP LOCKED"
)
ADOPT_SESSIONS = (
    f"UPDATE sessions SET owner = %s WHERE owner = %s AND outcome IS NULL "
    f"RETURNING {SESSION_COLUMNS}"
)
ADOPT_OUTBOX = "UPDATE outbox SET owner = %s WHERE owner = %s RETURNING id"
FORGET_INSTANCE = "DELETE FROM instances WHERE instance_id = %s"

INSERT_DEVICE_COMMAND = (
    "INSERT INTO device_commands (session_id, command, uri, status, at, after_messages) "
    "VALUES (%s, %s, %s, %s, %s, %s)"
)
