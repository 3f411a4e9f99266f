"""Rights: each test names the rule of the DM Tree and Description ACL model it checks."""

from __future__ import annotations

import pytest

from dmdelegation.tree import ACL, URI, Command, Status, Value
from dmdelegation.tree import commands as dm
from dmdelegation.tree.rights import (
    RootACLError,
    effective_acl,
    is_allowed,
    may_replace_acl,
    remove_server,
)

from .trees import LEAF, tree


def u(text: str) -> URI:
    return URI.parse(text)


def test_an_empty_acl_inherits_through_several_empty_levels() -> None:
    """Rule: a node with an empty ACL takes its nearest ancestor's ACL, however far up."""
    t = tree(
        {
            ".": ("Get=srvA&Replace=srvA", None),
            "./A": ("", None),
            "./A/B": ("", None),
            "./A/B/C": ("", None),
            "./A/B/C/leaf": ("", LEAF),
        }
    )
    assert effective_acl(t, u("./A/B/C/leaf")) == ACL.parse("Get=srvA&Replace=srvA")
    assert is_allowed(t, u("./A/B/C/leaf"), Command.GET, "srvA")
    assert not is_allowed(t, u("./A/B/C/leaf"), Command.GET, "srvB")


def test_inheritance_takes_the_whole_acl_never_one_command() -> None:
    """Rule: the nearest non-empty ACL is inherited whole; commands it lacks are not looked up
    further (srvA's Get at the root does not reach below ./A, whose ACL only names Replace)."""
    t = tree(
        {
            ".": ("Get=srvA&Replace=srvA", None),
            "./A": ("Replace=srvB", None),
            "./A/B": ("", None),
            "./A/B/leaf": ("", LEAF),
        }
    )
    assert effective_acl(t, u("./A/B/leaf")) == ACL.parse("Replace=srvB")
    assert not is_allowed(t, u("./A/B/leaf"), Command.GET, "srvA")
    assert dm.get(t, "srvA", u("./A/B/leaf")).status is Status.PERMISSION_DENIED
    assert dm.replace(t, "srvB", u("./A/B/leaf"), Value.text("w")).status is Status.OK


def test_an_interior_node_acl_may_be_changed_with_replace_on_the_node_itself() -> None:
    """Rule: Replace on an interior node covers its ACL, even without Replace on the parent."""
    t = tree({".": ("Get=*", None), "./A": ("Replace=srvA", None)})
    assert may_replace_acl(t, u("./A"), "srvA")
    assert dm.replace_acl(t, "srvA", u("./A"), ACL.parse("Get=srvA")).status is Status.OK
    assert t.node(u("./A")).acl == ACL.parse("Get=srvA")  # type: ignore[union-attr]


def test_a_leaf_own_replace_covers_its_value_not_its_acl() -> None:
    """Rule: a leaf's own Replace does not let a server change the leaf's ACL."""
    t = tree({".": ("Get=*", None), "./leaf": ("Replace=srvA&Get=srvA", LEAF)})
    assert dm.replace(t, "srvA", u("./leaf"), Value.text("w")).status is Status.OK
    assert not may_replace_acl(t, u("./leaf"), "srvA")
    result = dm.replace_acl(t, "srvA", u("./leaf"), ACL.parse("Get=*"))
    assert result.status is Status.PERMISSION_DENIED
    assert t.node(u("./leaf")).acl == ACL.parse("Replace=srvA&Get=srvA")  # type: ignore[union-attr]


@pytest.mark.parametrize(("uri", "value"), [("./A/leaf", LEAF), ("./A/B", None)])
def test_replace_on_the_parent_covers_the_acl_of_a_child(uri: str, value: Value | None) -> None:
    """Rule: Replace on the parent lets a server change the ACL of a leaf or interior child, even
    when the child's own ACL gives it nothing."""
    t = tree(
        {
            ".": ("Get=*", None),
            "./A": ("Replace=srvP", None),
            uri: ("Get=srvX", value),
        }
    )
    assert may_replace_acl(t, u(uri), "srvP")
    assert dm.replace_acl(t, "srvP", u(uri), ACL.parse("Get=srvP")).status is Status.OK
    assert (
        dm.replace_acl(t, "srvX", u(uri), ACL.parse("Get=srvX")).status is Status.PERMISSION_DENIED
    )


def test_the_root_acl_is_never_empty() -> None:
    """Rule: the root ACL cannot be replaced by an empty one, even by a server with every right."""
    t = tree({".": ("Replace=srvA&Get=srvA", None)})
    result = dm.replace_acl(t, "srvA", u("."), ACL.parse(""))
    assert result.status is Status.COMMAND_NOT_ALLOWED
    assert t.node(u(".")).acl == ACL.parse("Replace=srvA&Get=srvA")  # type: ignore[union-attr]


def test_the_root_acl_is_changed_only_with_replace_on_the_root() -> None:
    """Rule: the root has no parent, so only its own Replace covers its ACL."""
    t = tree({".": ("Replace=srvA&Get=*", None)})
    assert dm.replace_acl(t, "srvB", u("."), ACL.parse("Get=*")).status is Status.PERMISSION_DENIED
    assert dm.replace_acl(t, "srvA", u("."), ACL.parse("Replace=srvA")).status is Status.OK


def test_the_root_cannot_be_deleted() -> None:
    """Rule: the root is permanent."""
    t = tree({".": ("Delete=*&Get=*", None)})
    assert dm.delete(t, "srvA", u(".")).status is Status.COMMAND_NOT_ALLOWED
    assert t.node(u(".")) is not None


def test_the_wildcard_grants_every_server() -> None:
    """Rule: '*' in a command's server list grants that command to any ServerID."""
    t = tree({".": ("Get=*&Add=srvA", None), "./leaf": ("", LEAF)})
    for server in ("srvA", "srvB", "never.seen.before"):
        assert dm.get(t, server, u("./leaf")).status is Status.OK
    assert dm.add(t, "srvB", u("./x"), LEAF).status is Status.PERMISSION_DENIED


def test_removing_a_server_drops_emptied_commands_and_emptied_acls_inherit() -> None:
    """Rule: removing a ServerID from the whole tree drops a command left with no server; an ACL
    left empty makes its node inherit its parent's; '*' is not a mention and stays."""
    t = tree(
        {
            ".": ("Get=*&Replace=srvA+srvB", None),
            "./A": ("Get=srvB&Replace=srvB", None),
            "./A/leaf": ("", LEAF),
            "./B": ("Get=*+srvB&Delete=srvB", None),
        }
    )
    assert remove_server(t, "srvB") == 3
    assert t.node(u(".")).acl == ACL.parse("Get=*&Replace=srvA")  # type: ignore[union-attr]
    assert t.node(u("./A")).acl.is_empty  # type: ignore[union-attr]
    assert effective_acl(t, u("./A/leaf")) == ACL.parse("Get=*&Replace=srvA")
    assert t.node(u("./B")).acl == ACL.parse("Get=*")  # type: ignore[union-attr]
    assert is_allowed(t, u("./B"), Command.GET, "srvB")
    assert not any(r.acl.mentions("srvB") for r in t.records())


def test_removing_a_server_never_empties_the_root_acl() -> None:
    """Rule: the root ACL is never empty, so a removal that would empty it is refused whole."""
    t = tree({".": ("Get=srvB&Replace=srvB", None), "./A": ("Get=srvB", None)})
    before = t.records()
    with pytest.raises(RootACLError, match="root ACL empty"):
        remove_server(t, "srvB")
    assert t.records() == before
