"""What the PostgreSQL session store reads for the operator's view and its own placing of
recorded DM commands: the audit trail, the timed delegations, the message log and the DM
commands of a process (:class:`~dmdelegation.store.postgres.PostgresSessionStore` is one).
"""

from __future__ import annotations

from dmdelegation.store import postgres_sql as sql
from dmdelegation.store.audit import AuditEvent, Expiry, event_from_row, expiry_from_row
from dmdelegation.store.interfaces import DeviceCommand, LogLine
from dmdelegation.store.postgres_transactions import Transactions
from dmdelegation.store.rows import log_line_from_row
from dmdelegation.store.staged import placed


class Reads(Transactions):
    """The store's reads of what the operator looks at; the store sets the attribute below."""

    _commands: list[tuple[int, DeviceCommand]]  # recorded, not yet written

    # audit trail and timed delegations (dmdelegation.store.audit)

    def audit_events(self, device_id: str | None = None) -> list[AuditEvent]:
        return [event_from_row(r) for r in self._of_device(sql.SELECT_AUDIT, device_id, "id")]

    def expiries(self, device_id: str | None = None) -> list[Expiry]:
        rows = self._of_device(sql.SELECT_EXPIRIES, device_id, "expires")
        return [expiry_from_row(r) for r in rows]

    # the trace of a process

    def _written_before(self, commands: list[tuple[int, DeviceCommand]]) -> dict[str, int]:
        """Of each session in ``commands``: its log lines written before the staged commits
        (those are in the open transaction already)."""
        found = {}
        for session_id in {c.session_id for _, c in commands}:
            row = self._x(
                "SELECT count(*) AS n FROM message_log WHERE session_id = %s", (session_id,)
            ).fetchone()
            staged = sum(1 for c in self._staged for x in c.log if x.session_id == session_id)
            found[session_id] = int(row["n"] if row else 0) - staged
        return found

    def device_commands(self, session_id: str) -> list[DeviceCommand]:
        rows = self._x(
            "SELECT session_id, command, uri, status, at, after_messages FROM device_commands "
            "WHERE session_id = %s ORDER BY id",
            (session_id,),
        )
        found = [
            DeviceCommand(
                r["session_id"], r["command"], r["uri"], r["status"], r["at"], r["after_messages"]
            )
            for r in rows
        ]
        pending = [(p, c) for p, c in self._commands if c.session_id == session_id]
        if pending:
            placed_rows = placed(pending, self._staged, self._written_before(pending))
            found.extend(DeviceCommand(*r) for r in placed_rows)
        return found

    def message_log(self, session_id: str) -> list[LogLine]:
        rows = self._x(sql.SELECT_LOG, (session_id,))
        return [log_line_from_row(r) for r in rows]
