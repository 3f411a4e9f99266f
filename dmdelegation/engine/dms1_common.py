"""Handlers both DMS-1 delegation machines share: the start, the answer to a peer's request,
the end of preparation, confirmation, and every way a delegation fails (5.3: undo every change
made to the DM Client, purge the session, tell the peer unless it told us)."""

from __future__ import annotations

import enum

from dmdelegation.engine import messages_out as out
from dmdelegation.engine.effects import (
    ChangeClient,
    Effect,
    Finish,
    Register,
    Send,
)
from dmdelegation.engine.effects import TreeChange as T
from dmdelegation.engine.handlers import (
    CANCELLED,
    NOT_COMPLETED,
    REQUEST_TIMEOUT,
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
    PeerUnreachable,
    Received,
    TimerExpired,
    TreeDone,
    TreeFailed,
)
from dmdelegation.engine.machine import (
    Context,
    Handler,
    OutOfOrder,
    Transition,
    busy,
    rows,
    waiting,
)
from dmdelegation.engine.model import Outcome, Session
from dmdelegation.protocol import BootstrapConfirmed, DelegationConfirmed, DelegationFailure


class S(enum.StrEnum):
    NEW = "new"
    REQUESTING = "requesting"  # our DELEGATION_REQ awaits its DELEGATION_RESP
    ASKING_URL = "asking-url"  # our BOOTSTRAP_SRV_URL_REQ awaits its DELIVERY
    ADDING_ENTRY = "adding-entry"  # the Bootstrap Config entry is being written
    AWAIT_BOOTSTRAP = "await-bootstrap"  # BOOTSTRAP_CONFIRMED from DMS-2
    PREPARING = "preparing"  # the DM Client is being prepared
    AWAIT_CONFIRMED = "await-confirmed"  # DELEGATION_CONFIRMED from DMS-2
    UNDOING = "undoing"  # a failed delegation's changes are being undone
    DONE = "done"


def fail(session: Session, code: int, reason: str, *, notify: bool = True) -> Transition:
    """The delegation failed here: undo the client if it was touched, then end."""
    if session.touched_client:
        return Transition(
            busy(session, S.UNDOING).to(S.UNDOING, notify=notify, reason_code=code, reason=reason),
            (ChangeClient(T.UNDO),),
        )
    tell: tuple[Effect, ...] = (Send(out.delegation_failure(session, code)),) if notify else ()
    return done(session, *tell, Finish(Outcome.FAILED, reason))


def unreachable(session: Session, inp: PeerUnreachable, ctx: Context) -> Transition:
    return fail(session, REQUEST_TIMEOUT, f"{session.peer} unreachable: {inp.reason}")


def timed_out(session: Session, inp: TimerExpired, ctx: Context) -> Transition:
    return fail(session, REQUEST_TIMEOUT, f"no answer from {session.peer} ({inp.wait} timeout)")


def peer_failed(session: Session, inp: Received, ctx: Context) -> Transition:
    code = reason_of(inp)
    return fail(session, code, f"{session.peer} failed the delegation ({code})", notify=False)


def peer_failed_while_busy(session: Session, inp: Received, ctx: Context) -> Transition:
    """DMS-2 failed the delegation while our tree change runs: finish it, then undo."""
    code = reason_of(inp)
    return Transition(
        session.to(
            session.state,
            aborted=True,
            notify=False,
            reason_code=code,
            reason=f"{session.peer} failed the delegation ({code})",
        )
    )


def aborted(session: Session, inp: Abort, ctx: Context) -> Transition:
    return fail(session, CANCELLED, f"aborted: {inp.reason}")


def aborted_while_busy(session: Session, inp: Abort, ctx: Context) -> Transition:
    """The running tree change finishes first; then it is undone and DMS-2 told."""
    reason = f"aborted: {inp.reason}"
    return Transition(
        session.to(session.state, aborted=True, notify=True, reason_code=CANCELLED, reason=reason)
    )


def tree_failed(session: Session, inp: TreeFailed, ctx: Context) -> Transition:
    return fail(session.to(session.state, touched_client=True), inp.status, inp.reason)


