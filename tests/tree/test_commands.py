"""The DM commands on a tree: status codes, and a refused command changes nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dmdelegation.tree import ACL, URI, Status, Value
from dmdelegation.tree import commands as dm
from dmdelegation.tree.memory import MemoryTree

from .trees import LEAF, tree


def u(text: str) -> URI:
    return URI.parse(text)


def sample() -> MemoryTree:
    return tree(
        {
            ".": ("Add=srvA&Get=*&Replace=srvA&Delete=srvA", None),
            "./A": ("", None),
            "./A/leaf": ("", LEAF),
            "./Locked": ("Get=srvA", None),
            "./Locked/leaf": ("", LEAF),
        }
    )


def test_get_a_leaf_and_an_interior_node() -> None:
    t = sample()
    leaf = dm.get(t, "srvB", u("./A/leaf"))
    assert leaf.status is Status.OK
    assert leaf.node is not None
    assert leaf.node.value == LEAF
    assert leaf.node.children == ()
    interior = dm.get(t, "srvB", u("."))
    assert interior.node is not None
    assert interior.node.children == ("A", "Locked")


def test_add_answers_201_and_the_node_is_there() -> None:
    t = sample()
    assert dm.add(t, "srvA", u("./A/new"), Value.integer(7)).status is Status.ITEM_ADDED
    assert t.node(u("./A/new")).value == Value.integer(7)  # type: ignore[union-attr]
    assert dm.add(t, "srvA", u("./A/dir"), Value.interior()).status is Status.ITEM_ADDED


def test_a_node_added_with_full_inherited_rights_just_inherits() -> None:
    t = tree({".": ("Add=srvA&Delete=srvA&Get=srvA&Replace=srvA", None)})
    dm.add(t, "srvA", u("./new"), Value.interior())
    assert t.node(u("./new")).acl.is_empty  # type: ignore[union-attr]


def test_a_node_added_without_full_inherited_rights_gets_them_explicitly() -> None:
    t = tree({".": ("Add=srvA&Get=*", None)})
    dm.add(t, "srvA", u("./new"), Value.interior())
    acl = t.node(u("./new")).acl  # type: ignore[union-attr]
    assert acl.render() == "Add=srvA&Get=*&Delete=srvA&Replace=srvA"
    dm.add(t, "srvA", u("./new/leaf"), LEAF)
    assert t.node(u("./new/leaf")).acl.is_empty  # type: ignore[union-attr]
    assert dm.replace(t, "srvA", u("./new/leaf"), Value.text("w")).status is Status.OK
    assert dm.delete(t, "srvA", u("./new")).status is Status.OK


def test_replace_changes_value_and_format() -> None:
    t = sample()
    assert dm.replace(t, "srvA", u("./A/leaf"), Value.boolean(True)).status is Status.OK
    assert t.node(u("./A/leaf")).value == Value.boolean(True)  # type: ignore[union-attr]


def test_delete_removes_the_whole_subtree() -> None:
    t = sample()
    assert dm.delete(t, "srvA", u("./A")).status is Status.OK
    assert t.node(u("./A")) is None
    assert t.node(u("./A/leaf")) is None
    assert t.children(u(".")) == ["Locked"]


def test_get_acl_gives_the_node_own_acl() -> None:
    t = sample()
    assert dm.get_acl(t, "srvB", u("./A")).acl == ACL()
    assert dm.get_acl(t, "srvA", u("./Locked")).acl == ACL.parse("Get=srvA")


REFUSALS: list[tuple[str, Callable[[MemoryTree], object], Status]] = [
    ("get missing", lambda t: dm.get(t, "srvA", u("./nope")), Status.NOT_FOUND),
    ("get denied", lambda t: dm.get(t, "srvB", u("./Locked/leaf")), Status.PERMISSION_DENIED),
    ("add no parent", lambda t: dm.add(t, "srvA", u("./nope/x"), LEAF), Status.NOT_FOUND),
    ("add denied", lambda t: dm.add(t, "srvB", u("./A/x"), LEAF), Status.PERMISSION_DENIED),
    (
        "add under a leaf",
        lambda t: dm.add(t, "srvA", u("./A/leaf/x"), LEAF),
        Status.COMMAND_NOT_ALLOWED,
    ),
    (
        "add the root",
        lambda t: dm.add(t, "srvA", u("."), Value.interior()),
        Status.COMMAND_NOT_ALLOWED,
    ),
    ("add existing", lambda t: dm.add(t, "srvA", u("./A/leaf"), LEAF), Status.ALREADY_EXISTS),
    ("replace missing", lambda t: dm.replace(t, "srvA", u("./nope"), LEAF), Status.NOT_FOUND),
    (
        "replace denied",
        lambda t: dm.replace(t, "srvB", u("./A/leaf"), LEAF),
        Status.PERMISSION_DENIED,
    ),
    (
        "replace interior",
        lambda t: dm.replace(t, "srvA", u("./A"), LEAF),
        Status.COMMAND_NOT_ALLOWED,
    ),
    (
        "replace into interior",
        lambda t: dm.replace(t, "srvA", u("./A/leaf"), Value.interior()),
        Status.COMMAND_NOT_ALLOWED,
    ),
    ("delete missing", lambda t: dm.delete(t, "srvA", u("./nope")), Status.NOT_FOUND),
    ("delete denied", lambda t: dm.delete(t, "srvB", u("./A")), Status.PERMISSION_DENIED),
    ("delete root", lambda t: dm.delete(t, "srvA", u(".")), Status.COMMAND_NOT_ALLOWED),
    ("get acl missing", lambda t: dm.get_acl(t, "srvA", u("./nope")), Status.NOT_FOUND),
    ("get acl denied", lambda t: dm.get_acl(t, "srvB", u("./Locked")), Status.PERMISSION_DENIED),
    (
        "replace acl missing",
        lambda t: dm.replace_acl(t, "srvA", u("./nope"), ACL()),
        Status.NOT_FOUND,
    ),
    (
        "replace acl denied",
        lambda t: dm.replace_acl(t, "srvB", u("./A"), ACL()),
        Status.PERMISSION_DENIED,
    ),
    (
        "empty root acl",
        lambda t: dm.replace_acl(t, "srvA", u("."), ACL()),
        Status.COMMAND_NOT_ALLOWED,
    ),
]


@pytest.mark.parametrize(("what", "command", "status"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_refused_command_answers_its_status_and_changes_nothing(
    what: str, command: Callable[[MemoryTree], object], status: Status
) -> None:
    t = sample()
    before = t.records()
    result = command(t)
    assert result.status is status  # type: ignore[attr-defined]
    assert t.records() == before
