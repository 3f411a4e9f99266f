"""The DM commands on one client's tree, acting as one server: rights first, then the rules.

Each function checks, in this order, that the target (for Add: the parent) exists (404), that the
server has the right (425), that the command makes sense for the node (405, 418), and only then
changes the tree, inside one `TreeStorage.atomic` block. A refused command changes nothing. What
the checks need (the target, its parent and the ACLs above them) is one `TreeStorage.lineage`.

A node added by a server whose inherited ACL would not give that server Add, Delete, Get and
Replace on it (Delete, Get and Replace for a leaf) gets, explicitly, the ACL it would have inherited
plus the missing rights: whoever creates a node can always read, change and remove it.
"""

from __future__ import annotations

from collections.abc import Sequence

from dmdelegation.tree.acl import ACL, EMPTY, Command
from dmdelegation.tree.results import ACLResult, GetResult, NodeView, Result, SubtreeResult
from dmdelegation.tree.rights import lineage_acl, lineage_allows, lineage_may_replace_acl
from dmdelegation.tree.status import Status
from dmdelegation.tree.storage import StoredNode, TreeStorage
from dmdelegation.tree.subtree import RelativePath
from dmdelegation.tree.uri import URI
from dmdelegation.tree.value import Value

CREATOR_RIGHTS_INTERIOR = (Command.ADD, Command.DELETE, Command.GET, Command.REPLACE)
CREATOR_RIGHTS_LEAF = (Command.DELETE, Command.GET, Command.REPLACE)


def get(tree: TreeStorage, server_id: str, uri: URI) -> GetResult:
    lineage = tree.lineage(uri)
    node = lineage[0]
    if node is None:
        return GetResult(Status.NOT_FOUND)
    if not lineage_allows(lineage, Command.GET, server_id):
        return GetResult(Status.PERMISSION_DENIED)
    children = tuple(tree.children(uri)) if node.value.is_interior else ()
    return GetResult(Status.OK, NodeView(node.value, children))


def creator_acl(inherited: ACL, server_id: str, value: Value) -> ACL | None:
    """The explicit ACL a node added by ``server_id`` gets, or None when it simply inherits."""
    needed = CREATOR_RIGHTS_INTERIOR if value.is_interior else CREATOR_RIGHTS_LEAF
    if all(inherited.allows(command, server_id) for command in needed):
        return None
    return inherited.granting(server_id, needed)


def _add(tree: TreeStorage, server_id: str, uri: URI, value: Value) -> tuple[Result, ACL | None]:
    """`add`, and the ACL that governs the new node (its own, or the one it inherits)."""
    if uri.is_root:
        return Result(Status.COMMAND_NOT_ALLOWED), None
    lineage = tree.lineage(uri)
    parent = lineage[1]
    if parent is None:
        return Result(Status.NOT_FOUND), None
    inherited = lineage_acl(lineage[1:])
    assert inherited is not None  # the parent exists
    if not inherited.allows(Command.ADD, server_id):
        return Result(Status.PERMISSION_DENIED), None
    if not parent.value.is_interior:
        return Result(Status.COMMAND_NOT_ALLOWED), None
    if lineage[0] is not None:
        return Result(Status.ALREADY_EXISTS), None
    own = creator_acl(inherited, server_id, value)
    with tree.atomic():
        tree.insert(uri, StoredNode(value) if own is None else StoredNode(value, own))
    return Result(Status.ITEM_ADDED), inherited if own is None else own


def add(tree: TreeStorage, server_id: str, uri: URI, value: Value) -> Result:
    return _add(tree, server_id, uri, value)[0]


class _Stop(Exception):
    def __init__(self, result: Result) -> None:
        self.result = result


