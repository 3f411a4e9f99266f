"""After a burst of connections, the daemon gives freed memory back: the burst's cyclic garbage
collected, then glibc's free lists trimmed, on the reactor's turn after the last connection
closed (the connections closed with it are torn down by then); small bursts cost nothing."""

from __future__ import annotations

import gc

import pytest
from twisted.internet.task import Clock
from twisted.web.resource import Resource

from dmdelegation.web.delegation import DelegationSite


def _site(clock: Clock) -> DelegationSite:
    return DelegationSite(Resource(), reactor=clock)


def _burst(site: DelegationSite, size: int) -> None:
    site.connections += size
    for _ in range(size):
        site.connection_closed()


@pytest.fixture
def collected(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    def collect(*generation: int) -> int:
        calls.append(1)
        return 0

    monkeypatch.setattr(gc, "collect", collect)
    return calls


def test_the_end_of_a_burst_collects_and_trims_on_the_next_turn(collected: list[int]) -> None:
    clock = Clock()
    site = _site(clock)
    _burst(site, 49)
    clock.advance(0)
    assert collected == []  # a small burst: nothing to give back
    _burst(site, 50)
    assert collected == []  # not while the last connection is being torn down
    clock.advance(0)
    assert collected == [1]  # once, on the next turn
    site.connections += 1
    site.connection_closed()
    clock.advance(0)
    assert collected == [1]  # the burst is over: a lone connection releases nothing


def test_a_connection_opened_meanwhile_puts_the_release_off(collected: list[int]) -> None:
    clock = Clock()
    site = _site(clock)
    _burst(site, 60)
    site.connections += 1  # opens before the reactor's next turn
    clock.advance(0)
    assert collected == []
    site.connection_closed()  # the burst's release is still owed, and now made
    clock.advance(0)
    assert collected == [1]
    assert clock.getDelayedCalls() == []
