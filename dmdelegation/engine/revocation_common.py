"""What the revocation machines share: their states and how DMS-1's removal ends (5.3: a
revocation that cannot clean the client tells DMS-2 the delegation may be compromised)."""

from __future__ import annotations

import enum

from dmdelegation.engine import messages_out as out
from dmdelegation.engine.effects import (
    ChangeClient,
    Duty,
    Effect,
    Finish,
    Perform,
    Send,
    Unregister,
)
from dmdelegation.engine.effects import TreeChange as T
from dmdelegation.engine.handlers import done
from dmdelegation.engine.inputs import TreeFailed
from dmdelegation.engine.machine import Context, Handler, OutOfOrder, Transition, busy
from dmdelegation.engine.model import Outcome, Session

NOT_COMPLETED = 500


class S(enum.StrEnum):
    NEW = "new"
    REQUESTING = "requesting"  # DMS-1: our DELEGATION_TERMINATION_REQ awaits its ACK
    AWAIT_TERMINATION = "await-termination"  # DMS-1: DELEGATION_TERMINATION_RESP
    REMOVING = "removing"  # DMS-1: every trace of DMS-2 is being removed from the client
    STOPPING = "stopping"  # DMS-2: all activity on the device is being stopped
    AWAIT_REVOKED = "await-revoked"  # DMS-2: DELEGATION_REVOKED
    DONE = "done"


def remove(session: Session, *_: object) -> Transition:
    return Transition(busy(session, S.REMOVING), (ChangeClient(T.REMOVE_DELEGATE),))


def resume_removal(session: Session, ctx: Context) -> Transition:
    return Transition(session, (ChangeClient(T.REMOVE_DELEGATE),))


def removed(session: Session, _: object, ctx: Context) -> Transition:
    tell: tuple[Effect, ...] = (Send(out.revoked(session)),) if session.notify else ()
    return done(
        session,
        *tell,
        Unregister(),
        Finish(Outcome.REVOKED, f"{session.subtree} taken back from {session.peer}"),
    )


def removal_failed(session: Session, inp: TreeFailed, ctx: Context) -> Transition:
    tell: tuple[Effect, ...] = (
        (Send(out.revocation_failure(session, inp.status or NOT_COMPLETED)),)
        if session.notify
        else ()
    )
    reason = f"the client could not be cleaned of {session.peer}: {inp.reason}"
    return done(session, *tell, Finish(Outcome.COMPROMISED, reason))


def forgotten(session: Session, *_: object) -> Transition:
    """DMS-2: the delegation is over; stop managing the device."""
    return done(
        session,
        Perform(Duty.FORGET_DEVICE),
        Unregister(),
        Finish(Outcome.REVOKED, f"{session.subtree} revoked by {session.peer}"),
    )


def compromised(session: Session, *_: object) -> Transition:
    """DMS-2: DMS-1 could not clean the client; we stop all the same."""
    return done(
        session,
        Perform(Duty.FORGET_DEVICE),
        Unregister(),
        Finish(Outcome.COMPROMISED, f"{session.peer} could not remove us from the client"),
    )


def abandoned(session: Session, *_: object) -> Transition:
    return done(
        session, Finish(Outcome.ABANDONED, f"{session.peer} never confirmed the revocation")
    )


def after_abandoning(handler: Handler) -> Handler:
    """DMS-2 gave up waiting (timeout, or DMS-1 unreachable) and DMS-1's answer comes after all
    (it was down, and finished the revocation on its restart): take it, so both sides agree."""

    def handle(session: Session, inp: object, ctx: Context) -> Transition:
        if session.outcome is not Outcome.ABANDONED:
            raise OutOfOrder(f"session {session.session_id} has ended ({session.outcome})")
        return handler(session, inp, ctx)

    return handle
