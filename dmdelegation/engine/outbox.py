"""The outbox and the peer exchanges: delivery of each queued message (retried with back-off,
given up into the process's failure path after ``timeouts.delivery``), the synchronous requests
(retried on 409/503 until their deadline, the answer checked and stepped into the session), and
``in_flight``, the messages of a session held until its request's answer is in.

Uses the ``IPeerTransport`` seam (read from the engine at each call), the store's outbox, the
clock, the run queue, the observers, and the engine's commit pipeline (to step the answer and
feed failures).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.python.failure import Failure

from dmdelegation.engine.commit import logged_by_flush
from dmdelegation.engine.inputs import PeerUnreachable, Received
from dmdelegation.engine.interfaces import PeerError
from dmdelegation.engine.machine import OutOfOrder
from dmdelegation.engine.machines import machine_for
from dmdelegation.engine.observer import root_of
from dmdelegation.engine.work import BUSY_RETRY, timeout
from dmdelegation.protocol import Message, ProtocolError, decode
from dmdelegation.store.interfaces import Busy

if TYPE_CHECKING:
    from dmdelegation.engine.engine import Engine


class Outbox:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.store = engine.store
        self.coordination = engine.coordination
        self.clock = engine.clock
        self.timeouts = engine.timeouts
        self.observer = engine.observer
        self.work = engine.work
        self.log = engine.log
        self.in_flight: dict[str, list[Callable[[], None]]] = {}  # requests awaiting answers

    def backoff(self, attempt: int) -> float:
        engine = self._engine
        return float(min(engine.retry_initial * 2**attempt, engine.retry_max))

    def request(
        self,
        session_id: str,
        peer: str,
        message: Message,
        body: bytes,
        deadline: float,
        attempt: int,
    ) -> None:
        """Send a synchronous request; its answer (or failure) goes to the session."""
        run, feed = self.work.run, self._engine.commit.feed
        started = self.clock.seconds()
        remaining = deadline - started
        d: Deferred[bytes] = maybeDeferred(self._engine.transport.request, peer, body)
        timeout(d, max(remaining, 0.001), self.clock)

        def answered(answer_body: bytes) -> None:
            took = self.clock.seconds() - started
            try:
                answer = decode(answer_body)
            except ProtocolError as e:
                self.observer.sent(peer, message.ROOT, 0, took, attempt)
                bad = PeerUnreachable(f"bad answer: {e.reason}")
                run(lambda: feed(session_id, bad))
                run(lambda: self.request_done(session_id))
                return
            if getattr(answer, "session_id", None) != getattr(message, "session_id", None):
                reason = "the answer names another session"
                self.observer.sent(peer, message.ROOT, 0, took, attempt)
                run(lambda: feed(session_id, PeerUnreachable(reason)))
                run(lambda: self.request_done(session_id))
                return
            self.observer.sent(peer, message.ROOT, 200, took, attempt)
            run(lambda: self.answered(session_id, answer, answer_body))
            run(lambda: self.request_done(session_id))

        def failed(f: Failure) -> None:
            status = f.value.status if isinstance(f.value, PeerError) else 0
            self.observer.sent(peer, message.ROOT, status, self.clock.seconds() - started, attempt)
            retry = isinstance(f.value, PeerError) and f.value.status in (409, 503)
            if retry and self.clock.seconds() + self.backoff(attempt) < deadline:
                self.observer.retrying(peer, message.ROOT, attempt + 1, self.backoff(attempt))
                self.work.later(
                    self.backoff(attempt),
                    self.request,
                    session_id,
                    peer,
                    message,
                    body,
                    deadline,
                    attempt + 1,
                )
                return
            reason = f"{message.ROOT}: {f.getErrorMessage()}"
            run(lambda: feed(session_id, PeerUnreachable(reason)))
            run(lambda: self.request_done(session_id))

        d.addCallbacks(answered, failed)

    def request_done(self, session_id: str) -> None:
        """The request's answer (or failure) has been taken: messages held for it go on."""
        for waiter in self.in_flight.pop(session_id, []):
            waiter()

    def answered(self, session_id: str, answer: Message, body: bytes) -> None:
        """Step the answer to our request into its session, under the session's lock."""
        commit = self._engine.commit
        try:
            with self.coordination.hold(session_id) as session:
                if session is None or not session.is_open:
                    return
                try:
                    transition = machine_for(session.role, session.process).step(
                        session, Received(answer), commit.ctx()
                    )
                except OutOfOrder as e:
                    commit.feed(session_id, PeerUnreachable(f"unexpected answer: {e.reason}"))
                    return
                commit.apply(session, transition, inbound=answer, inbound_body=body).addErrback(
                    logged_by_flush
                )
        except Busy:
            self.work.later(BUSY_RETRY, self.answered, session_id, answer, body)

    def deliver(self, item_id: int, attempt: int) -> None:
        """Deliver a message of the outbox; retried with back-off until ``timeouts.delivery``
        after it was queued, then given up into the session's failure path."""
        item = self.store.outbox_item(item_id)
        if item is None:
            return  # delivered, or cancelled
        started = self.clock.seconds()
        d: Deferred[None] = maybeDeferred(self._engine.transport.deliver, item.peer, item.body)
        timeout(d, self.timeouts.request, self.clock)

        def delivered(_: object) -> None:
            self.store.delivered(item_id)
            took = self.clock.seconds() - started
            self.observer.sent(item.peer, root_of(item.body), 204, took, attempt)

        def failed(f: Failure) -> None:
            status = f.value.status if isinstance(f.value, PeerError) else 0
            took = self.clock.seconds() - started
            self.observer.sent(item.peer, root_of(item.body), status, took, attempt)
            permanent = isinstance(f.value, PeerError) and f.value.status not in (409, 503)
            give_up_at = item.created + self.timeouts.delivery
            delay = self.backoff(attempt)
            if not permanent and self.clock.seconds() + delay < give_up_at:
                self.observer.retrying(item.peer, root_of(item.body), attempt + 1, delay)
                self.work.later(delay, self.deliver, item_id, attempt + 1)
                return
            self.store.delivered(item_id)
            reason = f"delivery of a message failed: {f.getErrorMessage()}"
            self.log.warn(
                "session {session_id}: {reason}", session_id=item.session_id, reason=reason
            )
            feed = self._engine.commit.feed
            self.work.run(lambda: feed(item.session_id, PeerUnreachable(reason)))

        d.addCallbacks(delivered, failed)
