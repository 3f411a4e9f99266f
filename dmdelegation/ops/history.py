"""The audit trail of a device read as periods of authority: who held which subtree, from when
to when, through which process, and why it ended (``dmdelegation history DEVICE``).

A period opens with a ``granted`` event and closes with the ``ended`` event of the same
(subtree, role, peer); the cause of its end is the ``revocation`` event of the process that
ended it (operator, expired, or asked by the peer).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from attrs import define

from dmdelegation.store.audit import ENDED, GRANTED, REVOCATION, AuditEvent, Expiry


@define
class Period:
    device: str
    subtree: str
    role: str  # dms1: ``holder`` is the delegated server; dms2: we hold it from ``grantor``
    holder: str
    grantor: str
    full: bool
    since: float
    through: str  # the delegation's session
    process: str  # its process (delegation-dmacc, delegation-bootstrap)
    expires: float | None = None
    until: float | None = None
    ended_by: str | None = None  # the session that ended it
    ended_process: str | None = None
    cause: str | None = None  # operator, expired, asked by ...
    outcome: str | None = None  # e.g. "revoked: ./X taken back from Y"

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "subtree": self.subtree,
            "role": self.role,
            "holder": self.holder,
            "grantor": self.grantor,
            "full": self.full,
            "since": self.since,
            "through": self.through,
            "process": self.process,
            "expires": self.expires,
            "until": self.until,
            "ended_by": self.ended_by,
            "ended_process": self.ended_process,
            "cause": self.cause,
            "outcome": self.outcome,
        }


def periods(
    events: Iterable[AuditEvent], server_id: str, expiries: Sequence[Expiry] = ()
) -> list[Period]:
    """The periods of authority the events (oldest first) describe, in the order they began."""
    expires = {e.session_id: e.expires for e in expiries}
    causes: dict[str, str] = {}
    open_: dict[tuple[str, str, str, str], Period] = {}
    found: list[Period] = []
    for e in events:
        key = (e.device_id, e.subtree, e.role, e.peer)
        if e.event == REVOCATION:
            causes[e.session_id] = e.detail
        elif e.event == GRANTED:
            dms1 = e.role == "dms1"
            period = Period(
                device=e.device_id,
                subtree=e.subtree,
                role=e.role,
                holder=e.peer if dms1 else server_id,
                grantor=server_id if dms1 else e.peer,
                full=e.full,
                since=e.at,
                through=e.session_id,
                process=e.process,
                expires=expires.get(e.session_id),
            )
            open_[key] = period
            found.append(period)
        elif e.event == ENDED:
            ended = open_.pop(key, None)
            if ended is None:
                continue
            ended.until = e.at
            ended.ended_by = e.session_id
            ended.ended_process = e.process
            ended.cause = causes.get(e.session_id, "the delegation process failed")
            ended.outcome = e.detail
    return found


def when(t: float | None) -> str:
    if t is None:
        return "now"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + "Z"


def history_lines(found: Sequence[dict[str, Any]]) -> list[str]:
    """Periods (as :meth:`Period.to_json` gives them) as the terminal shows them."""
    if not found:
        return ["no delegation on record"]
    lines = []
    for p in found:
        full = " (full)" if p["full"] else ""
        timed = f", timed until {when(p['expires'])}" if p["expires"] is not None else ""
        lines.append(
            f"{p['subtree']}{full}: held by {p['holder']} (delegated by {p['grantor']}) "
            f"from {when(p['since'])} to {when(p['until'])}"
        )
        lines.append(f"    through {p['process']} {p['through']}{timed}")
        if p["until"] is not None:
            lines.append(
                f"    ended by {p['ended_process']} {p['ended_by']}: cause {p['cause']}; "
                f"{p['outcome']}"
            )
    return lines
