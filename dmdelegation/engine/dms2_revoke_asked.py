"""DMS-2, revocation asked by DMS-1 (5.2.3, 5.3.3).

new --TERMINATION_REQ/ACK--> stopping [stop all activity on the device]
stopping --DutyDone/TERMINATION_RESP--> await-revoked
stopping --DutyFailed--> await-revoked (no notice: 5.3 lets DMS-2 stay silent)
await-revoked|stopping --REVOKED--> done (revoked) | --REVOCATION_FAILURE--> compromised
await-revoked --timeout--> done (abandoned)
"""

from __future__ import annotations

from dmdelegation.engine import messages_out as out
from dmdelegation.engine import revocation_common as c
from dmdelegation.engine.effects import Duty, Perform, Respond, Send
from dmdelegation.engine.inputs import DutyDone, DutyFailed, TimerExpired
from dmdelegation.engine.machine import Context, Machine, Transition, busy, waiting
from dmdelegation.engine.model import Process, Role, Session
from dmdelegation.engine.revocation_common import S
from dmdelegation.protocol import DelegationRevoked, DelegationTerminationRequest, RevocationFailure


def asked(session: Session, _: object, ctx: Context) -> Transition:
    return Transition(
        busy(session, S.STOPPING),
        (Respond(out.termination_ack(session)), Perform(Duty.STOP_ACTIVITY)),
    )


def stopped(session: Session, _: DutyDone, ctx: Context) -> Transition:
    return Transition(
        waiting(session, S.AWAIT_REVOKED, "revoked", ctx),
        (Send(out.termination_response(session)),),
    )


def could_not_stop(session: Session, inp: DutyFailed, ctx: Context) -> Transition:
    return Transition(
        waiting(session, S.AWAIT_REVOKED, "revoked", ctx).to(S.AWAIT_REVOKED, reason=inp.reason)
    )


def resume_stop(session: Session, ctx: Context) -> Transition:
    return Transition(session, (Perform(Duty.STOP_ACTIVITY),))


MACHINE = Machine(
    role=Role.DMS2,
    process=Process.REVOCATION_ASKED,
    first_state=S.NEW,
    table={
        (S.NEW, DelegationTerminationRequest): asked,
        (S.STOPPING, DutyDone): stopped,
        (S.STOPPING, DutyFailed): could_not_stop,
        (S.STOPPING, DelegationRevoked): c.forgotten,
        (S.STOPPING, RevocationFailure): c.compromised,
        (S.AWAIT_REVOKED, DelegationRevoked): c.forgotten,
        (S.AWAIT_REVOKED, RevocationFailure): c.compromised,
        (S.AWAIT_REVOKED, TimerExpired): c.abandoned,
        (S.DONE, DelegationRevoked): c.after_abandoning(c.forgotten),
        (S.DONE, RevocationFailure): c.after_abandoning(c.compromised),
    },
    on_restart={S.STOPPING: resume_stop},
)
