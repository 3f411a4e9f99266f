"""The engine's timers: one heap of (deadline, session, wait) and one reactor call for the
earliest; a due entry fires :class:`TimerExpired` only if, under the session's lock, the
session still waits for it (an entry is a hint, never cancelled).

Uses the clock, the run queue (:class:`Work`), the store's coordination, and the engine's
commit pipeline (to feed the session).
"""

from __future__ import annotations

import heapq
from functools import partial
from typing import TYPE_CHECKING

from twisted.internet.interfaces import IDelayedCall

from dmdelegation.core.model import Session
from dmdelegation.engine.inputs import TimerExpired
from dmdelegation.engine.work import BUSY_RETRY
from dmdelegation.store.interfaces import Busy

if TYPE_CHECKING:
    from dmdelegation.engine.engine import Engine


class Timers:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.clock = engine.clock
        self.coordination = engine.coordination
        self.work = engine.work
        self.log = engine.log
        self.heap: list[tuple[float, str, str]] = []
        self.call: IDelayedCall | None = None

    def arm(self, session: Session) -> None:
        """A timer for the session's deadline."""
        assert session.deadline is not None
        assert session.wait is not None
        heapq.heappush(self.heap, (session.deadline, session.session_id, session.wait))
        self.schedule()

    def schedule(self) -> None:
        if not self.heap:
            return
        delay = max(0.0, self.heap[0][0] - self.clock.seconds())
        if self.call is not None and self.call.active():
            if self.call.getTime() <= self.heap[0][0]:
                return
            self.call.cancel()
        self.call = self.clock.callLater(delay, self.work.run, self.due)

    def due(self) -> None:
        self.call = None
        now = self.clock.seconds()
        due = []
        while self.heap and self.heap[0][0] <= now:
            due.append(heapq.heappop(self.heap))
        run = self.work.run
        for deadline, session_id, wait in due:
            run(partial(self.expire, session_id, wait, deadline))
        self.schedule()

    def expire(self, session_id: str, wait: str, deadline: float) -> None:
        """A timer is due: it fires if, under the session's lock, the session still waits for
        it and this instance owns the session (an entry of the heap is only a hint)."""
        try:
            with self.coordination.hold(session_id) as session:
                if (
                    session is None
                    or not session.is_open
                    or session.wait != wait
                    or session.deadline != deadline
                    or not self.coordination.owns(session_id)
                ):
                    return
                self.log.info(
                    "session {session_id}: the {wait} wait expired (deadline {deadline})",
                    session_id=session_id,
                    wait=wait,
                    deadline=deadline,
                    instance=self.coordination.instance_id,
                )
                self._engine.commit.feed(session_id, TimerExpired(wait))
        except Busy:
            self.work.later(BUSY_RETRY, self.expire, session_id, wait, deadline)

    def stop(self) -> None:
        """Cancel the reactor call and forget every timer (they are re-armed on start)."""
        if self.call is not None and self.call.active():
            self.call.cancel()
        self.call = None
        self.heap.clear()
