"""What the engine knows about one process: the session record, roles, processes, outcomes.

A :class:`Session` is immutable; a transition returns a new one. It holds only what a restarted
engine needs to carry the process on: never a credential (the DMAcc a peer sends travels in the
effect that applies it, and is not kept).
"""

from __future__ import annotations

import enum
from operator import attrgetter

from attrs import fields, frozen


class Role(enum.StrEnum):
    DMS1 = "dms1"  # the Delegating Server
    DMS2 = "dms2"  # the Delegated Server


class Process(enum.StrEnum):
    DELEGATION_DMACC = "delegation-dmacc"  # 5.2.1 / 5.3.1
    DELEGATION_BOOTSTRAP = "delegation-bootstrap"  # 5.2.2 / 5.3.2
    REVOCATION_ASKED = "revocation-asked"  # 5.2.3 / 5.3.3
    REVOCATION_REQUESTED = "revocation-requested"  # 5.2.4 / 5.3.4
    REVOCATION_FORCED = "revocation-forced"  # 5.2.5 / 5.3.5

    @property
    def is_delegation(self) -> bool:
        return self in (Process.DELEGATION_DMACC, Process.DELEGATION_BOOTSTRAP)


class Outcome(enum.StrEnum):
    DELEGATED = "delegated"  # the delegation is in force
    REFUSED = "refused"  # a negative DELEGATION_RESP: nothing was changed
    FAILED = "failed"  # a delegation failed; the client was restored
    UNRESTORED = "unrestored"  # a delegation failed and the client could not be restored
    REVOKED = "revoked"  # the delegation is over, the client holds no trace of DMS-2
    COMPROMISED = "compromised"  # a revocation could not clean the client (5.3)
    ABANDONED = "abandoned"  # DMS-2 gave up waiting for the end of a revocation


@frozen
class Session:
    """One process, from one side.

    ``peer`` is the other server's ServerID; ``initiator`` is the role that started the process.
    ``wait`` names what the session is waiting for and ``deadline`` when that wait expires
    (``None`` while a local action runs). ``touched_client`` says DMS-1 has begun changing the
    DM Client (so a failure must undo); ``aborted`` that the peer failed the process while a local
    action was running. ``notify`` remembers whether the peer is still to be told of a failure
    (with ``reason_code``); for a forced revocation, whether to send the optional notice.
    """

    session_id: str
    role: Role
    process: Process
    state: str
    peer: str
    device_id: str
    subtree: str
    full: bool
    initiator: Role
    device_man: str = ""
    device_mod: str = ""
    touched_client: bool = False
    aborted: bool = False
    wait: str | None = None
    deadline: float | None = None
    notify: bool = False
    reason_code: int = 200
    outcome: Outcome | None = None
    reason: str = ""

    @property
    def is_open(self) -> bool:
        return self.outcome is None

    def to(self, state: str, **changes: object) -> Session:
        """This session in ``state``, with ``changes``: ``attrs.evolve``, in the time the
        constructor takes (a transition makes one or two, on the engine's hot path)."""
        values = dict(zip(_SESSION_FIELDS, _session_values(self), strict=True))
        values["state"] = state
        values.update(changes)
        return Session(**values)


_SESSION_FIELDS = tuple(a.name for a in fields(Session))
_session_values = attrgetter(*_SESSION_FIELDS)


@frozen
class Delegation:
    """A delegation in force, as one side's registry records it.

    On DMS-1 ``peer`` is the delegated server; on DMS-2 it is the delegating server.
    """

    device_id: str
    subtree: str
    role: Role
    peer: str
    full: bool
    since: float
    session_id: str


def overlaps(a: str, b: str) -> bool:
    """Whether two DM tree URIs name nested (or equal) subtrees."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/") or "." in (a, b)
