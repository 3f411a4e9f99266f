"""Inbound messages: a message from an authenticated peer is checked (party to its session,
a replay answered as before, a message that overtook our own request's answer held until it is
in), a process the peer starts is checked against the rules and the policy, and the message is
stepped into its session; the synchronous answer comes back once the transition is durable.

Uses the store (read only), the rules, the ``IDelegationPolicy`` seam (read from the engine at
each call), the observers, and the engine's commit pipeline (to stage the transition and wait
for its answer) and outbox (a request of ours in flight).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred, TimeoutError, fail, maybeDeferred
from twisted.python.failure import Failure

from dmdelegation.core.effects import Respond
from dmdelegation.core.model import Process, Role, Session
from dmdelegation.engine.inputs import Input, PolicyDecided, Received
from dmdelegation.engine.machine import OutOfOrder
from dmdelegation.engine.machines import machine_for
from dmdelegation.engine.refusal import Refused, canonical_subtree
from dmdelegation.engine.rules import delegation_process
from dmdelegation.engine.work import timeout
from dmdelegation.protocol import (
    BootstrapServerURLRequest,
    DelegationRequest,
    DelegationRevocationRequest,
    DelegationRevoked,
    DelegationTerminationRequest,
    Message,
    decode,
)
from dmdelegation.store.interfaces import StoreUnavailable
from dmdelegation.store.sessions import NO_RESPONSE

if TYPE_CHECKING:
    from dmdelegation.engine.engine import Engine

SYNCHRONOUS_REQUESTS = (DelegationRequest, BootstrapServerURLRequest, DelegationTerminationRequest)


class Inbound:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.store = engine.store
        self.rules = engine.rules
        self.clock = engine.clock
        self.timeouts = engine.timeouts
        self.observer = engine.observer
        self.log = engine.log
        self.commit = engine.commit

    def receive(
        self, peer: str, message: Message, body: bytes | None = None
    ) -> Deferred[Message | None]:
        """:meth:`Engine.receive`: :meth:`take` the message, and tell the observers how it
        was answered."""
        d = maybeDeferred(self.take, peer, message, body)

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

    def take(
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
                return self.take_request(peer, message, body)
            session_id = getattr(message, "session_id", None)
            with self.rules.hold(str(session_id) if session_id else None) as session:
                if session is None:
                    return self.take_unknown(peer, message, body)
                self.check_party(session, peer, message.ROOT)
                replay = self.replay(session, message)
                if replay is not None:
                    return replay
                try:
                    return self.consume(session, message, body)
                except Refused as e:
                    in_flight = self._engine.outbox.in_flight
                    if e.status != 409 or _again or session.session_id not in in_flight:
                        raise
                    return self.after_request(session.session_id, peer, message, body)
        except Refused as e:
            self.log.warn(
                "refused {root} from {peer}: {status} {reason}",
                root=message.ROOT,
                peer=peer,
                status=e.status,
                reason=e.reason,
            )
            return fail(e)

    def after_request(
        self, session_id: str, peer: str, message: Message, body: bytes | None
    ) -> Deferred[Message | None]:
        held: Deferred[Message | None] = Deferred()

        def again() -> None:
            if not held.called:
                self.take(peer, message, body, _again=True).chainDeferred(held)

        def too_late(f: Failure) -> Failure:
            if isinstance(f.value, TimeoutError):
                return Failure(Refused(409, f"{message.ROOT} is not expected now"))
            return f

        self._engine.outbox.in_flight[session_id].append(again)
        held.addTimeout(self.timeouts.request, self.clock)
        return held.addErrback(too_late)

    def check_party(self, session: Session, peer: str, root: str) -> None:
        """A message for another peer's session is answered as one for an unknown session:
        a peer learns nothing of the sessions of others (the detail is in our log only)."""
        if session.peer != peer:
            self.log.info(
                "{root} from {peer} names session {session_id} of another peer",
                root=root,
                peer=peer,
                session_id=session.session_id,
            )
            raise Refused(404, f"{root} names unknown session {session.session_id}")

    def replay(self, session: Session, message: Message) -> Deferred[Message | None] | None:
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

    def take_request(
        self, peer: str, request: DelegationRequest, body: bytes | None
    ) -> Deferred[Message | None]:
        if request.server_id != peer:
            raise Refused(403, f"serverId {request.server_id!r} is not the sender {peer!r}")
        subtree = canonical_subtree(request.dm_tree_uri)
        existing = self.store.get(request.session_id)
        if existing is not None:
            if existing.peer != peer:  # as for a session of its own: nothing more is told
                raise Refused(409, f"session {request.session_id} already exists")
            replay = self.replay(existing, request)
            if replay is not None:
                return replay
            raise Refused(409, f"session {request.session_id} already exists")
        policy = self._engine.policy
        role = policy.role_for(peer, request)
        self.rules.check_free(request.device_id, subtree, peer, asker=peer)
        decided: Deferred[PolicyDecided] = maybeDeferred(policy.decide, role, peer, request)
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
                return self.create(request, body, decision, role, peer, subtree)

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

    def create(
        self,
        request: DelegationRequest,
        body: bytes | None,
        decision: PolicyDecided,
        role: Role,
        peer: str,
        subtree: str,
    ) -> Deferred[Message | None]:
        self.rules.check_free(request.device_id, subtree, peer, asker=peer)
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
        return self.consume(session, request, body, decision, created=True)

    def take_unknown(
        self, peer: str, message: Message, body: bytes | None
    ) -> Deferred[Message | None]:
        """A message that starts a process at our end, or one for a session we don't know."""
        held = self.rules.held
        if isinstance(message, DelegationTerminationRequest):
            delegation = held(message.device_id, None, Role.DMS2, peer)
            process, role = Process.REVOCATION_ASKED, Role.DMS2
            session_id = message.session_id
        elif isinstance(message, DelegationRevocationRequest):
            named = None if message.dm_tree_uri is None else canonical_subtree(message.dm_tree_uri)
            delegation = held(message.device_id, named, Role.DMS1, peer)
            process, role = Process.REVOCATION_REQUESTED, Role.DMS1
            session_id = message.session_id
        elif isinstance(message, DelegationRevoked) and message.device_id is not None:
            named = None if message.dm_tree_uri is None else canonical_subtree(message.dm_tree_uri)
            delegation = held(message.device_id, named, Role.DMS2, peer)
            process, role = Process.REVOCATION_FORCED, Role.DMS2
            session_id = str(message.session_id or self._engine.new_session_id())
        else:
            unknown = getattr(message, "session_id", None)
            raise Refused(404, f"{message.ROOT} names unknown session {unknown}")
        self.rules.lock_device(delegation.device_id)
        self.rules.check_free(delegation.device_id, delegation.subtree, None, asker=peer)
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
        return self.consume(session, message, body, Received(message), created=True)

    def consume(
        self,
        session: Session,
        message: Message,
        body: bytes | None,
        inp: Input | None = None,
        *,
        created: bool = False,
    ) -> Deferred[Message | None]:
        """Step ``message`` into ``session`` and stage the transition; fires with the
        synchronous answer (``None`` for an asynchronous message) once it is durable."""
        commit = self.commit
        machine = machine_for(session.role, session.process)
        try:
            transition = machine.step(session, inp or Received(message), commit.ctx())
        except OutOfOrder as e:
            raise Refused(e.status, e.reason) from None
        answer = next((e.message for e in transition.effects if isinstance(e, Respond)), None)
        responder: Deferred[Message] | None = None
        synchronous = isinstance(message, SYNCHRONOUS_REQUESTS)
        if synchronous and answer is None and transition.session.is_open:
            responder = Deferred()
            responder.addTimeout(self.timeouts.request, self.clock)
            commit.responders[session.session_id] = (message.ROOT, responder)
        done = commit.apply(
            session if not created else None, transition, inbound=message, inbound_body=body
        )

        def unrecorded(f: Failure) -> Failure:
            if responder is not None:
                commit.responders.pop(session.session_id, None)
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
            commit.responders.pop(session.session_id, None)
            if isinstance(f.value, Refused):
                return f
            return Failure(Refused(503, f"no answer for {message.ROOT}: {f.getErrorMessage()}"))

        return done.addCallback(lambda _: responder).addCallbacks(lambda m: m, no_answer)
