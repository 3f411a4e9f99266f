"""The SQLite tree storage: the DM command rules give exactly what the node-by-node rules give,
lookups stay indexed, and an atomic block is all or nothing however many statements it holds."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred

from dmdelegation.client import ClientTreeStore, OperationFailed
from dmdelegation.client.interfaces import ISubtreeSnapshot
from dmdelegation.client.session import TreeClientSession
from dmdelegation.client.sqlite_tree import (
    CHILDREN_SQL,
    DELETE_SUBTREE_SQL,
    NODE_SQL,
    SQLiteTreeStorage,
    lineage_sql,
)
from dmdelegation.client.steps import inherited_acl, snapshot
from dmdelegation.client.testing import Fault, FaultyClientSession, fired
from dmdelegation.tree import ACL, ROOT, URI, Command, NodeRecord, Status, StoredNode, Value
from dmdelegation.tree import commands as dm
from dmdelegation.tree.memory import MemoryTree
from dmdelegation.tree.results import ACLResult, GetResult, NodeView, Result
from dmdelegation.tree.rights import effective_acl, is_allowed, may_replace_acl
from dmdelegation.tree.storage import TreeStorage, walk

from ..tree.strategies import LEAF_VALUES
from .helpers import DEVICE, Client, LogRecorder
from .test_rollback_property import CALLERS, NODE_ACLS, SERVERS, trees

# The command rules written node by node, as `effective_acl`, `is_allowed` and `may_replace_acl`
# state them: what the lineage-based commands must answer, whatever the tree.


def ref_get(tree: TreeStorage, server: str, uri: URI) -> GetResult:
    node = tree.node(uri)
    if node is None:
        return GetResult(Status.NOT_FOUND)
    if not is_allowed(tree, uri, Command.GET, server):
        return GetResult(Status.PERMISSION_DENIED)
    children = tuple(tree.children(uri)) if node.value.is_interior else ()
    return GetResult(Status.OK, NodeView(node.value, children))


def ref_add(tree: TreeStorage, server: str, uri: URI, value: Value) -> Result:
    parent_uri = uri.parent
    if parent_uri is None:
        return Result(Status.COMMAND_NOT_ALLOWED)
    parent = tree.node(parent_uri)
    if parent is None:
        return Result(Status.NOT_FOUND)
    if not is_allowed(tree, parent_uri, Command.ADD, server):
        return Result(Status.PERMISSION_DENIED)
    if not parent.value.is_interior:
        return Result(Status.COMMAND_NOT_ALLOWED)
    if tree.node(uri) is not None:
        return Result(Status.ALREADY_EXISTS)
    inherited = effective_acl(tree, parent_uri)
    assert inherited is not None
    own = dm.creator_acl(inherited, server, value)
    tree.insert(uri, StoredNode(value) if own is None else StoredNode(value, own))
    return Result(Status.ITEM_ADDED)


def ref_replace(tree: TreeStorage, server: str, uri: URI, value: Value) -> Result:
    node = tree.node(uri)
    if node is None:
        return Result(Status.NOT_FOUND)
    if not is_allowed(tree, uri, Command.REPLACE, server):
        return Result(Status.PERMISSION_DENIED)
    if node.value.is_interior or value.is_interior:
        return Result(Status.COMMAND_NOT_ALLOWED)
    tree.set_value(uri, value)
    return Result(Status.OK)


def ref_delete(tree: TreeStorage, server: str, uri: URI) -> Result:
    if tree.node(uri) is None:
        return Result(Status.NOT_FOUND)
    if uri.is_root:
        return Result(Status.COMMAND_NOT_ALLOWED)
    if not is_allowed(tree, uri, Command.DELETE, server):
        return Result(Status.PERMISSION_DENIED)
    tree.delete_subtree(uri)
    return Result(Status.OK)


def ref_get_acl(tree: TreeStorage, server: str, uri: URI) -> ACLResult:
    node = tree.node(uri)
    if node is None:
        return ACLResult(Status.NOT_FOUND)
    if not is_allowed(tree, uri, Command.GET, server):
        return ACLResult(Status.PERMISSION_DENIED)
    return ACLResult(Status.OK, node.acl)


def ref_replace_acl(tree: TreeStorage, server: str, uri: URI, acl: ACL) -> Result:
    if tree.node(uri) is None:
        return Result(Status.NOT_FOUND)
    if not may_replace_acl(tree, uri, server):
        return Result(Status.PERMISSION_DENIED)
    if uri.is_root and acl.is_empty:
        return Result(Status.COMMAND_NOT_ALLOWED)
    tree.set_acl(uri, acl)
    return Result(Status.OK)


@st.composite
def commands(draw: st.DrawFn, uris: list[URI]) -> tuple[str, str, URI, object]:
    known = st.sampled_from(uris)
    uri = draw(known | known.map(lambda u: u.child("new")) | st.just(URI(("Nowhere", "x"))))
    server = draw(st.sampled_from((*SERVERS, *CALLERS)))
    name = draw(st.sampled_from(["get", "add", "replace", "delete", "get_acl", "replace_acl"]))
    argument: object = None
    if name in ("add", "replace"):
        argument = draw(LEAF_VALUES | st.just(Value.interior()))
    elif name == "replace_acl":
        argument = ACL.parse(draw(st.sampled_from(NODE_ACLS)))
    return name, server, uri, argument


def _run(tree: TreeStorage, command: tuple[str, str, URI, object], reference: bool) -> object:
    name, server, uri, argument = command
    if name in ("get", "delete", "get_acl"):
        function = {
            "get": (ref_get, dm.get),
            "delete": (ref_delete, dm.delete),
            "get_acl": (ref_get_acl, dm.get_acl),
        }[name][0 if reference else 1]
        return function(tree, server, uri)
    if name == "replace_acl":
        assert isinstance(argument, ACL)
        return (ref_replace_acl if reference else dm.replace_acl)(tree, server, uri, argument)
    assert isinstance(argument, Value)
    if name == "add":
        return (ref_add if reference else dm.add)(tree, server, uri, argument)
    return (ref_replace if reference else dm.replace)(tree, server, uri, argument)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(tree=trees(), data=st.data())
def test_sqlite_commands_answer_as_the_node_by_node_rules(
    tree: list[NodeRecord], data: st.DataObject
) -> None:
    reference = MemoryTree(tree)
    with tempfile.TemporaryDirectory() as directory:
        store = ClientTreeStore(Path(directory) / "c.sqlite3")
        try:
            store.add_device(DEVICE, tree)
            storage = store.storage(DEVICE)
            uris = [record.uri for record in tree]
            for command in data.draw(st.lists(commands(uris), min_size=1, max_size=12)):
                memory = MemoryTree(reference.records())
                expected = _run(reference, command, reference=True)
                assert _run(storage, command, reference=False) == expected, command
                assert _run(memory, command, reference=False) == expected, command
                assert not store._conn.in_transaction
                assert memory.records() == reference.records()
            assert store.records(DEVICE) == reference.records()
        finally:
            store.close()


def test_lineage_is_the_node_and_each_ancestor(client: Client) -> None:
    storage = client.trees.storage(DEVICE)
    for uri in (ROOT, URI.parse("./Vendor/Enterprise/Apps/Mail"), URI.parse("./Vendor/Nope/x")):
        expected = [storage.node(uri), *(storage.node(a) for a in uri.ancestors())]
        assert storage.lineage(uri) == expected
    assert storage.lineage(URI.parse("./Vendor/Nope/x"))[:2] == [None, None]


def test_every_lookup_and_write_is_indexed(client: Client) -> None:
    conn = client.trees._conn
    queries = [
        (NODE_SQL, (1, "./A")),
        (CHILDREN_SQL, (1, "./A")),
        (lineage_sql(4), (1, "./A/B/C", "./A/B", "./A", ".")),
        (DELETE_SUBTREE_SQL, (1, "./A", "./A/", "./A0")),
    ]
    for sql, params in queries:
        plan = " ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
        assert "SCAN nodes" not in plan, (sql, plan)
        assert "SEARCH nodes USING" in plan, (sql, plan)


def _storage(client: Client) -> SQLiteTreeStorage:
    return client.trees.storage(DEVICE)


A = URI.parse("./Vendor/A")
B = URI.parse("./Vendor/B")


def test_one_write_in_a_block_is_one_statement(client: Client) -> None:
    storage = _storage(client)
    statements: list[str] = []
    client.trees._conn.set_trace_callback(statements.append)
    with storage.atomic():
        storage.insert(A, StoredNode(Value.text("a")))
    client.trees._conn.set_trace_callback(None)
    assert [s.split()[0] for s in statements] == ["INSERT"]
    assert _storage(client).node(A) == StoredNode(Value.text("a"))


def test_a_block_of_several_writes_is_all_or_nothing(client: Client) -> None:
    before = client.records()
    storage = _storage(client)

    def three() -> None:
        with storage.atomic():
            storage.insert(A, StoredNode(Value.text("a")))
            storage.insert(B, StoredNode(Value.text("b")))
            storage.insert(A, StoredNode(Value.text("again")))

    with pytest.raises(sqlite3.IntegrityError):
        three()
    assert client.records() == before
    assert not client.trees._conn.in_transaction
    with storage.atomic():
        storage.insert(A, StoredNode(Value.text("a")))
        storage.insert(B, StoredNode(Value.text("b")))
    assert storage.node(A) is not None
    assert storage.node(B) is not None


@pytest.mark.parametrize("writes", [1, 2])
def test_a_block_that_raises_changes_nothing(client: Client, writes: int) -> None:
    before = client.records()
    storage = _storage(client)

    def stopped() -> None:
        with storage.atomic():
            storage.insert(A, StoredNode(Value.text("a")))
            if writes == 2:
                storage.set_acl(A, ACL.parse("Get=*"))
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        stopped()
    assert client.records() == before
    assert not client.trees._conn.in_transaction


def test_a_failing_single_write_changes_nothing(client: Client) -> None:
    storage = _storage(client)
    storage.insert(A, StoredNode(Value.text("a")))
    before = client.records()
    with pytest.raises(sqlite3.IntegrityError), storage.atomic():
        storage.insert(A, StoredNode(Value.text("again")))
    assert client.records() == before
    assert not client.trees._conn.in_transaction


def test_a_read_inside_a_block_sees_the_block_s_writes(client: Client) -> None:
    storage = _storage(client)
    with storage.atomic():
        storage.insert(A, StoredNode(Value.text("a")))
        assert storage.node(A) == StoredNode(Value.text("a"))
        assert storage.lineage(A)[0] == StoredNode(Value.text("a"))
        assert "A" in storage.children(A.parent or ROOT)
        storage.set_value(A, Value.text("b"))
    assert storage.node(A) == StoredNode(Value.text("b"))
    assert not client.trees._conn.in_transaction


def test_a_block_inside_a_transaction_joins_it(client: Client) -> None:
    storage = _storage(client)
    conn = client.trees._conn
    conn.execute("BEGIN IMMEDIATE")
    with storage.atomic():
        storage.insert(A, StoredNode(Value.text("a")))
    assert conn.in_transaction
    conn.execute("ROLLBACK")
    assert storage.node(A) is None


def test_deleting_a_leaf_or_a_subtree(client: Client) -> None:
    storage = _storage(client)
    storage.delete_subtree(URI.parse("./Vendor/Enterprise/Policy"))
    assert storage.node(URI.parse("./Vendor/Enterprise/Policy")) is None
    assert storage.node(URI.parse("./Vendor/Enterprise/Apps/Mail")) is not None
    storage.delete_subtree(URI.parse("./Vendor/Enterprise"))
    assert client.records("./Vendor/Enterprise") == []
    assert [str(r.uri) for r in client.records("./Vendor")] == [
        "./Vendor",
        "./Vendor/Operator",
        "./Vendor/Operator/Apn",
    ]


def _outcome(deferred: Deferred[list[NodeRecord]]) -> object:
    try:
        return fired(deferred)
    except OperationFailed as e:
        return (e.operation, e.command, e.uri, e.status)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(tree=trees(), data=st.data())
def test_a_subtree_read_at_once_is_the_node_by_node_read(
    tree: list[NodeRecord], data: st.DataObject
) -> None:
    """`get_subtree` answers what a Get and a Get ACL per node answer: the same nodes in the same
    order, or the same first refusal; on the SQLite store and in memory."""
    uris = [record.uri for record in tree]
    top = data.draw(st.sampled_from([*uris, URI(("Vendor", "missing"))]))
    server = data.draw(st.sampled_from((*SERVERS, *CALLERS)))
    with tempfile.TemporaryDirectory() as directory:
        store = ClientTreeStore(Path(directory) / "c.sqlite3")
        try:
            store.add_device(DEVICE, tree)
            assert store.records(DEVICE, top) == list(walk(store.storage(DEVICE), top))
            for session in (
                store.session(DEVICE, server),
                TreeClientSession(MemoryTree(tree), DEVICE, server),
            ):
                assert ISubtreeSnapshot.providedBy(session)
                one_by_one = FaultyClientSession(session, None, Fault.REFUSE)  # never fails
                assert not ISubtreeSnapshot.providedBy(one_by_one)
                expected = _outcome(Deferred.fromCoroutine(snapshot(one_by_one, top, "op")))
                assert _outcome(Deferred.fromCoroutine(snapshot(session, top, "op"))) == expected
                # The inherited ACL read along is what Get ACL upwards reads, whenever it reads.
                result = fired(session.get_subtree(top))
                asked = _inherited(Deferred.fromCoroutine(inherited_acl(one_by_one, top, "op")))
                if result.status is not Status.OK:
                    assert result.inherited is None
                elif result.inherited is not None:
                    assert result.inherited == asked
                else:
                    assert top == ROOT or isinstance(asked, tuple)  # root, or refused upwards
        finally:
            store.close()


def _inherited(deferred: Deferred[ACL]) -> object:
    try:
        return fired(deferred)
    except OperationFailed as e:
        return (e.command, e.uri, e.status)


def test_a_subtree_read_that_is_refused_is_logged_at_the_node_that_stopped_it(
    client: Client,
) -> None:
    with LogRecorder() as log:
        result = fired(client.session("dms9").get_subtree(URI.parse("./Vendor/Operator")))
    assert (result.status, result.command, result.uri) == (
        Status.PERMISSION_DENIED,
        "Get",
        URI.parse("./Vendor/Operator"),
    )
    denied = [e for e in log.events if e.get("log_namespace", "").endswith("TreeClientSession")]
    assert [e["uri"] for e in denied] == ["./Vendor/Operator"]


def test_blocks_nest_across_the_storages_of_one_store(client: Client) -> None:
    """A block opened through one storage and a block inside it through another (of the same
    store) are one: all or nothing together."""
    before = client.records()
    outer, inner = _storage(client), _storage(client)

    def nested() -> None:
        with outer.atomic():
            outer.insert(A, StoredNode(Value.text("a")))
            with inner.atomic():
                inner.insert(B, StoredNode(Value.text("b")))
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        nested()
    assert client.records() == before
    assert not client.trees._conn.in_transaction
