"""Handlers both DMS-2 delegation machines share. DMS-2 changes no DM Client of DMS-1's, so its
failures only tell the peer (unless the peer told us) and forget the device."""

from __future__ import annotations

import enum

from dmdelegation.engine import messages_out as out
from dmdelegation.engine.dms1_common import FAILED_OUTCOMES
from dmdelegation.engine.dms1_common import after_failure as after_failure
from dmdelegation.engine.effects import (
    Duty,
    Effect,
    Finish,
    Perform,
    Register,
    Send,
    Unregister,
)
from dmdelegation.engine.handlers import (
    CANCELLED,
    NOT_COMPLETED,
    REQUEST_TIMEOUT,
    After,
    done,
    reason_of,
)
from dmdelegation.engine.handlers import answer_peer as answer_peer
from dmdelegation.engine.handlers import request_again as request_again
from dmdelegation.engine.handlers import responded as responded
from dmdelegation.engine.handlers import resume_with as resume_with
from dmdelegation.engine.handlers import start as start
from dmdelegation.engine.inputs import (
    Abort,
    DutyFailed,
    PeerUnreachable,
    Received,
    TimerExpired,
)
from dmdelegation.engine.machine import (
    Context,
    Handler,
    OutOfOrder,
    Transition,
    busy,
    rows,
)
from dmdelegation.engine.model import Outcome, Session
from dmdelegation.protocol import DelegationFailure, DelegationPrepared


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


def fail(session: Session, code: int, reason: str, *, notify: bool = True) -> Transition:
    tell: tuple[Effect, ...] = (Send(out.delegation_failure(session, code)),) if notify else ()
    return done(session, *tell, Perform(Duty.FORGET_DEVICE), Finish(Outcome.FAILED, reason))


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


def failure_rows(
    waits: tuple[str, ...], duties: tuple[str, ...], open_states: tuple[str, ...]
) -> dict[tuple[str, type], Handler]:
    """How every DMS-2 delegation fails, whatever the approach: a wait for DMS-1 (``waits``,
    with a deadline; and the answer to our DELEGATION_REQ) that expires or cannot be had, a
    duty that fails (``duties``), DMS-1's failure or an abort in any open state, and what
    comes after the end."""
    return {
        **rows(waits, TimerExpired, timed_out),
        **rows((S.REQUESTING, *waits), PeerUnreachable, unreachable),
        **rows(duties, DutyFailed, duty_failed),
        **rows(open_states, DelegationFailure, peer_failed),
        **rows(open_states, Abort, aborted),
        (S.DONE, DelegationFailure): annulled,
        (S.DONE, DelegationPrepared): after_failure,
    }
