"""The rules every process start is checked against, from the operator or from a peer: one
device subtree in one process at a time, a delegation in force to revoke or give back, a
device locked for a new session, a session held under its lock.

Uses the store (read only) and its coordination, and the engine's observers (to count an
operator's refusal); raises :class:`Refused`, never changes anything.
"""

from __future__ import annotations

from twisted.logger import Logger

from dmdelegation.core.model import Delegation, Process, Role, overlaps
from dmdelegation.engine.observer import Observers
from dmdelegation.engine.refusal import BusyRefused, Refused, canonical_subtree
from dmdelegation.protocol import DelegationMethod
from dmdelegation.store.interfaces import Busy, ICoordination, ISessionStore

log = Logger(namespace="dmdelegation.engine.engine")


def delegation_process(method: DelegationMethod) -> Process:
    """The delegation process of a ``DelegationMethod``."""
    if method is DelegationMethod.BOOTSTRAP_SERVER_URL:
        return Process.DELEGATION_BOOTSTRAP
    return Process.DELEGATION_DMACC


class Rules:
    def __init__(
        self, store: ISessionStore, coordination: ICoordination, observer: Observers
    ) -> None:
        self.store = store
        self.coordination = coordination
        self.observer = observer

    def hold(self, session_id: str | None) -> BusyRefused:
        """:meth:`ICoordination.hold`, another instance's hold refused as 503 (try again)."""
        return BusyRefused(self.coordination, session_id)

    def lock_device(self, device_id: str) -> None:
        try:
            self.coordination.lock_device(device_id)
        except Busy as e:
            raise Refused(503, str(e)) from None

    def check_free(
        self, device_id: str, subtree: str, new_delegate: str | None, *, asker: str | None = None
    ) -> None:
        """One device subtree is in one process at a time; a new delegation needs a subtree
        that is not delegated already, and a peer that holds no other subtree of the device.

        For a peer's message (``asker``), the 409 names no process and no other peer: the
        detail goes to our log only."""
        if asker is None:
            self.why_not_free(device_id, subtree, new_delegate)
            return
        try:
            self.why_not_free(device_id, subtree, new_delegate)
        except Refused as e:
            log.info("{asker}'s request: {reason}", asker=asker, reason=e.reason)
            raise Refused(409, f"{device_id} {subtree} is not free") from None

    def why_not_free(self, device_id: str, subtree: str, new_delegate: str | None) -> None:
        for other in self.store.open_on(device_id):
            if overlaps(other.subtree, subtree):
                raise Refused(
                    409,
                    f"{device_id} {subtree} is already in process {other.session_id} "
                    f"({other.process.value}, {other.state})",
                )
        if new_delegate is None:
            return
        for delegation in self.store.delegations(device_id):
            if overlaps(delegation.subtree, subtree):
                raise Refused(
                    409,
                    f"{device_id} {delegation.subtree} is already delegated "
                    f"({delegation.role.value}, with {delegation.peer})",
                )
            if delegation.peer == new_delegate:
                raise Refused(
                    409, f"{new_delegate} already holds {delegation.subtree} of {device_id}"
                )

    def in_force(self, device_id: str, subtree: str, role: Role) -> Delegation:
        """The delegation of ``subtree`` in force in ``role`` (an operator's revocation)."""
        try:
            subtree = canonical_subtree(subtree)
        except Refused as e:
            self.observer.refused("operator", "revocation", e.status)
            raise
        for delegation in self.store.delegations(device_id, role):
            if delegation.subtree == subtree:
                return delegation
        self.observer.refused("operator", "revocation", 409)
        raise Refused(409, f"{device_id} {subtree} is not delegated ({role.value})")

    def held(self, device_id: str, subtree: str | None, role: Role, peer: str) -> Delegation:
        """The delegation with ``peer`` a revocation message from it names."""
        for delegation in self.store.delegations(device_id, role):
            if delegation.peer == peer and subtree in (None, delegation.subtree):
                return delegation
        what = f"{device_id} {subtree or ''}".strip()
        raise Refused(409, f"no delegation of {what} with {peer} ({role.value})")
