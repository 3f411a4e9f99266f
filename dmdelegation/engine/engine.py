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

:class:`Engine` is a façade: the operator commands and the life cycle are here; the work is
done by the parts it owns, each in its own module: ``inbound`` (:class:`Inbound`: messages from
peers), ``commit`` (:class:`CommitPipeline`: staging, group commit, effects, recovery),
``timers`` (:class:`Timers`), ``outbox`` (:class:`Outbox`: delivery, requests, retries) and
``local`` (:class:`LocalWork`: client changes, DMS-2 duties), over the run queue ``work``
(:class:`Work`) and the ``rules`` (:class:`Rules`) every process start is checked against.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from dmdelegation.core.model import Process, Role, Session
from dmdelegation.engine.commit import CommitPipeline, logged_by_flush
from dmdelegation.engine.inbound import Inbound
from dmdelegation.engine.inputs import Abort, Start
from dmdelegation.engine.interfaces import (
    IClientChanges,
    IDelegatedServer,
    IDelegationPolicy,
    IPeerTransport,
)
from dmdelegation.engine.local_work import LocalWork
from dmdelegation.engine.machine import OutOfOrder, Timeouts
from dmdelegation.engine.machines import machine_for
from dmdelegation.engine.observer import IEngineObserver, Observers
from dmdelegation.engine.outbox import Outbox
from dmdelegation.engine.refusal import Refused, canonical_subtree
from dmdelegation.engine.rules import Rules, delegation_process
from dmdelegation.engine.timers import Timers
from dmdelegation.engine.work import Work
from dmdelegation.protocol import DelegationMethod, Message
from dmdelegation.store.audit import Expiry, Record
from dmdelegation.store.interfaces import ISessionStore, StoreUnavailable

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
        log = self.log  # one logger, the engine's, for every part
        self.work = Work(clock, log)
        self.rules = Rules(store, self.coordination, self.observer)
        self.commit = CommitPipeline(self)
        self.timers = Timers(self)
        self.outbox = Outbox(self)
        self.local = LocalWork(self)
        self.inbound = Inbound(self)
        self._queue = self.work.queue  # the run queue and the timer heap, as they were named
        self._timers = self.timers.heap

    @property
    def _run(self) -> Callable[[Callable[[], None]], None]:
        """The run queue's entry, as it was named (``benchmarks/engine.py`` replaces it to
        time each role's work: the replacement is the one every part then calls)."""
        return self.work.run

    @_run.setter
    def _run(self, run: Callable[[Callable[[], None]], None]) -> None:
        self.work.run = run  # type: ignore[method-assign,assignment]

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
            waiters = self.commit.waiters
            for session_id in list(waiters):
                ended = self.store.get(session_id)
                if ended is not None and not ended.is_open:
                    for d in waiters.pop(session_id, []):
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
        ``expires_at`` (reactor time) makes it a timed one (``dmdelegation.ops.expiry``)."""
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
        """Handle a message from the authenticated peer ``peer`` (:meth:`Inbound.take`), and
        tell the observers how it was answered. ``body`` is the document ``message`` was
        decoded from, if at hand: the message log keeps it as it came (``redaction.logged``).
        An error (the store out of reach, say) fails the Deferred; it is never raised."""
        return self.inbound.receive(peer, message, body)

    def durable(self) -> Deferred[None]:
        """Fires once every transition staged so far is on disk (at once if none is)."""
        return self.commit.durable()

    # ------------------------------------------------------------------ operator's processes

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
