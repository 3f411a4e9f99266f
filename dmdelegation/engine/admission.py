"""A cap on the processes each peer holds open, in front of any :class:`IDelegationPolicy`.

:class:`OpenProcesses` counts, per peer, the open processes of this engine (an
:class:`IEngineObserver`, started from the store's open sessions); :class:`CappedPolicy` refuses
a peer's DELEGATION_REQ with 429 while that peer holds ``cap`` open processes, before the policy
is asked and before any session row or subtree lock exists. A process is counted once its first
step is committed: a burst that arrives within one group commit (milliseconds) can pass the cap
by that burst, no more. With a shared PostgreSQL store each instance counts its own processes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from attrs import define, field
from twisted.internet.defer import Deferred, fail
from zope.interface import implementer

from dmdelegation.engine.effects import Effect
from dmdelegation.engine.engine import Refused
from dmdelegation.engine.inputs import PolicyDecided
from dmdelegation.engine.interfaces import IDelegationPolicy
from dmdelegation.engine.model import Role, Session
from dmdelegation.engine.observer import IEngineObserver
from dmdelegation.protocol import DelegationRequest

TOO_MANY = 429
DEFAULT_MAX_OPEN = 32  # open processes a peer may hold (peers[].max_open_processes)


@implementer(IEngineObserver)
class OpenProcesses:
    """Open processes by peer, kept from the engine's committed transitions."""

    def __init__(self, open_sessions: Iterable[Session] = ()) -> None:
        self.by_peer: Counter[str] = Counter(s.peer for s in open_sessions if s.is_open)

    def transition(
        self, before: Session | None, after: Session, effects: tuple[Effect, ...]
    ) -> None:
        was_open = before is not None and before.is_open
        if after.is_open and not was_open:
            self.by_peer[after.peer] += 1
        elif was_open and not after.is_open:
            self.by_peer[after.peer] -= 1
            if self.by_peer[after.peer] <= 0:
                del self.by_peer[after.peer]

    def received(self, peer: str, root: str, status: int) -> None:
        pass

    def sent(self, peer: str, root: str, status: int, seconds: float, attempt: int) -> None:
        pass

    def retrying(self, peer: str, root: str, attempt: int, delay: float) -> None:
        pass

    def refused(self, source: str, what: str, status: int) -> None:
        pass


@implementer(IDelegationPolicy)
@define
class CappedPolicy:
    """``policy``, behind a cap of open processes per peer (``cap_of(peer)``)."""

    policy: IDelegationPolicy
    counts: OpenProcesses
    cap_of: Callable[[str], int] = field(default=lambda _peer: DEFAULT_MAX_OPEN)

    def role_for(self, peer: str, request: DelegationRequest) -> Role:
        role: Role = self.policy.role_for(peer, request)
        return role

    def decide(self, role: Role, peer: str, request: DelegationRequest) -> Deferred[PolicyDecided]:
        cap = self.cap_of(peer)
        if self.counts.by_peer[peer] >= cap:
            return fail(Refused(TOO_MANY, f"{peer} already holds {cap} open processes"))
        decided: Deferred[PolicyDecided] = self.policy.decide(role, peer, request)
        return decided
