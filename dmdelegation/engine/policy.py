"""The embedded :class:`IDelegationPolicy`: decisions from configuration.

For each peer: which role this server plays when the peer sends a DELEGATION_REQ
(``we_delegate``: the peer asks for our devices, so we are DMS-1; otherwise the peer offers us
its devices and we are DMS-2), whether such requests are accepted, and the subtrees (URI
prefixes) they may name. A peer that is not configured is refused (403). With ``manages``, a
request for a device this server does not manage, when it would be DMS-1, is refused at once
with 404 (``isAknowledged=false``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from attrs import field, frozen
from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from dmdelegation.engine.inputs import PolicyDecided
from dmdelegation.engine.interfaces import IDelegationPolicy
from dmdelegation.engine.model import Role
from dmdelegation.protocol import DelegationRequest

FORBIDDEN = 403
NOT_FOUND = 404


@frozen
class PeerRule:
    we_delegate: bool  # True: the peer is a delegated server of ours (we are DMS-1)
    accept: bool = True
    subtrees: tuple[str, ...] = (".",)
    full_allowed: bool = True
    devices: frozenset[str] | None = None  # None: any device


@implementer(IDelegationPolicy)
@frozen
class ConfigPolicy:
    rules: Mapping[str, PeerRule] = field(factory=dict)
    manages: Callable[[str], bool] | None = field(default=None, eq=False)
    """Whether a device is one this server manages (DMS-1's devices); None: any."""

    def role_for(self, peer: str, request: DelegationRequest) -> Role:
        rule = self.rules.get(peer)
        return Role.DMS1 if rule is not None and rule.we_delegate else Role.DMS2

    def decide(self, role: Role, peer: str, request: DelegationRequest) -> Deferred[PolicyDecided]:
        rule = self.rules.get(peer)
        if rule is None or not rule.accept:
            return succeed(PolicyDecided(False, FORBIDDEN, f"{peer} is not allowed to ask"))
        if role is Role.DMS1 and self.manages is not None and not self.manages(request.device_id):
            return succeed(PolicyDecided(False, NOT_FOUND, f"{request.device_id} is not ours"))
        if rule.devices is not None and request.device_id not in rule.devices:
            return succeed(PolicyDecided(False, FORBIDDEN, f"{request.device_id} not allowed"))
        if not any(
            request.dm_tree_uri == allowed
            or allowed == "."
            or request.dm_tree_uri.startswith(allowed + "/")
            for allowed in rule.subtrees
        ):
            return succeed(PolicyDecided(False, FORBIDDEN, f"{request.dm_tree_uri} not allowed"))
        if request.is_delegation_full and not rule.full_allowed:
            return succeed(PolicyDecided(False, FORBIDDEN, "full delegation not allowed"))
        return succeed(PolicyDecided(True))
