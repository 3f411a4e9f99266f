"""The audit trail and the expiry of timed delegations, kept in the engine's store and written
in the same transaction as the transition that causes them (``Commit.records``): the trail can
never disagree with the registry of delegations, whatever point a crash comes at.

``audit`` holds events, oldest first:

- ``granted``: a delegation came into force (the transition that registers it);
- ``revocation``: a revocation process began, with its cause (``operator``, ``expired``, or
  the peer that asked for it);
- ``ended``: a delegation left the registry, with the outcome and reason of the process that
  ended it.

``timed`` holds the expiry of each timed delegation, written with the first transition of its
delegation process.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Protocol

from attrs import frozen

from dmdelegation.core.effects import Effect, Finish, Register, Unregister
from dmdelegation.core.model import Session

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL, subtree TEXT NOT NULL, role TEXT NOT NULL, peer TEXT NOT NULL,
    full INTEGER NOT NULL, event TEXT NOT NULL, session_id TEXT NOT NULL, process TEXT NOT NULL,
    detail TEXT NOT NULL, at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_device ON audit (device_id);
CREATE TABLE IF NOT EXISTS timed (
    session_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, subtree TEXT NOT NULL,
    expires REAL NOT NULL
);
"""

GRANTED = "granted"
REVOCATION = "revocation"
ENDED = "ended"


class Record(Protocol):
    """Something written inside a transition's transaction."""

    def write(self, db: sqlite3.Connection, now: float) -> None: ...


@frozen
class AuditEvent:
    event: str
    device_id: str
    subtree: str
    role: str
    peer: str
    full: bool
    session_id: str
    process: str
    detail: str = ""
    at: float = 0.0  # when read back; the commit's time when written

    def write(self, db: sqlite3.Connection, now: float) -> None:
        db.execute(
            "INSERT INTO audit (device_id, subtree, role, peer, full, event, session_id, "
            "process, detail, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.device_id,
                self.subtree,
                self.role,
                self.peer,
                int(self.full),
                self.event,
                self.session_id,
                self.process,
                self.detail,
                now,
            ),
        )


@frozen
class Expiry:
    """A timed delegation: the delegation process ``session_id`` ends its delegation at
    ``expires`` (the reactor's time)."""

    session_id: str
    device_id: str
    subtree: str
    expires: float

    def write(self, db: sqlite3.Connection, now: float) -> None:
        db.execute(
            "INSERT OR REPLACE INTO timed (session_id, device_id, subtree, expires) "
            "VALUES (?, ?, ?, ?)",
            (self.session_id, self.device_id, self.subtree, self.expires),
        )


def _event(event: str, s: Session, detail: str) -> AuditEvent:
    return AuditEvent(
        event,
        s.device_id,
        s.subtree,
        s.role.value,
        s.peer,
        s.full,
        s.session_id,
        s.process.value,
        detail,
    )


def events(
    before: Session | None, after: Session, effects: Sequence[Effect], cause: str | None
) -> list[AuditEvent]:
    """The audit events of one transition (usually none)."""
    found: list[AuditEvent] = []
    if before is None and not after.process.is_delegation:
        if cause is None:
            cause = "operator" if after.initiator is after.role else f"asked by {after.peer}"
        found.append(_event(REVOCATION, after, cause))
    for effect in effects:
        if isinstance(effect, Register):
            found.append(_event(GRANTED, after, ""))
        elif isinstance(effect, Unregister):
            finish = next((e for e in effects if isinstance(e, Finish)), None)
            outcome = finish.outcome.value if finish is not None else "ended"
            reason = finish.reason if finish is not None else ""
            found.append(_event(ENDED, after, f"{outcome}: {reason}" if reason else outcome))
    return found


def read_events(db: sqlite3.Connection, device_id: str | None) -> list[AuditEvent]:
    query = (
        "SELECT event, device_id, subtree, role, peer, full, session_id, process, detail, at "
        "FROM audit"
    )
    rows = (
        db.execute(query + " WHERE device_id = ? ORDER BY id", (device_id,))
        if device_id is not None
        else db.execute(query + " ORDER BY id")
    )
    return [event_from_row(r) for r in rows]


def read_expiries(db: sqlite3.Connection, device_id: str | None = None) -> list[Expiry]:
    query = "SELECT session_id, device_id, subtree, expires FROM timed"
    rows = (
        db.execute(query + " WHERE device_id = ? ORDER BY expires", (device_id,))
        if device_id is not None
        else db.execute(query + " ORDER BY expires")
    )
    return [expiry_from_row(r) for r in rows]


def event_from_row(r: Any) -> AuditEvent:
    """An ``audit`` row, read by column name (a :class:`sqlite3.Row` or a PostgreSQL ``dict``)."""
    return AuditEvent(
        r["event"],
        r["device_id"],
        r["subtree"],
        r["role"],
        r["peer"],
        bool(r["full"]),
        r["session_id"],
        r["process"],
        r["detail"],
        r["at"],
    )


def expiry_from_row(r: Any) -> Expiry:
    """A ``timed`` row, read by column name."""
    return Expiry(r["session_id"], r["device_id"], r["subtree"], r["expires"])
