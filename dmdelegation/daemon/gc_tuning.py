"""The garbage collector settings of the daemon (``twistd dmdelegation``), not of the library.

CPython's cyclic collector runs its youngest generation every 700 net allocations of container
objects, and each run of an older generation walks every object the process holds: the code,
the configuration, the caches. An engine that allocates many short-lived objects per message
(Deferreds, sessions, parsed documents) spends about 15 % of its time there (measured with
``gc.callbacks`` in ``benchmarks/engine.py``). The daemon therefore:

- moves everything it holds once started into the permanent generation (``gc.freeze``), which
  the collector no longer walks;
- runs the youngest generation every `THRESHOLD` [0] allocations instead of 700, and the older
  ones as often relative to it as CPython does (10 and 10).

Reference counting still frees everything that is not in a cycle at once; cyclic garbage (a
Failure and its traceback, pyOpenSSL's verification helpers) waits longer, so the end of a burst
of connections collects it (`dmdelegation.web.delegation`, with the trim of glibc's free lists):
the load test's memory, back within 10 % of where it was, holds with the setting. The setting is
process-wide, so a host that embeds dmdelegation as a library keeps its own: only the twistd
plugin calls `tune_for_daemon`.
"""

from __future__ import annotations

import gc
from typing import Any

from twisted.internet.interfaces import IReactorCore

THRESHOLD = (20_000, 10, 10)


def apply() -> None:
    """Collect, freeze what survives, and set `THRESHOLD`."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLD)


def tune_for_daemon(reactor: Any) -> None:
    """`apply` once the reactor runs (the service has started: what it holds is loaded); nothing
    with a reactor that never runs (a test's `Clock`)."""
    if IReactorCore.providedBy(reactor):
        reactor.callWhenRunning(apply)
