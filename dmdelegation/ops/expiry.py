"""Timed delegations: ``delegate ... --for DURATION``.

The expiry is written with the first transition of the delegation process (``timed`` table,
``dmdelegation.store.audit``), so it is as durable as the delegation. :class:`ExpiryWatch`
keeps one timer per timed delegation on the injected ``IReactorTime`` and re-arms them all on
:meth:`ExpiryWatch.start` (a restart); an expiry that passed while the daemon was down is acted
on at once.

At expiry, if the delegation is in force, DMS-1 revokes it through the engine's own entry
point, asked first (``cause = "expired"`` in the audit trail): DMS-2 is given
``timeouts.termination`` to stop, after which the asked revocation removes DMS-2 from the
client all the same (5.3). If that revocation ends with the delegation still in force, a forced
revocation follows. A delegation still being set up at its expiry is revoked as soon as it is
in force; another process on the same subtree at that moment (an operator's revocation, say)
is waited out, and the delegation looked at again ``retry`` seconds later.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from dmdelegation.engine.engine import Engine, Refused
from dmdelegation.engine.model import Delegation, Role, Session
from dmdelegation.store.audit import Expiry

EXPIRED = "expired"
EXPIRED_FORCED = "expired (forced: the asked revocation did not end it)"


class ExpiryWatch:
    log = Logger(namespace="dmdelegation.expiry.ExpiryWatch")  # as before the move

    def __init__(self, engine: Engine, clock: IReactorTime, *, retry: float = 30.0) -> None:
        self.engine = engine
        self.clock = clock
        self.retry = retry
        self._calls: dict[str, IDelayedCall] = {}
        self.running = False

    def start(self) -> None:
        """Arm a timer for every timed delegation not yet over (after the engine's start)."""
        self.running = True
        armed = 0
        for expiry in self.engine.store.expiries():
            if self._pending(expiry):
                self._arm(expiry, expiry.expires)
                armed += 1
        self.log.info("{armed} timed delegation(s) watched", armed=armed)

    def stop(self) -> None:
        self.running = False
        for call in self._calls.values():
            if call.active():
                call.cancel()
        self._calls.clear()

    def delegate(
        self, device_id: str, to: str, subtree: str, duration: float, **kw: Any
    ) -> Session:
        """:meth:`Engine.delegate` for ``duration`` seconds from now."""
        if not duration > 0:
            raise Refused(400, "the duration of a timed delegation must be positive")
        expires = self.clock.seconds() + duration
        session = self.engine.delegate(device_id, to, subtree, expires_at=expires, **kw)
        self._arm(Expiry(session.session_id, device_id, session.subtree, expires), expires)
        return session

    # ---------------------------------------------------------------- internals

    def _pending(self, expiry: Expiry) -> bool:
        session = self.engine.store.get(expiry.session_id)
        if session is None:
            return False
        return session.is_open or self._in_force(expiry) is not None

    def _in_force(self, expiry: Expiry) -> Delegation | None:
        for delegation in self.engine.store.delegations(expiry.device_id, Role.DMS1):
            if delegation.session_id == expiry.session_id:
                return delegation
        return None

    def _arm(self, expiry: Expiry, when: float) -> None:
        if not self.running:
            return
        old = self._calls.pop(expiry.session_id, None)
        if old is not None and old.active():
            old.cancel()
        delay = max(0.0, when - self.clock.seconds())
        self._calls[expiry.session_id] = self.clock.callLater(delay, self._expire, expiry, False)

    def _expire(self, expiry: Expiry, forced: bool) -> None:
        self._calls.pop(expiry.session_id, None)
        if not self.running:
            return
        session = self.engine.store.get(expiry.session_id)
        if session is None:
            return
        if session.is_open:  # still being set up: revoke it once it is in force
            self.engine.wait(expiry.session_id).addCallback(lambda _: self._expire(expiry, forced))
            return
        delegation = self._in_force(expiry)
        if delegation is None:
            return  # never came into force, or ended already
        try:
            revocation = self.engine.revoke(
                delegation.device_id,
                delegation.subtree,
                forced=forced,
                cause=EXPIRED_FORCED if forced else EXPIRED,
            )
        except Refused as e:
            self.log.info(
                "timed delegation {session_id} expired, not revoked yet: {reason}; "
                "looking again in {retry}s",
                session_id=expiry.session_id,
                reason=e.reason,
                retry=self.retry,
            )
            self._arm(expiry, self.clock.seconds() + self.retry)
            return
        self.log.info(
            "timed delegation {session_id} of {device} {subtree} to {peer} expired: "
            "revocation {revocation} ({mode})",
            session_id=expiry.session_id,
            device=delegation.device_id,
            subtree=delegation.subtree,
            peer=delegation.peer,
            revocation=revocation.session_id,
            mode="forced" if forced else "asked",
        )
        self.engine.wait(revocation.session_id).addCallback(
            lambda ended: self._revoked(expiry, ended, forced)
        )

    def _revoked(self, expiry: Expiry, ended: Session, forced: bool) -> None:
        if self._in_force(expiry) is None:
            return
        if not forced:
            self._expire(expiry, True)
            return
        self.log.error(
            "timed delegation {session_id} is still in force after a forced revocation "
            "({outcome}: {reason}); it needs an operator",
            session_id=expiry.session_id,
            outcome=ended.outcome.value if ended.outcome else "open",
            reason=ended.reason,
        )
