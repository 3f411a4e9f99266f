"""The commit pipeline: a transition is staged (its session, outbox, inbox, message log,
registry and audit records, each outgoing message encoded once), the group commit of the
reactor turn writes every staged transition in one transaction, and only then are its effects
carried out, in order; a group commit that failed is recovered as a restart would. Also the
inputs fed to a session (:meth:`CommitPipeline.feed`), the resumption of a reloaded or adopted
session, and what waits for a process: the synchronous answers pending (``responders``) and the
waits on a process's end (``waiters``).

Uses the store (stage, flush) and its coordination, the state machines, the clock, the run
queue, the observers, and the engine's other parts to carry out effects: the timers, the
outbox and the local work.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING

from attrs import frozen
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall
from twisted.python.failure import Failure

from dmdelegation.core.effects import (
    CancelOutbox,
    ChangeClient,
    Finish,
    Perform,
    Register,
    Request,
    Respond,
    Send,
    Unregister,
)
from dmdelegation.core.model import Delegation, Outcome, Session
from dmdelegation.engine.inputs import BootstrapSupplied, DutyFailed, Input, URLSupplied
from dmdelegation.engine.machine import Context, OutOfOrder, Transition
from dmdelegation.engine.machines import machine_for
from dmdelegation.engine.refusal import Refused
from dmdelegation.engine.work import BUSY_RETRY, STORE_RETRY
from dmdelegation.protocol import EncodeError, Message
from dmdelegation.protocol.redaction import logged
from dmdelegation.store import audit
from dmdelegation.store.audit import Record
from dmdelegation.store.interfaces import Busy
from dmdelegation.store.sessions import Commit, LogLine

if TYPE_CHECKING:
    from dmdelegation.engine.engine import Engine


def logged_by_flush(f: Failure) -> None:
    """A transition the group commit could not write: :meth:`CommitPipeline.flush` has
    logged it."""


@frozen
class Staged:
    """A transition staged for the group commit, and what to do once it is written."""

    before: Session | None
    transition: Transition
    commit: Commit
    bodies: dict[int, bytes]  # each outgoing message, encoded once
    done: Deferred[None]


class CommitPipeline:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.server_id = engine.server_id
        self.store = engine.store
        self.coordination = engine.coordination
        self.clock = engine.clock
        self.timeouts = engine.timeouts
        self.observer = engine.observer
        self.work = engine.work
        self.log = engine.log
        self.staged: list[Staged] = []
        self.flush_call: IDelayedCall | None = None
        self.flush_waiters: list[Deferred[None]] = []
        self.waiters: dict[str, list[Deferred[Session]]] = {}
        self.responders: dict[str, tuple[str, Deferred[Message]]] = {}

    def ctx(self) -> Context:
        return Context(now=self.clock.seconds(), server_id=self.server_id, timeouts=self.timeouts)

    # ------------------------------------------------------------------ inputs

    def resume(self, loaded: Session) -> bool:
        """Re-arm an open session's timer and resume what it was doing (start, or adoption of a
        dead instance's session); whether anything was done. Alone on its store, the session
        as loaded is current; shared, it is read again under its lock."""
        if not self.coordination.shared:
            return self.resume_held(loaded)
        try:
            with self.coordination.hold(loaded.session_id) as session:
                return session is not None and self.resume_held(session)
        except Busy:  # another instance is moving it on: it is in hand
            return False

    def resume_held(self, session: Session) -> bool:
        if not session.is_open:
            return False
        if session.deadline is not None:
            self._engine.timers.arm(session)
        transition = machine_for(session.role, session.process).restart(session, self.ctx())
        if transition.effects or transition.session != session:
            self.apply(session, transition).addErrback(logged_by_flush)
            return True
        return False

    def feed(self, session_id: str, inp: Input) -> None:
        """Give ``inp`` to the open session ``session_id``; late or stray inputs are logged.
        Held up by another instance, it is given again shortly."""
        try:
            with self.coordination.hold(session_id) as session:
                self.feed_held(session_id, session, inp)
        except Busy:
            self.work.later(BUSY_RETRY, self.feed, session_id, inp)

    def feed_held(self, session_id: str, session: Session | None, inp: Input) -> None:
        if session is None or not session.is_open:
            self.log.debug(
                "{input} for closed session {session_id} dropped",
                input=type(inp).__name__,
                session_id=session_id,
            )
            return
        try:
            transition = machine_for(session.role, session.process).step(session, inp, self.ctx())
        except OutOfOrder as e:
            self.log.info("session {session_id}: {reason}", session_id=session_id, reason=e.reason)
            return
        try:
            self.apply(session, transition).addErrback(logged_by_flush)
        except EncodeError as e:
            # Data a seam supplied (a host's DMAcc, say) that no valid message can carry: the
            # duty failed. Nothing was committed; the session takes the failure instead.
            if not isinstance(inp, BootstrapSupplied | URLSupplied):
                raise
            self.log.warn(
                "session {session_id}: the DMS-2 duty's answer cannot be sent: {reason}",
                session_id=session_id,
                reason=str(e),
            )
            self.feed(session_id, DutyFailed(f"unusable bootstrap data: {e}"))

    # ------------------------------------------------------------------ staging

    def apply(
        self,
        before: Session | None,
        transition: Transition,
        *,
        inbound: Message | None = None,
        inbound_body: bytes | None = None,
        cause: str | None = None,
        extra: Sequence[Record] = (),
    ) -> Deferred[None]:
        """Stage ``transition`` (with its audit events and the ``extra`` records; ``inbound``
        is the message it consumed, ``inbound_body`` the document that message came as, if at
        hand); its effects are carried out once the group commit has written it. Fires when
        they have been (fails if the group commit failed)."""
        session = transition.session
        now = self.clock.seconds()
        log: list[LogLine] = []
        if inbound is not None:
            document = logged(inbound, inbound_body)
            log.append(LogLine(session.session_id, "in", inbound.ROOT, document))
        outbox: list[tuple[str, bytes]] = []
        response: tuple[str, bytes] | None = None
        register: Delegation | None = None
        bodies: dict[int, bytes] = {}  # each outgoing message is encoded once
        cancel_outbox = unregister = False
        for effect in transition.effects:
            if isinstance(effect, CancelOutbox):
                cancel_outbox = True
            elif isinstance(effect, Unregister):
                unregister = True
            if isinstance(effect, Send | Request | Respond):
                m = effect.message
                body = bodies[id(effect)] = m.encode()
                log.append(LogLine(session.session_id, "out", m.ROOT, logged(m, body)))
            if isinstance(effect, Send):
                outbox.append((session.peer, body))
            if isinstance(effect, Respond):
                root = (
                    inbound.ROOT
                    if inbound is not None
                    else self.responders.get(session.session_id, ("", None))[0]
                )
                response = (root, body)
            if isinstance(effect, Register):
                register = Delegation(
                    device_id=session.device_id,
                    subtree=session.subtree,
                    role=session.role,
                    peer=session.peer,
                    full=session.full,
                    since=now,
                    session_id=session.session_id,
                )
        commit = Commit(
            session=session,
            created=before is None,
            outbox=outbox,
            cancel_outbox=cancel_outbox,
            inbound_root=inbound.ROOT if inbound is not None else None,
            response=response,
            log=log,
            register=register,
            unregister=unregister,
            records=[*extra, *audit.events(before, session, transition.effects, cause)],
        )
        self.store.stage(commit, now)
        done: Deferred[None] = Deferred()
        self.staged.append(Staged(before, transition, commit, bodies, done))
        if len(self.staged) >= self._engine.batch_limit:
            # A burst (thousands of messages in one turn) is written in batches, not held
            # whole in memory: now, or right after the work in hand.
            self.work.run(self.flush)
        elif self.flush_call is None:
            self.flush_call = self.clock.callLater(0, self.work.run, self.flush)
        return done

    def durable(self) -> Deferred[None]:
        """Fires once every transition staged so far is on disk (at once if none is)."""
        if not self.staged:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self.flush_waiters.append(d)
        return d

    # ------------------------------------------------------------------ group commit

    def flush(self) -> None:
        """The group commit: write every transition staged in this reactor turn in one
        transaction, then carry out their effects in the order they were staged."""
        if self.flush_call is not None and self.flush_call.active():
            self.flush_call.cancel()
        self.flush_call = None
        batch, self.staged = self.staged, []
        waiters, self.flush_waiters = self.flush_waiters, []
        try:
            self.store.flush()
        except Exception:
            failure = Failure()
            self.log.failure("group commit of {n} transitions failed", failure, n=len(batch))
            for staged in batch:
                staged.done.errback(failure)
            for d in waiters:
                d.errback(failure)
            # Their sessions are as they were on disk, with the inputs of this turn consumed:
            # each is taken up again as after a restart, once the store can be read.
            recover = dict.fromkeys(s.transition.session.session_id for s in batch)
            for session_id in recover:
                self.work.later(STORE_RETRY, self.recover, session_id)
            return
        run = self.work.run
        for staged in batch:
            run(partial(self.committed, staged))
        for d in waiters:
            run(partial(d.callback, None))

    def recover(self, session_id: str) -> None:
        """A group commit that held a transition of ``session_id`` failed: the session, as it
        is on disk, is resumed as a restart would (its timer re-armed, an interrupted change to
        the client undone, a request sent again: all safe to repeat)."""
        session = self.store.get(session_id)
        if session is not None and session.is_open:
            self.resume(session)

    def stop(self) -> None:
        """Forget what is staged (the store has written it) and the pending group commit."""
        self.staged.clear()
        if self.flush_call is not None and self.flush_call.active():
            self.flush_call.cancel()
        self.flush_call = None

    # ------------------------------------------------------------------ effects

    def committed(self, staged: Staged) -> None:
        before, transition, commit = staged.before, staged.transition, staged.commit
        session = transition.session
        self.observer.transition(before, session, transition.effects)
        if self._engine.log_transitions:
            self.log.debug(
                "session {session_id} {role} {process}: {old} -> {new}",
                session_id=session.session_id,
                role=session.role.value,
                process=session.process.value,
                old=before.state if before else "-",
                new=session.state,
            )
        if (
            session.is_open
            and session.deadline is not None
            and (
                before is None
                or before.deadline != session.deadline
                or before.wait != session.wait
                or self.coordination.shared  # another instance may have armed it until now
            )
        ):
            self._engine.timers.arm(session)
        outbox_ids = iter(commit.outbox_ids)
        for effect in transition.effects:
            self.carry_out(session, effect, outbox_ids, staged.bodies)
        staged.done.callback(None)

    def carry_out(
        self, session: Session, effect: object, outbox_ids: Iterator[int], bodies: dict[int, bytes]
    ) -> None:
        engine = self._engine
        sid = session.session_id
        if isinstance(effect, Send):
            self.work.later(0, engine.outbox.deliver, next(outbox_ids), 0)
        elif isinstance(effect, Request):
            outbox = engine.outbox
            outbox.in_flight.setdefault(sid, [])
            deadline = self.clock.seconds() + self.timeouts.request
            self.work.later(
                0,
                outbox.request,
                sid,
                session.peer,
                effect.message,
                bodies[id(effect)],
                deadline,
                0,
            )
        elif isinstance(effect, Respond):
            pending = self.responders.pop(sid, None)
            if pending is not None:
                pending[1].callback(effect.message)
        elif isinstance(effect, ChangeClient):
            self.work.run(lambda: engine.local.change(session, effect))
        elif isinstance(effect, Perform):
            self.work.run(lambda: engine.local.perform(session, effect.duty))
        elif isinstance(effect, Finish):
            self.finished(session, effect)

    def finished(self, session: Session, finish: Finish) -> None:
        level = (
            self.log.info
            if finish.outcome in (Outcome.DELEGATED, Outcome.REVOKED)
            else (self.log.warn)
        )
        level(
            "session {session_id} {process} with {peer} on {device} {subtree}: {outcome} {reason}",
            session_id=session.session_id,
            process=session.process.value,
            peer=session.peer,
            device=session.device_id,
            subtree=session.subtree,
            outcome=finish.outcome.value,
            reason=finish.reason,
        )
        pending = self.responders.pop(session.session_id, None)
        if pending is not None:
            pending[1].errback(Refused(503, finish.reason or "the process ended"))
        for d in self.waiters.pop(session.session_id, []):
            d.callback(session)
