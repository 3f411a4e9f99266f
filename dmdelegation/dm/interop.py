"""DMS-1's `IClientChanges` for real DM Clients: the engine's own, with the account DMS-2 sends
completed the way real clients need it. Every ``AppAuth`` gets an ``AAuthData`` leaf, empty if
DMS-2 gave none: some clients refuse an account whose AppAuth lacks it, and others keep the
nonce of the next authentication there. Everything else is passed through unchanged."""

from __future__ import annotations

from attrs import evolve
from twisted.internet.defer import Deferred
from zope.interface import implementer

from dmdelegation.engine.interfaces import IClientChanges
from dmdelegation.engine.model import Session
from dmdelegation.protocol import DMAcc


def with_auth_data(account: DMAcc) -> DMAcc:
    """``account`` with ``AAuthData`` (empty) on every AppAuth that has none."""
    auths = tuple(a if a.data is not None else evolve(a, data=b"") for a in account.app_auths)
    return evolve(account, app_auths=auths)


@implementer(IClientChanges)
class DMClientChanges:
    def __init__(self, inner: IClientChanges) -> None:
        self.inner = inner

    def prepare_dmacc(self, session: Session, dmacc: DMAcc | None) -> Deferred[None]:
        return self.inner.prepare_dmacc(session, None if dmacc is None else with_auth_data(dmacc))

    def add_bootstrap_entry(self, session: Session, url: str) -> Deferred[None]:
        return self.inner.add_bootstrap_entry(session, url)

    def grant(self, session: Session) -> Deferred[None]:
        return self.inner.grant(session)

    def undo(self, session: Session) -> Deferred[None]:
        return self.inner.undo(session)

    def commit(self, session: Session) -> Deferred[None]:
        return self.inner.commit(session)

    def remove_delegate(self, session: Session) -> Deferred[None]:
        return self.inner.remove_delegate(session)
