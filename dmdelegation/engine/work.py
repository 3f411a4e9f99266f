"""The engine's run queue: work is run now, or after the work in hand if called from inside it
(so that a local action that completes synchronously never re-enters a transition half carried
out), and run again later when it found the store out of reach; :meth:`Work.later` schedules
work on the reactor's clock. Also :func:`timeout`, the engine's ``addTimeout`` for Deferreds.

Uses Twisted's clock and the store's :class:`StoreUnavailable`; nothing of the engine.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from dmdelegation.store.interfaces import StoreUnavailable

BUSY_RETRY = 0.05  # seconds before an input another instance held up is tried again
STORE_RETRY = 1.0  # seconds before work that found the store out of reach is tried again


def timeout(d: Deferred[Any], seconds: float, clock: IReactorTime) -> None:
    """``d.addTimeout(seconds, clock)``, unless ``d`` has its result already (a local action
    or a policy that answered at once): that timeout could never fire, and would cost a timer
    set and cancelled at once."""
    if not d.called or d.paused:
        d.addTimeout(seconds, clock)


class Work:
    """The queue of work in hand and the delayed calls pending; ``running`` is the engine's
    (no delayed call is made while it is stopped)."""

    def __init__(self, clock: IReactorTime, log: Logger) -> None:
        self.clock = clock
        self.log = log
        self.queue: deque[Callable[[], None]] = deque()
        self.draining = False
        self.calls: set[IDelayedCall] = set()
        self.running = False

    def run(self, work: Callable[[], None]) -> None:
        """Run ``work`` now, or after the work in hand if called from inside it. Work that finds
        the store out of reach (`StoreUnavailable`, raised before it changed anything: it
        reads first) is run again `STORE_RETRY` seconds later, until the store is back: a
        timer due, a delivery, a local result are never lost to a database restart."""
        self.queue.append(work)
        if self.draining:
            return
        self.draining = True
        try:
            while self.queue:
                item = self.queue.popleft()
                try:
                    item()
                except StoreUnavailable:
                    self.later(STORE_RETRY, item)  # the store logs the outage, once
                except Exception:
                    self.log.failure("engine work failed")
        finally:
            self.draining = False

    def later(self, delay: float, f: Callable[..., None], *args: Any) -> None:
        """Run ``f(*args)`` through the queue ``delay`` seconds from now (if still running)."""
        if not self.running:
            return

        def run() -> None:
            self.calls.discard(call)
            self.run(partial(f, *args))

        call = self.clock.callLater(delay, run)
        self.calls.add(call)

    def cancel(self) -> None:
        """Cancel every delayed call pending (the engine stops)."""
        for call in list(self.calls):
            if call.active():
                call.cancel()
        self.calls.clear()
