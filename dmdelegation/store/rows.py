"""The engine's records as rows of the store's tables, both ways, for both backends.

A row is read by column name: a :class:`sqlite3.Row` (the SQLite store) and a ``dict`` (the
PostgreSQL store's ``dict_row``) both are. Booleans are stored as integers, the model's enums as
their values, and bodies as blobs (``bytes`` when read back, whatever buffer the driver gives).
"""

from __future__ import annotations

from typing import Any

from dmdelegation.core.model import Delegation, Outcome, Process, Role, Session
from dmdelegation.store.interfaces import LogLine, OutboxItem

__all__ = [
    "DELEGATION_COLUMNS",
    "LOG_COLUMNS",
    "OUTBOX_COLUMNS",
    "SESSION_COLUMNS",
    "delegation_from_row",
    "log_line_from_row",
    "outbox_item_from_row",
    "response_from_row",
    "session_from_row",
    "session_values",
]

SESSION_COLUMNS = (
    'session_id, role, process, state, peer, device_id, subtree, "full", initiator, device_man, '
    "device_mod, touched_client, aborted, wait, deadline, notify, reason_code, outcome, reason"
)
"""The columns of ``sessions`` that hold a :class:`Session`, in :func:`session_values`'s order."""

DELEGATION_COLUMNS = 'device_id, subtree, role, peer, "full", since, session_id'
OUTBOX_COLUMNS = "id, session_id, peer, body, created"
LOG_COLUMNS = "session_id, direction, root, document, at"


# The enums by value, as lookups: a call of an enum type costs several times more, and recovery
# reads every open session (a value no member has raises KeyError: the row is not ours).
_ROLES = {member.value: member for member in Role}
_PROCESSES = {member.value: member for member in Process}
_OUTCOMES = {member.value: member for member in Outcome}


def session_from_row(row: Any) -> Session:
    outcome = row["outcome"]
    return Session(
        session_id=row["session_id"],
        role=_ROLES[row["role"]],
        process=_PROCESSES[row["process"]],
        state=row["state"],
        peer=row["peer"],
        device_id=row["device_id"],
        subtree=row["subtree"],
        full=bool(row["full"]),
        initiator=_ROLES[row["initiator"]],
        device_man=row["device_man"],
        device_mod=row["device_mod"],
        touched_client=bool(row["touched_client"]),
        aborted=bool(row["aborted"]),
        wait=row["wait"],
        deadline=row["deadline"],
        notify=bool(row["notify"]),
        reason_code=row["reason_code"],
        outcome=None if outcome is None else _OUTCOMES[outcome],
        reason=row["reason"],
    )


def session_values(s: Session) -> tuple[object, ...]:
    """The values of :data:`SESSION_COLUMNS` for ``s``, in that order."""
    return (
        s.session_id,
        s.role.value,
        s.process.value,
        s.state,
        s.peer,
        s.device_id,
        s.subtree,
        int(s.full),
        s.initiator.value,
        s.device_man,
        s.device_mod,
        int(s.touched_client),
        int(s.aborted),
        s.wait,
        s.deadline,
        int(s.notify),
        s.reason_code,
        None if s.outcome is None else s.outcome.value,
        s.reason,
    )


def delegation_from_row(row: Any) -> Delegation:
    return Delegation(
        device_id=row["device_id"],
        subtree=row["subtree"],
        role=_ROLES[row["role"]],
        peer=row["peer"],
        full=bool(row["full"]),
        since=row["since"],
        session_id=row["session_id"],
    )


def outbox_item_from_row(row: Any) -> OutboxItem:
    return OutboxItem(row["id"], row["session_id"], row["peer"], bytes(row["body"]), row["created"])


def log_line_from_row(row: Any) -> LogLine:
    return LogLine(row["session_id"], row["direction"], row["root"], row["document"], row["at"])


def response_from_row(row: Any) -> bytes | None:
    """The answer kept for an inbound message (``None``: taken, not answered yet)."""
    response = row["response"]
    return None if response is None else bytes(response)
