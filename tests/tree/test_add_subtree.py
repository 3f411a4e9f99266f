"""``add_subtree`` answers and changes exactly what the Adds one by one would, all or nothing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dmdelegation.tree import commands
from dmdelegation.tree.acl import ACL
from dmdelegation.tree.memory import MemoryTree
from dmdelegation.tree.status import Status
from dmdelegation.tree.storage import NodeRecord, walk
from dmdelegation.tree.subtree import RelativePath
from dmdelegation.tree.uri import ROOT, URI
from dmdelegation.tree.value import Value

ME, OTHER = "me.example", "other.example"
BASE = URI.parse("./Vendor/New")


def _tree(root_acl: str, vendor_acl: str) -> MemoryTree:
    return MemoryTree(
        [
            NodeRecord(ROOT, Value.interior(), ACL.parse(root_acl)),
            NodeRecord(URI.parse("./Vendor"), Value.interior(), ACL.parse(vendor_acl)),
        ]
    )


NAMES = st.sampled_from(["a", "b", "c"])
VALUES = st.sampled_from([Value.interior(), Value.text("x"), Value.integer(3)])


@st.composite
def batches(draw: st.DrawFn) -> list[tuple[RelativePath, Value]]:
    nodes: list[tuple[RelativePath, Value]] = [((), draw(VALUES))]
    for _ in range(draw(st.integers(0, 8))):
        depth = draw(st.integers(1, 3))
        path = tuple(draw(NAMES) for _ in range(depth))
        nodes.append((path, draw(VALUES)))
    return nodes


class _Refused(Exception):
    def __init__(self, status: Status) -> None:
        self.status = status


def _one_by_one(tree: MemoryTree, server: str, nodes: list[tuple[RelativePath, Value]]) -> Status:
    """The Adds one by one, in an atomic block: the first refusal undoes them all."""
    try:
        with tree.atomic():
            for path, value in nodes:
                result = commands.add(tree, server, BASE.child(*path), value)
                if result.status is not Status.ITEM_ADDED:
                    raise _Refused(result.status)
    except _Refused as refused:
        return refused.status
    return Status.ITEM_ADDED


@settings(max_examples=200, deadline=None)
@given(
    nodes=batches(),
    server=st.sampled_from([ME, OTHER]),
    root_acl=st.sampled_from([f"Add={ME}&Get={ME}", "Add=*&Get=*", f"Get={ME}"]),
    vendor_acl=st.sampled_from(["", f"Add={ME}", f"Add={OTHER}&Replace={ME}", "Add=*"]),
)
def test_same_answer_and_tree_as_the_adds_one_by_one(
    nodes: list[tuple[RelativePath, Value]], server: str, root_acl: str, vendor_acl: str
) -> None:
    at_once, one_by_one = _tree(root_acl, vendor_acl), _tree(root_acl, vendor_acl)
    answer = commands.add_subtree(at_once, server, BASE, nodes).status
    assert answer is _one_by_one(one_by_one, server, nodes)
    assert list(walk(at_once, ROOT)) == list(walk(one_by_one, ROOT))
