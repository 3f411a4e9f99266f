"""Who may do what on a node, by the ACL rules of the DM Tree and Description specification.

- A node's effective ACL is its own ACL when that is not empty, else the effective ACL of its
  parent: the whole ACL is inherited, never one command at a time. The root's ACL is never empty.
- A server may run a command on a node when the effective ACL grants it (by name or by ``*``).
- A server may replace the ACL of an interior node when it has Replace on that node or on its
  parent; the ACL of a leaf only when it has Replace on the parent (a leaf's own Replace covers its
  value, not its ACL). The root has no parent: its own Replace decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from dmdelegation.tree.acl import ACL, EMPTY, Command
from dmdelegation.tree.storage import NodeRecord, StoredNode, TreeReader, TreeStorage, walk
from dmdelegation.tree.uri import ROOT, URI


def lineage_acl(lineage: Sequence[StoredNode | None]) -> ACL | None:
    """The ACL that governs the first node of ``lineage`` (a node, its parent, ... up to the root,
    as `TreeStorage.lineage` gives them); None when that node does not exist."""
    if not lineage or lineage[0] is None:
        return None
    for node in lineage:
        if node is not None and not node.acl.is_empty:
            return node.acl
    return EMPTY


def lineage_allows(lineage: Sequence[StoredNode | None], command: Command, server_id: str) -> bool:
    """`is_allowed` for the first node of ``lineage``."""
    acl = lineage_acl(lineage)
    return acl is not None and acl.allows(command, server_id)


def lineage_may_replace_acl(lineage: Sequence[StoredNode | None], server_id: str) -> bool:
    """`may_replace_acl` for the first node of ``lineage``."""
    node = lineage[0] if lineage else None
    if node is None:
        return False
    if node.value.is_interior and lineage_allows(lineage, Command.REPLACE, server_id):
        return True
    return len(lineage) > 1 and lineage_allows(lineage[1:], Command.REPLACE, server_id)


def effective_acl(tree: TreeReader, uri: URI) -> ACL | None:
    """The ACL that governs ``uri``; None when the node does not exist."""
    node = tree.node(uri)
    if node is None:
        return None
    if not node.acl.is_empty:
        return node.acl
    for ancestor in uri.ancestors():
        above = tree.node(ancestor)
        if above is not None and not above.acl.is_empty:
            return above.acl
    return EMPTY


def is_allowed(tree: TreeReader, uri: URI, command: Command, server_id: str) -> bool:
    """True when ``server_id`` may run ``command`` on the existing node ``uri``."""
    acl = effective_acl(tree, uri)
    return acl is not None and acl.allows(command, server_id)


def may_replace_acl(tree: TreeReader, uri: URI, server_id: str) -> bool:
    """True when ``server_id`` may replace the ACL of the existing node ``uri``."""
    node = tree.node(uri)
    if node is None:
        return False
    if node.value.is_interior and is_allowed(tree, uri, Command.REPLACE, server_id):
        return True
    parent = uri.parent
    if parent is None:
        return False
    return is_allowed(tree, parent, Command.REPLACE, server_id)


class RootACLError(ValueError):
    """A change that would leave the root ACL empty."""


def server_removal(records: Iterable[NodeRecord], server_id: str) -> list[tuple[URI, ACL, ACL]]:
    """The ACL changes that remove every explicit mention of ``server_id`` from ``records``, as
    ``(uri, before, after)``: a command left with no server disappears, an ACL left empty makes
    its node inherit, ``*`` stays. `RootACLError` if the root's ACL would be left empty."""
    changes: list[tuple[URI, ACL, ACL]] = []
    for record in records:
        after = record.acl.without(server_id)
        if after == record.acl:
            continue
        if record.uri.is_root and after.is_empty:
            raise RootACLError(f"removing {server_id!r} would leave the root ACL empty")
        changes.append((record.uri, record.acl, after))
    return changes


def remove_server(tree: TreeStorage, server_id: str, top: URI = ROOT) -> int:
    """Remove ``server_id`` from every ACL at or below ``top``, all or nothing, with no rights
    checked (the tree's owner at work, e.g. provisioning); returns how many ACLs changed."""
    changes = server_removal(list(walk(tree, top)), server_id)
    with tree.atomic():
        for uri, _, after in changes:
            tree.set_acl(uri, after)
    return len(changes)
