"""A simulated clock for benchmarks: Twisted's ``task.Clock`` keeps its calls in a list it sorts
on every ``callLater`` (fine for tests, quadratic for thousands of pending calls); the real
reactors keep a heap. This one keeps a heap too, so a benchmark measures the code under test,
not the test clock."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

from twisted.internet.base import DelayedCall
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer


@implementer(IReactorTime)
class HeapClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self._heap: list[tuple[float, int, DelayedCall]] = []
        self._order = itertools.count()
        self._cancelled = 0

    def seconds(self) -> float:
        return self.now

    def callLater(
        self, delay: float, callable: Callable[..., Any], *args: Any, **kw: Any
    ) -> DelayedCall:
        call = DelayedCall(
            self.now + delay, callable, args, kw, self._cancel, self._push, self.seconds
        )
        self._push(call)
        return call

    def _cancel(self, call: DelayedCall) -> None:
        """Cancelled calls leave the heap lazily; it is rebuilt when they are most of it (as
        ``ReactorBase`` does)."""
        self._cancelled += 1
        if self._cancelled > 50 and self._cancelled > len(self._heap) // 2:
            self._heap = [entry for entry in self._heap if entry[2].active()]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def _push(self, call: DelayedCall) -> None:
        heapq.heappush(self._heap, (call.time, next(self._order), call))

    def getDelayedCalls(self) -> list[DelayedCall]:
        return [c for _, _, c in self._heap if c.active()]

    def run(self, horizon: float = float("inf")) -> None:
        """Run every call due before ``now + horizon``, advancing time as they come."""
        end = self.now + horizon
        while self._heap:
            when, _, call = self._heap[0]
            if when > end:
                break
            heapq.heappop(self._heap)
            if not call.active() or call.time != when:
                continue  # cancelled, or reset (its new entry is elsewhere in the heap)
            self.now = max(self.now, when)
            call.called = 1
            call.func(*call.args, **call.kw)
