"""The embedded store: one SQLite file in WAL mode, trees indexed by URI, all-or-nothing writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dmdelegation.client import ClientTreeStore, DeviceTreeError, UnknownDevice
from dmdelegation.tree import ACL, ROOT, URI, NodeRecord, Value

from .helpers import DEVICE, OWNER, PROVISION, Client


def rec(uri: str, value: Value | None = None, acl: str = "") -> NodeRecord:
    return NodeRecord(URI.parse(uri), value or Value.interior(), ACL.parse(acl))


def test_the_store_is_one_sqlite_file_in_wal_mode(client: Client) -> None:
    conn = sqlite3.connect(client.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    assert sorted(p.name for p in client.path.parent.iterdir() if p.name.startswith("clients")) == [
        "clients.sqlite3",
        "clients.sqlite3-shm",
        "clients.sqlite3-wal",
    ]


def test_trees_survive_a_restart(client: Client) -> None:
    before = client.records()
    again = client.reopened()
    try:
        assert again.trees.device_ids() == [DEVICE]
        assert again.records() == before
    finally:
        again.close()


def test_provisioned_tree_holds_devinfo_owner_account_and_acls(client: Client) -> None:
    records = {str(r.uri): r for r in client.records()}
    assert records["./DevInfo/DevId"].value == Value.text(DEVICE)
    assert records["./DevInfo"].acl == ACL.parse("Get=*")
    assert records["./DMAcc/1/ServerID"].value == Value.text(OWNER)
    assert records["./DMAcc/1/NoAutoInitialSession"].value == Value.boolean(False)
    assert records["."].acl.allows("Delete", OWNER)
    assert records["./Vendor/Enterprise/Apps"].acl.render() == f"Get=*&Replace={OWNER}"
    assert records["./Vendor/Enterprise"].acl.is_empty


@pytest.mark.parametrize(
    ("records", "fault"),
    [
        ([], "starts with its root"),
        ([rec("./A", acl="Get=*")], "starts with its root"),
        ([rec(".", Value.text("x"), "Get=*")], "root is an interior node"),
        ([rec(".")], "root ACL is never empty"),
        ([rec(".", acl="Get=*"), rec("./A/B")], "parent of ./A/B"),
        ([rec(".", acl="Get=*"), rec("./A", Value.text("x")), rec("./A/B")], "parent of ./A/B"),
        ([rec(".", acl="Get=*"), rec("./A"), rec("./A")], "appears twice"),
    ],
)
def test_a_bad_tree_is_refused_and_nothing_is_written(
    client: Client, records: list[NodeRecord], fault: str
) -> None:
    with pytest.raises(DeviceTreeError, match=fault):
        client.trees.add_device("other", records)
    assert client.trees.device_ids() == [DEVICE]


def test_a_device_is_provisioned_once(client: Client) -> None:
    before = client.records()
    with pytest.raises(DeviceTreeError, match="exists already"):
        client.trees.provision(PROVISION)
    assert client.records() == before


def test_an_unknown_device_is_named(client: Client) -> None:
    with pytest.raises(UnknownDevice, match="'IMEI:0'"):
        client.trees.session("IMEI:0", OWNER)


def test_deleting_a_subtree_leaves_nodes_with_a_common_prefix(tmp_path: Path) -> None:
    store = ClientTreeStore(tmp_path / "s.sqlite3")
    names = ["A", "A!", "A.b", "AB", "A0", "A~"]
    store.add_device(
        "d",
        [rec(".", acl="Get=*&Delete=*")]
        + [rec(f"./{n}") for n in names]
        + [rec("./A/x"), rec("./A/x/y", Value.integer(1))],
    )
    store.storage("d").delete_subtree(URI.parse("./A"))
    assert [str(r.uri) for r in store.records("d")] == [".", *(f"./{n}" for n in sorted(names[1:]))]
    store.close()


def test_nodes_are_found_through_indexes_never_by_scanning(client: Client) -> None:
    conn = client.trees._conn
    queries = [
        ("SELECT format, value, acl FROM nodes WHERE device = ? AND uri = ?", (1, "./A")),
        ("SELECT name FROM nodes WHERE device = ? AND parent = ? ORDER BY name", (1, "./A")),
        ("DELETE FROM nodes WHERE device = ? AND uri >= ? AND uri < ?", (1, "./A/", "./A0")),
        ("UPDATE nodes SET acl = ? WHERE device = ? AND uri = ?", ("", 1, "./A")),
    ]
    for sql, params in queries:
        plan = " ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
        assert "SCAN" not in plan, (sql, plan)
        assert "SEARCH" in plan, (sql, plan)


def test_reading_a_store_read_only_never_creates_it(tmp_path: Path) -> None:
    with pytest.raises(sqlite3.OperationalError):
        ClientTreeStore(tmp_path / "missing.sqlite3", read_only=True)
    assert list(tmp_path.iterdir()) == []


def test_records_of_a_subtree(client: Client) -> None:
    assert [str(r.uri) for r in client.trees.records(DEVICE, URI.parse("./Vendor/Operator"))] == [
        "./Vendor/Operator",
        "./Vendor/Operator/Apn",
    ]
    assert client.trees.records(DEVICE, URI.parse("./Nope")) == []
    assert client.trees.records(DEVICE, ROOT)[0].uri == ROOT
