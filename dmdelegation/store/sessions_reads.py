"""What the SQLite session store reads for the operator's view and its own placing of recorded
DM commands: the audit trail, the timed delegations, the message log and the DM commands of a
process (:class:`~dmdelegation.store.sessions.SessionStore` is one)."""

from __future__ import annotations

import sqlite3

from dmdelegation.store import audit
from dmdelegation.store import sessions_sql as sql
from dmdelegation.store.audit import AuditEvent, Expiry
from dmdelegation.store.interfaces import Commit, DeviceCommand, LogLine
from dmdelegation.store.rows import log_line_from_row
from dmdelegation.store.staged import placed


class Reads:
    """The store's reads of what the operator looks at; the store sets the attributes below."""

    _db: sqlite3.Connection
    _staged: list[tuple[Commit, float]]  # with the time each was staged
    _commands: list[tuple[int, DeviceCommand]]  # recorded, not yet written

    # audit trail and timed delegations (dmdelegation.store.audit)

    def audit_events(self, device_id: str | None = None) -> list[AuditEvent]:
        return audit.read_events(self._db, device_id)

    def expiries(self, device_id: str | None = None) -> list[Expiry]:
        return audit.read_expiries(self._db, device_id)

    # the trace of a process

    def _logged(self, session_id: str) -> int:
        (n,) = self._db.execute(
            "SELECT count(*) FROM message_log WHERE session_id = ?", (session_id,)
        ).fetchone()
        return int(n)

    def device_commands(self, session_id: str) -> list[DeviceCommand]:
        rows = self._db.execute(
            "SELECT session_id, command, uri, status, at, after_messages FROM device_commands "
            "WHERE session_id = ? ORDER BY id",
            (session_id,),
        )
        staged = [c for c, _ in self._staged]
        pending = [(position, c) for position, c in self._commands if c.session_id == session_id]
        rows_pending = placed(pending, staged, {session_id: self._logged(session_id)})
        return [DeviceCommand(*r) for r in rows] + [DeviceCommand(*r) for r in rows_pending]

    def message_log(self, session_id: str) -> list[LogLine]:
        rows = self._db.execute(sql.SELECT_LOG, (session_id,))
        return [log_line_from_row(r) for r in rows]
