"""The back-off of DM authentication failures, per DevId (the SyncHdr's Source), on the reactor's
clock.

A device whose nonce drifted fails once and succeeds with the nonce of the server's challenge;
someone guessing a secret fails again and again. After `FREE_FAILURES` wrong credentials in a
row (401) for a DevId, its messages are refused without their credentials being checked for
`FIRST_DELAY` seconds, doubled at every further failure up to `MAX_DELAY`. A success forgets the
failures; so does `FORGET` seconds without one. Known and unknown DevIds are treated alike (the
back-off must not tell which DevIds are devices), and at most `MAX_TRACKED` DevIds are followed
(the oldest is forgotten first).
"""

from __future__ import annotations

from collections import OrderedDict

from attrs import define
from twisted.internet.interfaces import IReactorTime

FREE_FAILURES = 3
FIRST_DELAY = 30.0
MAX_DELAY = 900.0
FORGET = 3600.0
MAX_TRACKED = 10_000


@define
class _Failures:
    count: int
    last: float  # when the last failure was
    until: float  # the end of the back-off (in the past when none)


class AuthBackoff:
    """Failures of authentication by DevId, and the back-off they earn."""

    def __init__(self, clock: IReactorTime, *, max_tracked: int = MAX_TRACKED) -> None:
        self.clock = clock
        self.max_tracked = max_tracked
        self._failures: OrderedDict[str, _Failures] = OrderedDict()

    def remaining(self, dev_id: str) -> float:
        """The seconds of back-off left for ``dev_id``: 0 when its messages may be checked."""
        entry = self._failures.get(dev_id)
        if entry is None:
            return 0.0
        return max(0.0, entry.until - self.clock.seconds())

    def failed(self, dev_id: str) -> float:
        """Count a failure of ``dev_id``; the back-off it earns (0 while still free)."""
        now = self.clock.seconds()
        entry = self._failures.pop(dev_id, None)
        if entry is None or now - entry.last >= FORGET:
            entry = _Failures(count=0, last=now, until=now)
        entry.count += 1
        entry.last = now
        delay = 0.0
        if entry.count >= FREE_FAILURES:
            delay = min(MAX_DELAY, FIRST_DELAY * 2 ** min(entry.count - FREE_FAILURES, 16))
            entry.until = now + delay
        self._failures[dev_id] = entry
        while len(self._failures) > self.max_tracked:
            self._failures.popitem(last=False)
        return delay

    def succeeded(self, dev_id: str) -> None:
        self._failures.pop(dev_id, None)

    def __len__(self) -> int:
        return len(self._failures)
