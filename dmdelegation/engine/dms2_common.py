"""Handlers both DMS-2 delegation machines share. DMS-2 changes no DM Client of DMS-1's, so its
failures only tell the peer (unless the peer told us) and forget the device."""

from __future__ import annotations

import enum

from dmdelegation.engine import messages_out as out
from dmdelegation.engine.dms1_common import (
    CANCELLED,
    FAILED_OUTCOMES,
    NOT_COMPLETED,
    REQUEST_TIMEOUT,
    After,
    reason_of,
)
from dmdelegation.engine.dms1_common import after_failure as after_failure
from dmdelegation.engine.effects import (
    Duty,
    Effect,
    Finish,
    Perform,
    Register,
    Request,
    Respond,
    Send,
    Unregister,
)
from dmdelegation.engine.inputs import (
    Abort,
    DutyFailed,
    PeerUnreachable,
    PolicyDecided,
    Received,
    TimerExpired,
)
from dmdelegation.engine.machine import (
    Context,
    Handler,
    OutOfOrder,
    Resumer,
    Transition,
    busy,
    waiting,
)
from dmdelegation.engine.model import Outcome, Session
from dmdelegation.protocol import DelegationPrepared, DelegationResponse


class S(enum.StrEnum):
    NEW = "new"
    REQUESTING = "requesting"  # our DELEGATION_REQ awaits its DELEGATION_RESP
    SUPPLYING = "supplying"  # our DMAcc bootstrap data is being made
    AWAIT_URL_REQ = "await-url-request"  # BOOTSTRAP_SRV_URL_REQ from DMS-1
    SUPPLYING_URL = "supplying-url"  # our Bootstrap Server URL is being looked up
    AWAIT_CLIENT = "await-client-bootstrap"  # the client bootstrapping from our server
    AWAIT_PREPARED = "await-prepared"  # DELEGATION_PREPARED from DMS-1
    OPENING = "opening"  # our DM session with the client
    DONE = "done"


def done(session: Session, *effects: Effect) -> Transition:
    finish = next(e for e in effects if isinstance(e, Finish))
    return Transition(
        session.to(S.DONE, wait=None, deadline=None, outcome=finish.outcome, reason=finish.reason),
        effects,
    )


def fail(session: Session, code: int, reason: str, *, notify: bool = True) -> Transition:
    tell: tuple[Effect, ...] = (Send(out.delegation_failure(session, code)),) if notify else ()
    return done(session, *tell, Perform(Duty.FORGET_DEVICE), Finish(Outcome.FAILED, reason))


def start(session: Session, _: object, ctx: Context) -> Transition:
    return Transition(
        busy(session, S.REQUESTING), (Request(out.delegation_request(session, ctx.server_id)),)
    )


def _go(session: Session, then: str, wait: str | None, ctx: Context) -> Session:
    return waiting(session, then, wait, ctx) if wait else busy(session, then)


def answer_peer(then: str, wait: str | None, *after: After) -> Handler:
    """DMS-1 offered the delegation: answer it as the policy decided."""

    def handle(session: Session, decision: PolicyDecided, ctx: Context) -> Transition:
        if not decision.accept:
            reply = Respond(out.delegation_response(session, False, decision.reason_code))
            return done(session, reply, Finish(Outcome.REFUSED, decision.reason))
        nxt = _go(session, then, wait, ctx)
        reply = Respond(out.delegation_response(session, True, out.OK))
        return Transition(nxt, (reply, *(effect(nxt, ctx) for effect in after)))

    return handle


def responded(then: str, wait: str | None, *after: After) -> Handler:
    """Our DELEGATION_REQ was answered."""

    def handle(session: Session, inp: Received, ctx: Context) -> Transition:
        message = inp.message
        assert isinstance(message, DelegationResponse)
        if not message.is_acknowledged:
            reason = f"{session.peer} declined (reason {message.reason_code})"
            return done(session, Finish(Outcome.REFUSED, reason))
        nxt = _go(session, then, wait, ctx)
        return Transition(nxt, tuple(effect(nxt, ctx) for effect in after))

    return handle


def unreachable(session: Session, inp: PeerUnreachable, ctx: Context) -> Transition:
    return fail(session, REQUEST_TIMEOUT, f"{session.peer} unreachable: {inp.reason}")


def timed_out(session: Session, inp: TimerExpired, ctx: Context) -> Transition:
    return fail(session, REQUEST_TIMEOUT, f"no answer from {session.peer} ({inp.wait} timeout)")


def aborted(session: Session, inp: Abort, ctx: Context) -> Transition:
    return fail(session, CANCELLED, f"aborted: {inp.reason}")


def duty_failed(session: Session, inp: DutyFailed, ctx: Context) -> Transition:
    return fail(session, NOT_COMPLETED, inp.reason)


def peer_failed(session: Session, inp: Received, ctx: Context) -> Transition:
    code = reason_of(inp)
    return fail(session, code, f"{session.peer} failed the delegation ({code})", notify=False)


def annulled(session: Session, inp: Received, ctx: Context) -> Transition:
    """DELEGATION_FAILURE after we confirmed: our CONFIRMED never reached DMS-1, which gave up
    and undid the client (5.3). The delegation is void: forget the device. (After a failure
    of ours, a second failure changes nothing.)"""
    if session.outcome in FAILED_OUTCOMES:
        return Transition(session)
    if session.outcome is not Outcome.DELEGATED:
        raise OutOfOrder(f"session {session.session_id} has ended ({session.outcome})")
    code = reason_of(inp)
    reason = f"{session.peer} failed the delegation after our confirmation ({code})"
    return Transition(
        session.to(S.DONE, outcome=Outcome.FAILED, reason=reason),
        (Perform(Duty.FORGET_DEVICE), Unregister(), Finish(Outcome.FAILED, reason)),
    )


def prepared(session: Session, inp: Received, ctx: Context) -> Transition:
    message = inp.message
    assert isinstance(message, DelegationPrepared)
    if not 200 <= message.reason_code < 300:
        reason = f"{session.peer} could not prepare the client ({message.reason_code})"
        return fail(session, message.reason_code, reason, notify=False)
    # DMS-1 confirms here whether it made the delegation full (5.3.1.4).
    nxt = busy(session, S.OPENING).to(S.OPENING, full=message.is_delegation_full)
    return Transition(nxt, (Perform(Duty.OPEN_DM_SESSION),))


def session_opened(session: Session, _: object, ctx: Context) -> Transition:
    return done(
        session,
        Send(out.confirmed(session)),
        Register(),
        Finish(Outcome.DELEGATED, f"{session.subtree} delegated by {session.peer}"),
    )


def perform(duty: Duty) -> After:
    def effect(session: Session, ctx: Context) -> Effect:
        return Perform(duty)

    return effect


def request_again(session: Session, ctx: Context) -> Effect:
    return Request(out.delegation_request(session, ctx.server_id))


def resume_with(effect: After) -> Resumer:
    def resume(session: Session, ctx: Context) -> Transition:
        return Transition(session, (effect(session, ctx),))

    return resume
