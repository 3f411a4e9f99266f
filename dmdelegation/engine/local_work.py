"""Local work: the changes to the DM Client DMS-1 makes (:class:`ChangeClient`) and the duties
of DMS-2 (:class:`Perform`), each run through its seam with a timeout, its result or failure
fed back to the session as an input through the run queue.

Uses the seams ``IClientChanges`` and ``IDelegatedServer``, the clock, the run queue, and the
engine's commit pipeline (to feed the session).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.python.failure import Failure

from dmdelegation.core.effects import ChangeClient, Duty, TreeChange
from dmdelegation.core.model import Session
from dmdelegation.engine.inputs import (
    BootstrapSupplied,
    DutyDone,
    DutyFailed,
    Input,
    TreeDone,
    TreeFailed,
    URLSupplied,
)
from dmdelegation.engine.interfaces import ClientChangeFailed
from dmdelegation.engine.work import timeout

if TYPE_CHECKING:
    from dmdelegation.engine.engine import Engine


class LocalWork:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.clock = engine.clock
        self.timeouts = engine.timeouts
        self.work = engine.work
        self.log = engine.log

    def result(
        self,
        session_id: str,
        d: Deferred[Any],
        done: Callable[[Any], Input],
        failed: Callable[[Failure], Input] | None,
    ) -> None:
        """Feed ``done(value)`` (or ``failed(failure)``) to the session once ``d`` fires;
        a failure without ``failed`` is only logged."""
        timeout(d, self.timeouts.local, self.clock)
        run = self.work.run

        def ok(value: Any) -> None:
            run(lambda: self._engine.commit.feed(session_id, done(value)))

        def bad(f: Failure) -> None:
            if failed is None:
                self.log.failure("session {session_id}", f, session_id=session_id)
                return
            inp = failed(f)
            run(lambda: self._engine.commit.feed(session_id, inp))

        d.addCallbacks(ok, bad)

    def change(self, session: Session, effect: ChangeClient) -> None:
        """Carry out a change to the DM Client (:class:`IClientChanges`)."""
        changes = self._engine.client_changes
        calls: dict[TreeChange, Callable[[], Deferred[None]]] = {
            TreeChange.PREPARE_DMACC: lambda: changes.prepare_dmacc(session, effect.dmacc),
            TreeChange.ADD_BOOTSTRAP_ENTRY: lambda: changes.add_bootstrap_entry(
                session, effect.url or ""
            ),
            TreeChange.GRANT: lambda: changes.grant(session),
            TreeChange.UNDO: lambda: changes.undo(session),
            TreeChange.COMMIT: lambda: changes.commit(session),
            TreeChange.REMOVE_DELEGATE: lambda: changes.remove_delegate(session),
        }
        d = maybeDeferred(calls[effect.change])
        if effect.change is TreeChange.COMMIT:  # nothing waits for it
            d.addErrback(
                lambda f: self.log.failure(
                    "session {session_id}: forgetting the undo journal failed",
                    f,
                    session_id=session.session_id,
                )
            )
            return

        def failed(f: Failure) -> Input:
            if isinstance(f.value, ClientChangeFailed):
                return TreeFailed(f.value.status, f.value.reason)
            self.log.failure("client change {change} failed", f, change=effect.change.value)
            return TreeFailed(500, f.getErrorMessage())

        self.result(session.session_id, d, lambda _: TreeDone(), failed)

    def perform(self, session: Session, duty: Duty) -> None:
        """Carry out a duty of DMS-2 (:class:`IDelegatedServer`)."""
        server = self._engine.delegated
        done: Callable[[Any], Input] = lambda _: DutyDone()  # noqa: E731
        if duty is Duty.SUPPLY_BOOTSTRAP:
            d: Deferred[Any] = maybeDeferred(server.bootstrap_data, session)
            done = BootstrapSupplied
        elif duty is Duty.SUPPLY_URL:
            d = maybeDeferred(server.bootstrap_url, session)
            done = URLSupplied
        elif duty is Duty.AWAIT_CLIENT_BOOTSTRAP:
            d = maybeDeferred(server.await_client_bootstrap, session)
            timeout(d, self.timeouts.client_bootstrap, self.clock)
        elif duty is Duty.OPEN_DM_SESSION:
            d = maybeDeferred(server.open_dm_session, session)
        elif duty is Duty.STOP_ACTIVITY:
            d = maybeDeferred(server.stop_activity, session)
        else:
            self.result(
                session.session_id, maybeDeferred(server.forget_device, session), done, None
            )
            return
        self.result(
            session.session_id,
            d,
            done,
            lambda f: DutyFailed(f"{duty.value}: {f.getErrorMessage()}"),
        )
