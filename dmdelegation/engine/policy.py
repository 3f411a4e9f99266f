"""The embedded :class:`IDelegationPolicy`: decisions from configuration, denying by default.

For each peer: which role this server plays when the peer sends a DELEGATION_REQ
(``we_delegate``: the peer asks for our devices, so we are DMS-1; otherwise the peer offers us
its devices and we are DMS-2), and what it is granted. A peer gets nothing the operator did not
write down: a request is accepted only when the peer's rule says ``accept``, the device is in
the rule's device scope (``devices`` patterns, or a ``device_groups`` the host defines), and
the subtree is under one of the rule's ``subtrees`` or, for a full delegation (the device's root:
our own account is deleted, the peer holds the root ACL), the rule says ``full_allowed``, a
grant of its own that ``subtrees`` never implies.
A peer that is not configured is refused (403). With ``manages``, a request for a device this
server does not manage, when it would be DMS-1, is refused at once with 404
(``isAknowledged=false``).

Device groups are asked of an :class:`IDeviceGroups`: :class:`PatternGroups` reads them from the
configuration (``fnmatch`` patterns or exact ids); a host with its own inventory plugs in its own
provider (docs/configuration.md, "Device scope").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fnmatch import fnmatchcase

from attrs import field, frozen
from twisted.internet.defer import Deferred, succeed
from zope.interface import Interface, implementer

from dmdelegation.engine.inputs import PolicyDecided
from dmdelegation.engine.interfaces import IDelegationPolicy
from dmdelegation.engine.model import Role
from dmdelegation.protocol import DelegationRequest

FORBIDDEN = 403
NOT_FOUND = 404


class IDeviceGroups(Interface):
    """The host's device groups, by name: the seam through which a deployment with its own
    inventory (a CMDB, a directory) scopes peers to groups of devices."""

    def contains(group: str, device_id: str) -> bool:
        """Whether ``device_id`` is a member of ``group`` (an unknown group has no members)."""


def matches(patterns: tuple[str, ...], device_id: str) -> bool:
    """Whether ``device_id`` is one of ``patterns`` (exact ids or ``fnmatch`` patterns,
    case-sensitive: ``IMEI:4901*``)."""
    return any(fnmatchcase(device_id, pattern) for pattern in patterns)


@implementer(IDeviceGroups)
@frozen
class PatternGroups:
    """Device groups from configuration: each a tuple of exact ids or ``fnmatch`` patterns."""

    groups: Mapping[str, tuple[str, ...]] = field(factory=dict)

    def contains(self, group: str, device_id: str) -> bool:
        return matches(self.groups.get(group, ()), device_id)


@frozen
class PeerRule:
    """What one peer is granted; the defaults grant nothing."""

    we_delegate: bool  # True: the peer is a delegated server of ours (we are DMS-1)
    accept: bool = False
    subtrees: tuple[str, ...] = ()
    full_allowed: bool = False
    devices: tuple[str, ...] = ()  # exact ids or fnmatch patterns
    device_groups: tuple[str, ...] = ()  # names an IDeviceGroups answers for


def subtree_allowed(allowed: tuple[str, ...], uri: str) -> bool:
    """Whether ``uri`` is one of ``allowed`` or under one (``.`` covers everything)."""
    return any(uri == a or a == "." or uri.startswith(a + "/") for a in allowed)


@implementer(IDelegationPolicy)
@frozen
class ConfigPolicy:
    rules: Mapping[str, PeerRule] = field(factory=dict)
    groups: IDeviceGroups = field(factory=PatternGroups)
    manages: Callable[[str], bool] | None = field(default=None, eq=False)
    """Whether a device is one this server manages (DMS-1's devices); None: any."""

    def role_for(self, peer: str, request: DelegationRequest) -> Role:
        rule = self.rules.get(peer)
        return Role.DMS1 if rule is not None and rule.we_delegate else Role.DMS2

    def in_scope(self, rule: PeerRule, device_id: str) -> bool:
        """Whether the rule's device scope holds ``device_id``."""
        return matches(rule.devices, device_id) or any(
            self.groups.contains(group, device_id) for group in rule.device_groups
        )

    def decide(self, role: Role, peer: str, request: DelegationRequest) -> Deferred[PolicyDecided]:
        rule = self.rules.get(peer)
        if rule is None or not rule.accept:
            return succeed(PolicyDecided(False, FORBIDDEN, f"{peer} is not allowed to ask"))
        # the scope first: a peer learns nothing of devices outside it
        if not self.in_scope(rule, request.device_id):
            return succeed(PolicyDecided(False, FORBIDDEN, f"{request.device_id} not allowed"))
        if role is Role.DMS1 and self.manages is not None and not self.manages(request.device_id):
            return succeed(PolicyDecided(False, NOT_FOUND, f"{request.device_id} is not ours"))
        if request.is_delegation_full:
            if not rule.full_allowed:
                return succeed(PolicyDecided(False, FORBIDDEN, "full delegation not allowed"))
        elif not subtree_allowed(rule.subtrees, request.dm_tree_uri):
            return succeed(PolicyDecided(False, FORBIDDEN, f"{request.dm_tree_uri} not allowed"))
        return succeed(PolicyDecided(True))
