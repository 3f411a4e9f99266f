"""The embedded IDMClientSession: a device's rules through Deferreds that have already fired."""

from __future__ import annotations

import sqlite3

import pytest
from twisted.internet.error import ConnectionLost

from dmdelegation.client.session import TreeClientSession
from dmdelegation.client.sqlite_tree import SQLiteTreeStorage
from dmdelegation.client.testing import Fault, FaultyClientSession, fired, fired_failure
from dmdelegation.tree import ACL, URI, Status, StoredNode, Value

from .helpers import DEVICE, DMS2, OWNER, Client, LogRecorder


def u(text: str) -> URI:
    return URI.parse(text)


def test_commands_answer_with_dm_status_codes(client: Client) -> None:
    session = client.session()
    assert fired(session.get(u("./Vendor/Enterprise/Policy"))).node.value == Value.text("strict")  # type: ignore[union-attr]
    assert fired(session.add(u("./Vendor/New"), Value.integer(1))).status is Status.ITEM_ADDED
    assert fired(session.add(u("./Vendor/New"), Value.integer(1))).status is Status.ALREADY_EXISTS
    assert fired(session.replace(u("./Vendor/New"), Value.text("x"))).status is Status.OK
    assert fired(session.get_acl(u("./Vendor/Operator"))).acl == ACL.parse(
        f"Get={OWNER}+{DMS2}&Replace={OWNER}"
    )
    new_acl = ACL.parse(f"Get=*&Delete={OWNER}")
    assert fired(session.replace_acl(u("./Vendor/New"), new_acl)).status is Status.OK
    assert fired(session.get_acl(u("./Vendor/New"))).acl == new_acl
    assert fired(session.delete(u("./Vendor/New"))).status is Status.OK
    assert fired(session.get(u("./Vendor/New"))).status is Status.NOT_FOUND


def test_a_denied_command_is_425_and_changes_nothing(client: Client) -> None:
    before = client.records()
    stranger = client.session("dms9.nobody.example")
    assert fired(stranger.add(u("./Vendor/x"), Value.text("x"))).status is Status.PERMISSION_DENIED
    assert fired(stranger.replace(u("./Vendor/Operator/Apn"), Value.text("x"))).status is (
        Status.PERMISSION_DENIED
    )
    assert fired(stranger.delete(u("./Vendor"))).status is Status.PERMISSION_DENIED
    assert fired(stranger.replace_acl(u("./Vendor"), ACL.parse("Get=*"))).status is (
        Status.PERMISSION_DENIED
    )
    assert fired(stranger.get(u("./DMAcc/1/AppAuth/1/AAuthSecret"))).status is (
        Status.PERMISSION_DENIED
    )
    assert client.records() == before


def test_a_denied_command_is_logged_without_values(client: Client) -> None:
    with LogRecorder() as log:
        fired(client.session("dms9").replace(u("./Vendor/Operator/Apn"), Value.text("s3cret")))
    denied = [e for e in log.events if e.get("log_namespace", "").endswith("TreeClientSession")]
    assert len(denied) == 1
    assert denied[0]["uri"] == "./Vendor/Operator/Apn"
    assert denied[0]["server_id"] == "dms9"
    assert "s3cret" not in repr(denied[0])


class BrokenStorage(SQLiteTreeStorage):
    """The device's storage, failing in the middle of writing a node."""

    def insert(self, uri: URI, node: StoredNode) -> None:
        super().insert(uri, node)
        raise sqlite3.OperationalError("disk I/O error")


def test_a_storage_failure_is_500_and_changes_nothing(client: Client) -> None:
    before = client.records()
    device = client.trees._device(DEVICE)
    storage = BrokenStorage(client.trees._conn, device)
    session = TreeClientSession(storage, DEVICE, OWNER)
    assert fired(session.add(u("./Vendor/x"), Value.text("x"))).status is Status.COMMAND_FAILED
    assert client.records() == before


def test_faulty_session_refuses_the_nth_command_without_applying_it(client: Client) -> None:
    before = client.records()
    faulty = FaultyClientSession(client.session(), 2, Fault.REFUSE)
    assert fired(faulty.get(u("."))).status is Status.OK
    assert fired(faulty.add(u("./Vendor/x"), Value.text("x"))).status is Status.COMMAND_FAILED
    assert client.records() == before
    assert fired(faulty.add(u("./Vendor/x"), Value.text("x"))).status is Status.ITEM_ADDED


def test_faulty_session_can_lose_the_reply_of_an_applied_command(client: Client) -> None:
    faulty = FaultyClientSession(client.session(), 1, Fault.LOSE_REPLY)
    failure = fired_failure(faulty.delete(u("./Vendor/Enterprise")))
    assert failure.check(ConnectionLost)
    assert client.records("./Vendor/Enterprise") == []


def test_fired_refuses_a_deferred_that_has_not_fired() -> None:
    from twisted.internet.defer import Deferred

    with pytest.raises(AssertionError, match="has not fired"):
        fired(Deferred())
    with pytest.raises(AssertionError, match="has not fired"):
        fired_failure(Deferred())
