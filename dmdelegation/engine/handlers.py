"""Handlers and helpers every machine may use: how a process ends, how a delegation starts and
is answered, how an interrupted action is resumed. Role-specific ones are in ``dms1_common``,
``dms2_common`` and ``revocation_common``."""

from __future__ import annotations

from collections.abc import Callable

from dmdelegation.engine import messages_out as out
from dmdelegation.engine.effects import Effect, Finish, Request, Respond
from dmdelegation.engine.inputs import PolicyDecided, Received
from dmdelegation.engine.machine import Context, Handler, Resumer, Transition, busy, waiting
from dmdelegation.engine.model import Outcome, Session
from dmdelegation.protocol import DelegationResponse

DONE = "done"
REQUEST_TIMEOUT = 408
NOT_COMPLETED = 500
CANCELLED = 514  # DM "operation cancelled"

After = Callable[[Session, Context], Effect]
"""An effect computed from the session a transition leads to."""


def reason_of(inp: Received) -> int:
    code: int = getattr(inp.message, "reason_code", NOT_COMPLETED)
    return code


def done(session: Session, *effects: Effect) -> Transition:
    """The process ends with the outcome of the ``Finish`` among ``effects``."""
    finish = next(e for e in effects if isinstance(e, Finish))
    return Transition(
        session.to(DONE, wait=None, deadline=None, outcome=finish.outcome, reason=finish.reason),
        effects,
    )


def _next(session: Session, then: str, wait: str | None, ctx: Context) -> Session:
    return waiting(session, then, wait, ctx) if wait else busy(session, then)


def start(session: Session, _: object, ctx: Context) -> Transition:
    """This server starts a delegation: DELEGATION_REQ, and wait for its answer."""
    return Transition(
        busy(session, "requesting"), (Request(out.delegation_request(session, ctx.server_id)),)
    )


def answer_peer(then: str, wait: str | None = "peer", *after: After) -> Handler:
    """The peer asked for (or offered) the delegation: answer it as the policy decided."""

    def handle(session: Session, decision: PolicyDecided, ctx: Context) -> Transition:
        if not decision.accept:
            reply = Respond(out.delegation_response(session, False, decision.reason_code))
            return done(session, reply, Finish(Outcome.REFUSED, decision.reason))
        reply = Respond(out.delegation_response(session, True, out.OK))
        nxt = _next(session, then, wait, ctx)
        return Transition(nxt, (reply, *(effect(nxt, ctx) for effect in after)))

    return handle


def responded(then: str, wait: str | None, *after: After) -> Handler:
    """Our DELEGATION_REQ was answered: go on, or end if the peer declined."""

    def handle(session: Session, inp: Received, ctx: Context) -> Transition:
        message = inp.message
        assert isinstance(message, DelegationResponse)
        if not message.is_acknowledged:
            reason = f"{session.peer} declined (reason {message.reason_code})"
            return done(session, Finish(Outcome.REFUSED, reason))
        nxt = _next(session, then, wait, ctx)
        return Transition(nxt, tuple(effect(nxt, ctx) for effect in after))

    return handle


def request_again(session: Session, ctx: Context) -> Effect:
    return Request(out.delegation_request(session, ctx.server_id))


def resume_with(effect: After) -> Resumer:
    """After a restart, carry out ``effect`` again (a request, a duty: each is idempotent)."""

    def resume(session: Session, ctx: Context) -> Transition:
        return Transition(session, (effect(session, ctx),))

    return resume