def add_subtree(
    tree: TreeStorage, server_id: str, uri: URI, nodes: Sequence[tuple[RelativePath, Value]]
) -> Result:
    """Add ``uri`` and the nodes below it as one atomic command (an Atomic of Adds): ``nodes``
    are paths relative to ``uri``, ``()`` (``uri`` itself) first, parents before children. The
    answer is 201, or the first refusal the Adds one by one would get, with nothing added.

    Only ``uri`` is looked up; below it every parent is a node of this very command, so what
    each Add checks (the parent, its ACL, the node not being there yet) is known already."""
    if not nodes or nodes[0][0] != ():
        return Result(Status.COMMAND_FAILED)
    try:
        with tree.atomic():
            top, governing = _add(tree, server_id, uri, nodes[0][1])
            if governing is None:
                raise _Stop(top)
            values: dict[RelativePath, Value] = {(): nodes[0][1]}
            acls: dict[RelativePath, ACL] = {(): governing}
            # The ACL a creator gets depends only on the inherited ACL and the node's kind: a
            # whole account has two or three different ones, worked out once each.
            own_for: dict[tuple[int, bool], ACL | None] = {}
            rows: list[tuple[URI, StoredNode]] = []
            for path, value in nodes[1:]:
                parent = path[:-1]
                if parent not in values:
                    raise _Stop(Result(Status.NOT_FOUND))
                inherited = acls[parent]
                interior = values[parent].is_interior
                key = (id(inherited), value.is_interior)
                if key not in own_for:
                    if not inherited.allows(Command.ADD, server_id):
                        raise _Stop(Result(Status.PERMISSION_DENIED))
                    own_for[key] = creator_acl(inherited, server_id, value)
                if not interior:
                    raise _Stop(Result(Status.COMMAND_NOT_ALLOWED))
                if path in values:
                    raise _Stop(Result(Status.ALREADY_EXISTS))
                own = own_for[key]
                rows.append(
                    (uri.child(*path), StoredNode(value) if own is None else StoredNode(value, own))
                )
                values[path] = value
                acls[path] = inherited if own is None else own
            tree.insert_all(rows)
    except _Stop as stop:
        return stop.result
    return Result(Status.ITEM_ADDED)


def replace(tree: TreeStorage, server_id: str, uri: URI, value: Value) -> Result:
    lineage = tree.lineage(uri)
    node = lineage[0]
    if node is None:
        return Result(Status.NOT_FOUND)
    if not lineage_allows(lineage, Command.REPLACE, server_id):
        return Result(Status.PERMISSION_DENIED)
    if node.value.is_interior or value.is_interior:
        return Result(Status.COMMAND_NOT_ALLOWED)
    with tree.atomic():
        tree.set_value(uri, value)
    return Result(Status.OK)


def delete(tree: TreeStorage, server_id: str, uri: URI) -> Result:
    lineage = tree.lineage(uri)
    if lineage[0] is None:
        return Result(Status.NOT_FOUND)
    if uri.is_root:
        return Result(Status.COMMAND_NOT_ALLOWED)
    if not lineage_allows(lineage, Command.DELETE, server_id):
        return Result(Status.PERMISSION_DENIED)
    with tree.atomic():
        tree.delete_subtree(uri)
    return Result(Status.OK)


def get_acl(tree: TreeStorage, server_id: str, uri: URI) -> ACLResult:
    lineage = tree.lineage(uri)
    node = lineage[0]
    if node is None:
        return ACLResult(Status.NOT_FOUND)
    if not lineage_allows(lineage, Command.GET, server_id):
        return ACLResult(Status.PERMISSION_DENIED)
    return ACLResult(Status.OK, node.acl)


def replace_acl(tree: TreeStorage, server_id: str, uri: URI, acl: ACL) -> Result:
    lineage = tree.lineage(uri)
    if lineage[0] is None:
        return Result(Status.NOT_FOUND)
    if not lineage_may_replace_acl(lineage, server_id):
        return Result(Status.PERMISSION_DENIED)
    if uri.is_root and acl.is_empty:
        return Result(Status.COMMAND_NOT_ALLOWED)
    with tree.atomic():
        tree.set_acl(uri, acl)
    return Result(Status.OK)


def get_subtree(tree: TreeStorage, server_id: str, top: URI) -> SubtreeResult:
    """Get and Get ACL on every node at or below ``top``, parents first and siblings by name, as
    `get` and `get_acl` would answer them one by one: stops at the first refusal (404 for a
    missing ``top``, 425 for a node the server may not read). With 200, the ACL ``top`` inherits
    too, if Get ACL on the nodes above it would read it (`SubtreeResult.inherited`)."""
    lineage = tree.lineage(top)
    if lineage[0] is None:
        return SubtreeResult(Status.NOT_FOUND, command="Get", uri=top)
    read_above: ACL | None = None  # what Get ACL upwards reads, if it may
    for index in range(1, len(lineage)):
        node = lineage[index]
        if node is None or not lineage_allows(lineage[index:], Command.GET, server_id):
            break  # Get ACL there would be refused: the caller asks, and is told so
        if not node.acl.is_empty:
            read_above = node.acl
            break
    above = next((n.acl for n in lineage[1:] if n is not None and not n.acl.is_empty), EMPTY)
    governing: dict[URI, ACL] = {}
    records = tree.subtree(top)
    for record in records:
        parent = record.uri.parent
        inherited = above if record.uri == top or parent is None else governing[parent]
        acl = inherited if record.acl.is_empty else record.acl
        if not acl.allows(Command.GET, server_id):
            return SubtreeResult(Status.PERMISSION_DENIED, command="Get", uri=record.uri)
        governing[record.uri] = acl
    return SubtreeResult(Status.OK, tuple(records), inherited=read_above)
