"""What a DM command on a managed client answers: a DM status code and, for reads, what was read."""

from __future__ import annotations

from attrs import frozen

from dmdelegation.tree.acl import ACL
from dmdelegation.tree.status import Status
from dmdelegation.tree.storage import NodeRecord
from dmdelegation.tree.uri import URI
from dmdelegation.tree.value import Value


@frozen
class Result:
    status: Status


@frozen
class NodeView:
    """A node as Get shows it: its value (or ``node`` format) and, if interior, its children."""

    value: Value
    children: tuple[str, ...] = ()


@frozen
class GetResult:
    status: Status
    node: NodeView | None = None


@frozen
class ACLResult:
    status: Status
    acl: ACL | None = None


@frozen
class SubtreeResult:
    """What Get and Get ACL on every node at or below a URI answer, node by node, parents first
    and siblings by name: 200 with every node (value, format, own ACL), or the first refusal met
    in that order (``command`` ``"Get"`` or ``"Get ACL"``, on ``uri``, with its status).

    ``inherited``: with 200, the ACL the top would inherit (the nearest non-empty ACL above it)
    as Get ACL on each node above it, upwards, would read it; None when one of those would be
    refused, or when the session does not say."""

    status: Status
    records: tuple[NodeRecord, ...] = ()
    command: str | None = None
    uri: URI | None = None
    inherited: ACL | None = None
