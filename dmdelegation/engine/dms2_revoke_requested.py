"""DMS-2, revocation requested (5.2.4, 5.3.4): DMS-2 gives the delegation back.

new --Start--> stopping [stop all activity first] --DutyDone|DutyFailed/REVOCATION_REQ-->
    await-revoked --REVOKED--> done (revoked) | --REVOCATION_FAILURE--> done (compromised)
await-revoked --timeout | PeerUnreachable--> done (abandoned)
"""

from __future__ import annotations

from dmdelegation.engine import messages_out as out
from dmdelegation.engine import revocation_common as c
from dmdelegation.engine.effects import Duty, Perform, Send
from dmdelegation.engine.inputs import DutyDone, DutyFailed, PeerUnreachable, Start, TimerExpired
from dmdelegation.engine.machine import Context, Machine, Transition, busy, waiting
from dmdelegation.engine.model import Process, Role, Session
from dmdelegation.engine.revocation_common import S
from dmdelegation.protocol import DelegationRevoked, RevocationFailure


def start(session: Session, _: Start, ctx: Context) -> Transition:
    return Transition(busy(session, S.STOPPING), (Perform(Duty.STOP_ACTIVITY),))


def ask(session: Session, _: object, ctx: Context) -> Transition:
    return Transition(
        waiting(session, S.AWAIT_REVOKED, "revoked", ctx),
        (Send(out.revocation_request(session)),),
    )


def resume_stop(session: Session, ctx: Context) -> Transition:
    return Transition(session, (Perform(Duty.STOP_ACTIVITY),))


MACHINE = Machine(
    role=Role.DMS2,
    process=Process.REVOCATION_REQUESTED,
    first_state=S.NEW,
    table={
        (S.NEW, Start): start,
        (S.STOPPING, DutyDone): ask,
        (S.STOPPING, DutyFailed): ask,
        (S.AWAIT_REVOKED, DelegationRevoked): c.forgotten,
        (S.AWAIT_REVOKED, RevocationFailure): c.compromised,
        (S.AWAIT_REVOKED, TimerExpired): c.abandoned,
        (S.DONE, DelegationRevoked): c.after_abandoning(c.forgotten),
        (S.DONE, RevocationFailure): c.after_abandoning(c.compromised),
        (S.AWAIT_REVOKED, PeerUnreachable): c.abandoned,
    },
    on_restart={S.STOPPING: resume_stop},
)