def prepared(session: Session, _: object, ctx: Context) -> Transition:
    if session.aborted:
        return fail(session, session.reason_code, session.reason, notify=session.notify)
    return Transition(
        waiting(session, S.AWAIT_CONFIRMED, "peer", ctx), (Send(out.prepared(session)),)
    )


def confirmed(session: Session, inp: Received, ctx: Context) -> Transition:
    message = inp.message
    assert isinstance(message, DelegationConfirmed)
    if not 200 <= message.reason_code < 300:
        return fail(session, message.reason_code, f"{session.peer} could not open a DM session")
    return done(
        session,
        ChangeClient(T.COMMIT),
        Register(),
        Finish(Outcome.DELEGATED, f"{session.subtree} delegated to {session.peer}"),
    )


def undone(session: Session, _: object, ctx: Context) -> Transition:
    tell: tuple[Effect, ...] = (
        (Send(out.delegation_failure(session, session.reason_code)),) if session.notify else ()
    )
    return done(session, *tell, Finish(Outcome.FAILED, session.reason))


def undo_failed(session: Session, inp: TreeFailed, ctx: Context) -> Transition:
    tell: tuple[Effect, ...] = (
        (Send(out.delegation_failure(session, session.reason_code)),) if session.notify else ()
    )
    reason = f"{session.reason}; the client could not be restored: {inp.reason}"
    return done(session, *tell, Finish(Outcome.UNRESTORED, reason))


def peer_failed_while_undoing(session: Session, inp: Received, ctx: Context) -> Transition:
    return Transition(session.to(S.UNDOING, notify=False))


FAILED_OUTCOMES = (Outcome.FAILED, Outcome.UNRESTORED, Outcome.REFUSED)


def after_failure(session: Session, inp: Received, ctx: Context) -> Transition:
    """DMS-2 goes on with a delegation that failed here (it missed our DELEGATION_FAILURE, e.g.
    while it was down): tell it again."""
    if session.outcome not in FAILED_OUTCOMES:
        raise OutOfOrder(f"session {session.session_id} has ended ({session.outcome})")
    code = session.reason_code if session.reason_code >= 300 else NOT_COMPLETED
    return Transition(session, (Send(out.delegation_failure(session, code)),))


def failure_after_failure(session: Session, inp: Received, ctx: Context) -> Transition:
    """Both sides failed the delegation: nothing more to do."""
    if session.outcome not in FAILED_OUTCOMES:
        raise OutOfOrder(f"session {session.session_id} has ended ({session.outcome})")
    return Transition(session)


def resume_undo(session: Session, ctx: Context) -> Transition:
    """After a restart, a change to the client was under way: undo it, and fail."""
    reason = session.reason or "the delegating server restarted during a change to the client"
    return Transition(
        session.to(
            S.UNDOING,
            notify=session.notify or session.state != S.UNDOING,
            reason_code=session.reason_code if session.state == S.UNDOING else NOT_COMPLETED,
            reason=reason,
            touched_client=True,
        ),
        (ChangeClient(T.UNDO),),
    )


def failure_rows(
    waits: tuple[str, ...], busy_states: tuple[str, ...], requesting: tuple[str, ...]
) -> dict[tuple[str, type], Handler]:
    """How every DMS-1 delegation fails (5.3), the same whatever the approach: in the states
    that wait for DMS-2 (``waits`` with a deadline, ``requesting`` for an answer), while a tree
    change runs (``busy_states``), while undoing, and after the end."""
    return {
        (S.UNDOING, TreeDone): undone,
        (S.UNDOING, TreeFailed): undo_failed,
        (S.UNDOING, DelegationFailure): peer_failed_while_undoing,
        **rows(waits, TimerExpired, timed_out),
        **rows((*requesting, *waits), PeerUnreachable, unreachable),
        **rows((*requesting, *waits), DelegationFailure, peer_failed),
        **rows((*requesting, *waits), Abort, aborted),
        **rows(busy_states, TreeFailed, tree_failed),
        **rows(busy_states, DelegationFailure, peer_failed_while_busy),
        **rows(busy_states, Abort, aborted_while_busy),
        (S.DONE, BootstrapConfirmed): after_failure,
        (S.DONE, DelegationConfirmed): after_failure,
        (S.DONE, DelegationFailure): failure_after_failure,
    }
