"""DMS-1, revocation asked (5.2.3, 5.3.3): DMS-2 is given the chance to stop safely first.

new --Start--> requesting --ACK--> await-termination
await-termination --TERMINATION_RESP | timeout | REVOCATION_FAILURE--> removing
requesting --PeerUnreachable--> removing (DMS-2 cannot be asked; 5.3 says proceed)
removing --TreeDone/REVOKED--> done (revoked) | --TreeFailed/REVOCATION_FAILURE--> compromised
"""

from __future__ import annotations

from dmdelegation.engine import messages_out as out
from dmdelegation.engine import revocation_common as c
from dmdelegation.engine.effects import Request
from dmdelegation.engine.inputs import PeerUnreachable, Start, TimerExpired, TreeDone, TreeFailed
from dmdelegation.engine.machine import Context, Machine, Transition, busy, waiting
from dmdelegation.engine.model import Process, Role, Session
from dmdelegation.engine.revocation_common import S
from dmdelegation.protocol import (
    DelegationTerminationAck,
    DelegationTerminationResponse,
    RevocationFailure,
)


def start(session: Session, _: Start, ctx: Context) -> Transition:
    return Transition(busy(session, S.REQUESTING), (Request(out.termination_request(session)),))


def acknowledged(session: Session, _: object, ctx: Context) -> Transition:
    return Transition(waiting(session, S.AWAIT_TERMINATION, "termination", ctx))


def resume_request(session: Session, ctx: Context) -> Transition:
    return Transition(session, (Request(out.termination_request(session)),))


MACHINE = Machine(
    role=Role.DMS1,
    process=Process.REVOCATION_ASKED,
    first_state=S.NEW,
    table={
        (S.NEW, Start): start,
        (S.REQUESTING, DelegationTerminationAck): acknowledged,
        (S.REQUESTING, PeerUnreachable): c.remove,
        (S.REQUESTING, RevocationFailure): c.remove,
        (S.AWAIT_TERMINATION, DelegationTerminationResponse): c.remove,
        (S.AWAIT_TERMINATION, TimerExpired): c.remove,
        (S.AWAIT_TERMINATION, RevocationFailure): c.remove,
        (S.REMOVING, TreeDone): c.removed,
        (S.REMOVING, TreeFailed): c.removal_failed,
    },
    on_restart={S.REQUESTING: resume_request, S.REMOVING: c.resume_removal},
)
