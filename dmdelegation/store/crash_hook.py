"""A test hook for the crash suite: with ``DMDELEGATION_CRASH_AFTER=N`` in its environment, the
daemon's session store kills its own process (SIGKILL, nothing cleaned up) right after its
N-th commit (counting every transition of a group commit), once the flush holding it is
durable and before anything that was to follow happens.
It announces the step on stderr first. The service installs it only when the variable is set;
normal runs never construct it."""

from __future__ import annotations

import os
import signal
import sys

from dmdelegation.store.sessions import Commit, SessionStore

CRASH_ENV = "DMDELEGATION_CRASH_AFTER"


class CrashingSessionStore(SessionStore):
    def __init__(self, *args: object, crash_after: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.crash_after = crash_after
        self.commits = 0

    def flush(self) -> list[Commit]:
        written = super().flush()
        for c in written:
            self.commits += 1
            if self.commits == self.crash_after:
                s = c.session
                sys.stderr.write(
                    f"dmdelegation test hook: killed after commit {self.commits} "
                    f"({s.role.value} {s.process.value} -> {s.state})\n"
                )
                sys.stderr.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        return written
