"""The engine's waits on a Deferred time out, unless the Deferred has its result already (then
no timer is set at all: it could never fire)."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import Deferred, TimeoutError, succeed
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import Clock

from dmdelegation.engine.work import timeout as _timeout


class CountingClock(Clock):
    """A Clock that counts the timers set on it (cancelled ones too)."""

    def __init__(self) -> None:
        super().__init__()
        self.set = 0

    def callLater(self, delay: float, callable: Any, *args: Any, **kw: Any) -> IDelayedCall:
        self.set += 1
        return super().callLater(delay, callable, *args, **kw)


def test_a_deferred_with_its_result_gets_no_timer() -> None:
    clock = CountingClock()
    d = succeed("done")
    _timeout(d, 5, clock)
    assert clock.set == 0
    clock.advance(10)
    results: list[object] = []
    d.addBoth(results.append)
    assert results == ["done"]


def test_a_waiting_deferred_times_out() -> None:
    clock = CountingClock()
    d: Deferred[str] = Deferred()
    _timeout(d, 5, clock)
    assert clock.set == 1
    clock.advance(4.9)
    assert not d.called
    clock.advance(0.1)
    failures: list[object] = []
    d.addErrback(failures.append)
    assert len(failures) == 1
    with pytest.raises(TimeoutError):
        failures[0].raiseException()  # type: ignore[attr-defined]


def test_a_deferred_waiting_on_another_times_out_too() -> None:
    """Called, but with a Deferred as its result: it is paused, its value still to come."""
    clock = Clock()
    inner: Deferred[str] = Deferred()
    d = succeed(None).addCallback(lambda _: inner)
    assert d.called
    assert d.paused
    _timeout(d, 5, clock)
    clock.advance(5)
    failures: list[object] = []
    d.addErrback(failures.append)
    assert len(failures) == 1
    inner.addErrback(lambda _: None)


def test_a_waiting_deferred_that_fires_in_time_leaves_no_timer() -> None:
    clock = Clock()
    d: Deferred[str] = Deferred()
    _timeout(d, 5, clock)
    d.callback("done")
    assert clock.getDelayedCalls() == []
