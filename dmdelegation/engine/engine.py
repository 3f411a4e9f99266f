"""The engine: drives the state machines with messages, timers and local results, makes every
transition durable before anything leaves, and carries out the effects.

Order of work for one input: load the session, ``machine.step`` (pure), stage the new state
with its outbox, inbox and registry changes, then, once the group commit of the reactor turn
has written every staged transition in one transaction, carry out the effects (nothing leaves
and nothing is acknowledged before that).
Outgoing messages leave from the outbox on the next reactor turn (retried with backoff, given up
into the process's failure path after ``timeouts.delivery``); local actions (tree changes, DMS-2
duties) run through a queue so that one that completes synchronously never re-enters a
transition half carried out. On :meth:`start` every open session is reloaded, its timer
re-armed, its interrupted local action resumed (or undone), and its outbox delivered.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable

from twisted.internet.defer import Deferred, TimeoutError, fail, maybeDeferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from dmdelegation.engine.commit import CommitPipeline, logged_by_flush
from dmdelegation.engine.effects import (
    Respond,
)
from dmdelegation.engine.inputs import (
    Abort,
    Input,
    PolicyDecided,
    Received,
    Start,
)
from dmdelegation.engine.interfaces import (
    IClientChanges,
    IDelegatedServer,
    IDelegationPolicy,
    IPeerTransport,
)
from dmdelegation.engine.local_work import LocalWork
from dmdelegation.engine.machine import OutOfOrder, Timeouts
from dmdelegation.engine.machines import machine_for
from dmdelegation.engine.model import Process, Role, Session
from dmdelegation.engine.observer import IEngineObserver, Observers
from dmdelegation.engine.outbox import Outbox
from dmdelegation.engine.refusal import Refused, canonical_subtree
from dmdelegation.engine.rules import Rules, delegation_process
from dmdelegation.engine.timers import Timers
from dmdelegation.engine.work import Work, timeout
from dmdelegation.protocol import (
    BootstrapServerURLRequest,
    DelegationMethod,
    DelegationRequest,
    DelegationRevocationRequest,
    DelegationRevoked,
    DelegationTerminationRequest,
    Message,
    decode,
)
from dmdelegation.store.audit import Expiry, Record
from dmdelegation.store.interfaces import ISessionStore, StoreUnavailable
from dmdelegation.store.sessions import NO_RESPONSE

SYNCHRONOUS_REQUESTS = (DelegationRequest, BootstrapServerURLRequest, DelegationTerminationRequest)


__all__ = ["Engine", "Refused", "canonical_subtree"]


class Engine:
    log = Logger()

    def __init__(
        self,
        *,
        server_id: str,
        store: ISessionStore,
        transport: IPeerTransport,
        policy: IDelegationPolicy,
        client_changes: IClientChanges,
        delegated: IDelegatedServer,
        clock: IReactorTime,
        timeouts: Timeouts | None = None,
        retry_initial: float = 0.05,
        retry_max: float = 60.0,
        new_session_id: Callable[[], str] = lambda: secrets.token_hex(16),
        log_transitions: bool = False,
        batch_limit: int = 256,
        observers: Iterable[IEngineObserver] = (),
    ) -> None:
        self.server_id = server_id
        self.store = store
        self.coordination = store.coordination()  # the other instances sharing the store
        self.transport = transport
        self.policy = policy
        self.client_changes = client_changes
        self.delegated = delegated
        self.clock = clock
        self.timeouts = timeouts or Timeouts()
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.new_session_id = new_session_id
        self.log_transitions = log_transitions
        self.batch_limit = batch_limit  # transitions in one group commit at most
        self.observer = Observers(observers)
        self.work = Work(clock, self.log)
        self.rules = Rules(store, self.coordination, self.observer)
        self.commit = CommitPipeline(self)
        self.timers = Timers(self)
        self.local = LocalWork(self)
        self.outbox = Outbox(self)
        self._queue = self.work.queue  # the run queue and the timer heap, as they were named
        self._timers = self.timers.heap

    @property
    def running(self) -> bool:
        return self.work.running

    @running.setter
    def running(self, value: bool) -> None:
        self.work.running = value

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Reload every open session: re-arm timers, resume local actions, deliver the outbox."""
        self.running = True
        coordination = self.coordination
        adopted = coordination.tick(self.clock.seconds()).sessions if coordination.shared else ()
        resumed = 0
        for session in [*coordination.resumable(), *adopted]:
            resumed += self.commit.resume(session)
        for item in self.store.outbox():
            self.work.later(0, self.outbox.deliver, item.id, 0)
        if coordination.interval:
            self.work.later(coordination.interval, self._tick)
        self.log.info(
            "engine {server_id} started: {open} open sessions, {resumed} resumed",
            server_id=self.server_id,
            open=self.store.count_open(),
            resumed=resumed,
        )

    def _tick(self) -> None:
        """Renew this instance's lease, take over the work of instances found dead, and answer
        the waits on processes that ended on another instance."""
        try:
            adopted = self.coordination.tick(self.clock.seconds())
            for session in adopted.sessions:
                self.commit.resume(session)
            for item_id in adopted.outbox:
                self.work.later(0, self.outbox.deliver, item_id, 0)
            for session_id in list(self.commit.waiters):
                ended = self.store.get(session_id)
                if ended is not None and not ended.is_open:
                    for d in self.commit.waiters.pop(session_id, []):
                        d.callback(ended)
        except StoreUnavailable:
            pass  # the store logs the outage; the next tick, below, is the retry
        finally:
            # The next tick even when this one failed (the database unreachable for a while):
            # an instance that stopped renewing its lease would be taken for dead for good.
            self.work.later(self.coordination.interval, self._tick)

    def stop(self) -> None:
        self.running = False
        self.store.flush()  # staged transitions are written; their effects resume on start
        self.commit.stop()
        self.work.cancel()
        self.timers.stop()

    # ------------------------------------------------------------------ operator commands

    def delegate(
        self,
        device_id: str,
        to: str,
        subtree: str = ".",
        *,
        full: bool = False,
        method: DelegationMethod = DelegationMethod.DMACC,
        device_man: str = "",
        device_mod: str = "",
        expires_at: float | None = None,
    ) -> Session:
        """DMS-1 starts a delegation of ``subtree`` of ``device_id`` to the server ``to``;
        ``expires_at`` (reactor time) makes it a timed one (``dmdelegation.expiry``)."""
        return self._begin(
            Role.DMS1,
            delegation_process(method),
            device_id,
            to,
            subtree,
            full,
            device_man=device_man,
            device_mod=device_mod,
            expires_at=expires_at,
        )

    def check_delegation(self, device_id: str, to: str, subtree: str = ".") -> str:
        """What :meth:`delegate` checks before it starts (:class:`Refused` if it would refuse);
        returns the canonical subtree. Changes nothing."""
        canonical = canonical_subtree(subtree)
        self.rules.check_free(device_id, canonical, to)
        return canonical

    def request_delegation(
        self,
        device_id: str,
        from_: str,
        subtree: str = ".",
        *,
        full: bool = False,
        method: DelegationMethod = DelegationMethod.DMACC,
        device_man: str = "",
        device_mod: str = "",
    ) -> Session:
        """DMS-2 asks the server ``from_`` to delegate ``subtree`` of ``device_id`` to us."""
        return self._begin(
            Role.DMS2,
            delegation_process(method),
            device_id,
            from_,
            subtree,
            full,
            device_man=device_man,
            device_mod=device_mod,
        )

    def revoke(
        self,
        device_id: str,
        subtree: str = ".",
        *,
        forced: bool = False,
        notify: bool = True,
        cause: str = "operator",
    ) -> Session:
        """DMS-1 takes a delegation back: asked (DMS-2 stops first) or forced. ``cause`` is
        what the audit trail says started it."""
        delegation = self.rules.in_force(device_id, subtree, Role.DMS1)
        process = Process.REVOCATION_FORCED if forced else Process.REVOCATION_ASKED
        return self._begin(
            Role.DMS1,
            process,
            device_id,
            delegation.peer,
            delegation.subtree,
            delegation.full,
            notify=notify,
            cause=cause,
        )

    def give_back(self, device_id: str, subtree: str = ".") -> Session:
        """DMS-2 asks DMS-1 to revoke a delegation it holds (requested revocation)."""
        delegation = self.rules.in_force(device_id, subtree, Role.DMS2)
        return self._begin(
            Role.DMS2,
            Process.REVOCATION_REQUESTED,
            device_id,
            delegation.peer,
            delegation.subtree,
            delegation.full,
        )

    def abort(self, session_id: str, reason: str = "operator") -> Session:
        """Cancel a delegation in progress: the client is restored, the peer told (514)."""
        with self.rules.hold(session_id) as session:
            if session is None:
                raise Refused(404, f"unknown session {session_id}")
            try:
                transition = machine_for(session.role, session.process).step(
                    session, Abort(reason), self.commit.ctx()
                )
            except OutOfOrder as e:
                raise Refused(409, e.reason) from None
            self.commit.apply(session, transition).addErrback(logged_by_flush)
            return transition.session

    def wait(self, session_id: str) -> Deferred[Session]:
        """Fires with the session once its process has ended."""
        session = self.store.get(session_id)
        if session is None:
            return fail(Refused(404, f"unknown session {session_id}"))
        if not session.is_open:
            return succeed(session)
        d: Deferred[Session] = Deferred()
        self.commit.waiters.setdefault(session_id, []).append(d)
        return d

    # ------------------------------------------------------------------ inbound messages

    def receive(
        self, peer: str, message: Message, body: bytes | None = None
    ) -> Deferred[Message | None]:
        """Handle a message from the authenticated peer ``peer`` (:meth:`_receive`), and tell
        the observers how it was answered. ``body`` is the document ``message`` was decoded
        from, if at hand: the message log keeps it as it came (``redaction.logged``). An error
        (the store out of reach, say) fails the Deferred; it is never raised."""
        d = maybeDeferred(self._receive, peer, message, body)

        def answered(result: object) -> object:
            if isinstance(result, Failure):
                status = result.value.status if isinstance(result.value, Refused) else 500
                if isinstance(result.value, StoreUnavailable):
                    status = 503  # as the delegation interface answers it
                if isinstance(result.value, Refused):
                    self.observer.refused("peer", message.ROOT, status)
            else:
                status = 204 if result is None else 200
            self.observer.received(peer, message.ROOT, status)
            return result

        return d.addBoth(answered)

    def _receive(
        self, peer: str, message: Message, body: bytes | None, *, _again: bool = False
    ) -> Deferred[Message | None]:
        """Handle a message from the authenticated peer ``peer``.

        Fires with the synchronous answer for a request, ``None`` for an asynchronous message
        (once it is durably recorded); fails with :class:`Refused` and changes nothing when the
        message cannot be taken. A message that overtook the answer to our own request in the
        same session (the peer sends its next message as soon as it has answered) is held until
        that answer is in, then taken or refused.
        """
        try:
            if isinstance(message, DelegationRequest):
                return self._receive_request(peer, message, body)
            session_id = getattr(message, "session_id", None)
            with self.rules.hold(str(session_id) if session_id else None) as session:
                if session is None:
                    return self._receive_unknown(peer, message, body)
                self._check_party(session, peer)
                replay = self._replay(session, message)
                if replay is not None:
                    return replay
                try:
                    return self._consume(session, message, body)
                except Refused as e:
                    if e.status != 409 or _again or session.session_id not in self.outbox.in_flight:
                        raise
                    return self._after_request(session.session_id, peer, message, body)
        except Refused as e:
            self.log.warn(
                "refused {root} from {peer}: {status} {reason}",
                root=message.ROOT,
                peer=peer,
                status=e.status,
                reason=e.reason,
            )
            return fail(e)

    def _after_request(
        self, session_id: str, peer: str, message: Message, body: bytes | None
    ) -> Deferred[Message | None]:
        held: Deferred[Message | None] = Deferred()

        def again() -> None:
            if not held.called:
                self._receive(peer, message, body, _again=True).chainDeferred(held)

        def too_late(f: Failure) -> Failure:
            if isinstance(f.value, TimeoutError):
                return Failure(Refused(409, f"{message.ROOT} is not expected now"))
            return f

        self.outbox.in_flight[session_id].append(again)
        held.addTimeout(self.timeouts.request, self.clock)
        return held.addErrback(too_late)

    def _check_party(self, session: Session, peer: str) -> None:
        if session.peer != peer:
            raise Refused(403, f"{peer} is not party to session {session.session_id}")

    def _replay(self, session: Session, message: Message) -> Deferred[Message | None] | None:
        seen = self.store.seen(session.session_id, message.ROOT)
        if seen is NO_RESPONSE:
            return None
        self.log.info(
            "replayed {root} for session {session_id} answered as before",
            root=message.ROOT,
            session_id=session.session_id,
        )
        if not isinstance(message, SYNCHRONOUS_REQUESTS):
            return self.commit.durable().addCallback(lambda _: None)
        if seen is None:
            raise Refused(409, f"{message.ROOT} for session {session.session_id} is in progress")
        assert isinstance(seen, bytes)
        answer = decode(seen)
        return self.commit.durable().addCallback(lambda _: answer)

    def _receive_request(
        self, peer: str, request: DelegationRequest, body: bytes | None
    ) -> Deferred[Message | None]:
        if request.server_id != peer:
            raise Refused(403, f"serverId {request.server_id!r} is not the sender {peer!r}")
        subtree = canonical_subtree(request.dm_tree_uri)
        existing = self.store.get(request.session_id)
        if existing is not None:
            self._check_party(existing, peer)
            replay = self._replay(existing, request)
            if replay is not None:
                return replay
            raise Refused(409, f"session {request.session_id} already exists")
        role = self.policy.role_for(peer, request)
        self.rules.check_free(request.device_id, subtree, peer)
        decided: Deferred[PolicyDecided] = maybeDeferred(self.policy.decide, role, peer, request)
        timeout(decided, self.timeouts.local, self.clock)

        def go(decision: PolicyDecided) -> Deferred[Message | None]:
            if not isinstance(decision, PolicyDecided):
                raise TypeError(f"the policy answered {decision!r}, not a PolicyDecided")
            if not decision.accept and not 100 <= decision.reason_code <= 599:
                # A host policy's code that no DELEGATION_RESP can carry: refuse as forbidden.
                decision = PolicyDecided(False, 403, decision.reason)
            with self.rules.hold(request.session_id) as existing:
                if existing is not None:
                    raise Refused(409, f"session {request.session_id} already exists")
                self.rules.lock_device(request.device_id)
                return self._create(request, body, decision, role, peer, subtree)

        def refused(f: Failure) -> Failure:
            e = f.value
            if isinstance(e, Refused):
                self.log.warn(
                    "refused DELEGATION_REQ from {peer}: {status} {reason}",
                    peer=peer,
                    status=e.status,
                    reason=e.reason,
                )
            return f

        return decided.addCallback(go).addErrback(refused)

    def _create(
        self,
        request: DelegationRequest,
        body: bytes | None,
        decision: PolicyDecided,
        role: Role,
        peer: str,
        subtree: str,
    ) -> Deferred[Message | None]:
        self.rules.check_free(request.device_id, subtree, peer)
        session = Session(
            session_id=request.session_id,
            role=role,
            process=delegation_process(request.method),
            state="new",
            peer=peer,
            device_id=request.device_id,
            subtree=subtree,
            full=request.is_delegation_full,
            initiator=Role.DMS2 if role is Role.DMS1 else Role.DMS1,
            device_man=request.device_man,
            device_mod=request.device_mod,
        )
        return self._consume(session, request, body, decision, created=True)

    def _receive_unknown(
        self, peer: str, message: Message, body: bytes | None
    ) -> Deferred[Message | None]:
        """A message that starts a process at our end, or one for a session we don't know."""
        if isinstance(message, DelegationTerminationRequest):
            delegation = self.rules.held(message.device_id, None, Role.DMS2, peer)
            process, role = Process.REVOCATION_ASKED, Role.DMS2
            session_id = message.session_id
        elif isinstance(message, DelegationRevocationRequest):
            named = None if message.dm_tree_uri is None else canonical_subtree(message.dm_tree_uri)
            delegation = self.rules.held(message.device_id, named, Role.DMS1, peer)
            process, role = Process.REVOCATION_REQUESTED, Role.DMS1
            session_id = message.session_id
        elif isinstance(message, DelegationRevoked) and message.device_id is not None:
            named = None if message.dm_tree_uri is None else canonical_subtree(message.dm_tree_uri)
            delegation = self.rules.held(message.device_id, named, Role.DMS2, peer)
            process, role = Process.REVOCATION_FORCED, Role.DMS2
            session_id = str(message.session_id or self.new_session_id())
        else:
            unknown = getattr(message, "session_id", None)
            raise Refused(404, f"{message.ROOT} names unknown session {unknown}")
        self.rules.lock_device(delegation.device_id)
        self.rules.check_free(delegation.device_id, delegation.subtree, None)
        session = Session(
            session_id=session_id,
            role=role,
            process=process,
            state="new",
            peer=peer,
            device_id=delegation.device_id,
            subtree=delegation.subtree,
            full=delegation.full,
            initiator=Role.DMS1 if role is Role.DMS2 else Role.DMS2,
            notify=True,
        )
        return self._consume(session, message, body, Received(message), created=True)

    def _consume(
        self,
        session: Session,
        message: Message,
        body: bytes | None,
        inp: Input | None = None,
        *,
        created: bool = False,
    ) -> Deferred[Message | None]:
        machine = machine_for(session.role, session.process)
        try:
            transition = machine.step(session, inp or Received(message), self.commit.ctx())
        except OutOfOrder as e:
            raise Refused(e.status, e.reason) from None
        answer = next((e.message for e in transition.effects if isinstance(e, Respond)), None)
        responder: Deferred[Message] | None = None
        synchronous = isinstance(message, SYNCHRONOUS_REQUESTS)
        if synchronous and answer is None and transition.session.is_open:
            responder = Deferred()
            responder.addTimeout(self.timeouts.request, self.clock)
            self.commit.responders[session.session_id] = (message.ROOT, responder)
        done = self.commit.apply(
            session if not created else None, transition, inbound=message, inbound_body=body
        )

        def unrecorded(f: Failure) -> Failure:
            if responder is not None:
                self.commit.responders.pop(session.session_id, None)
                responder.addErrback(lambda _: None)
                responder.cancel()
            return Failure(Refused(503, f"{message.ROOT} could not be recorded: {f.value}"))

        done.addErrback(unrecorded)
        if not synchronous:
            return done.addCallback(lambda _: None)
        if answer is not None:
            return done.addCallback(lambda _: answer)
        if responder is None:
            ended = transition.session.reason or "the process ended"

            def no_process(_: object) -> Message:
                raise Refused(503, ended)

            return done.addCallback(no_process)

        def no_answer(f: Failure) -> Failure:
            self.commit.responders.pop(session.session_id, None)
            if isinstance(f.value, Refused):
                return f
            return Failure(Refused(503, f"no answer for {message.ROOT}: {f.getErrorMessage()}"))

        return done.addCallback(lambda _: responder).addCallbacks(lambda m: m, no_answer)

    # ------------------------------------------------------------------ transitions

    def _begin(
        self,
        role: Role,
        process: Process,
        device_id: str,
        peer: str,
        subtree: str,
        full: bool,
        *,
        notify: bool = False,
        device_man: str = "",
        device_mod: str = "",
        expires_at: float | None = None,
        cause: str | None = None,
    ) -> Session:
        with self.rules.hold(None):  # a new session: nothing to lock but the device
            try:
                self.rules.lock_device(device_id)
            except Refused as e:
                self.observer.refused("operator", process.value, e.status)
                raise
            return self._start(
                role,
                process,
                device_id,
                peer,
                subtree,
                full,
                notify=notify,
                device_man=device_man,
                device_mod=device_mod,
                expires_at=expires_at,
                cause=cause,
            )

    def _start(
        self,
        role: Role,
        process: Process,
        device_id: str,
        peer: str,
        subtree: str,
        full: bool,
        *,
        notify: bool,
        device_man: str,
        device_mod: str,
        expires_at: float | None,
        cause: str | None,
    ) -> Session:
        try:
            subtree = canonical_subtree(subtree)
            if process.is_delegation:
                self.rules.check_free(device_id, subtree, peer)
            else:
                self.rules.check_free(device_id, subtree, None)
        except Refused as e:
            self.observer.refused("operator", process.value, e.status)
            raise
        session = Session(
            session_id=self.new_session_id(),
            role=role,
            process=process,
            state="new",
            peer=peer,
            device_id=device_id,
            subtree=subtree,
            full=full,
            initiator=role,
            device_man=device_man,
            device_mod=device_mod,
            notify=notify,
        )
        transition = machine_for(role, process).step(session, Start(), self.commit.ctx())
        extra: list[Record] = []
        if expires_at is not None:
            extra.append(Expiry(session.session_id, device_id, subtree, expires_at))
        self.commit.apply(None, transition, cause=cause, extra=extra).addErrback(logged_by_flush)
        self.log.info(
            "session {session_id} {process} with {peer} on {device} {subtree} started ({role})",
            session_id=session.session_id,
            process=process.value,
            peer=peer,
            device=device_id,
            subtree=subtree,
            role=role.value,
        )
        return transition.session

    def durable(self) -> Deferred[None]:
        """Fires once every transition staged so far is on disk (at once if none is)."""
        return self.commit.durable()
