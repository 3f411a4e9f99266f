"""After a burst of connections, the daemon gives freed memory back: the burst's cyclic garbage
collected, then glibc's free lists trimmed; small bursts cost nothing."""

from __future__ import annotations

import gc

import pytest
from twisted.web.resource import Resource

from dmdelegation.web.delegation import DelegationSite


def _site() -> DelegationSite:
    return DelegationSite(Resource())


def _burst(site: DelegationSite, size: int) -> None:
    site.connections += size
    for _ in range(size):
        site.connection_closed()


def test_the_end_of_a_burst_collects_and_trims(monkeypatch: pytest.MonkeyPatch) -> None:
    collected: list[int] = []

    def collect(*generation: int) -> int:
        collected.append(1)
        return 0

    monkeypatch.setattr(gc, "collect", collect)
    site = _site()
    _burst(site, 49)
    assert collected == []  # a small burst: nothing to give back
    _burst(site, 50)
    assert collected == [1]  # once, when the last connection of the burst closed
    site.connections += 1
    site.connection_closed()
    assert collected == [1]
