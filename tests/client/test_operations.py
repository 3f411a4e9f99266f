"""The delegation operations: what each does to the client, and what each refuses (unchanged)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import Deferred

from dmdelegation.client import (
    IDMClientSession,
    ISubtreeWriter,
    OperationFailed,
    add_bootstrap_entry,
    create_account,
    delete_own_account,
    grant_rights,
    remove_account,
    remove_bootstrap_entry,
    revoke_rights,
    rollback,
    set_no_auto_initial_session,
)
from dmdelegation.client.testing import (
    Fault,
    FaultyClientSession,
    fired,
    fired_error,
    fired_failure,
)
from dmdelegation.tree import ACL, ROOT, URI, BootConfigEntry, Command, Status, Value, commands
from dmdelegation.tree.bootconfig import read_bootconfig
from dmdelegation.tree.dmacc import DMAccEntry, read_dmacc
from dmdelegation.tree.subtree import RelativePath

from .helpers import DEVICE, DMS2, DMS2_ACCOUNT, OWNER, Client, provisioned


def u(text: str) -> URI:
    return URI.parse(text)


def subtree(client: Client, top: str) -> dict[RelativePath, Value]:
    base = u(top)
    return {r.uri.segments[base.depth :]: r.value for r in client.records(top)}


def acl_of(client: Client, uri: str) -> ACL:
    return client.records(uri)[0].acl


def refused(
    client: Client, deferred: Deferred[Any], status: Status | None = None
) -> OperationFailed:
    error = fired_error(deferred, OperationFailed)
    if status is not None:
        assert error.status is status
    return error


def test_create_account_writes_the_dmacc_of_the_new_server(client: Client) -> None:
    uri = fired(create_account(client.session(), client.journal(), DMS2_ACCOUNT))
    assert uri == u("./DMAcc/2")
    assert read_dmacc(subtree(client, "./DMAcc/2")) == DMAccEntry(DMS2_ACCOUNT, True)


def test_the_new_server_may_read_and_change_its_own_account_only(client: Client) -> None:
    fired(create_account(client.session(), client.journal(), DMS2_ACCOUNT))
    dms2 = client.session(DMS2)
    assert fired(dms2.get(u("./DMAcc/2/AppAuth/1/AAuthName"))).status is Status.OK
    assert fired(dms2.replace(u("./DMAcc/2/Name"), Value.text("n"))).status is Status.OK
    assert fired(dms2.get(u("./DMAcc/1/ServerID"))).status is Status.PERMISSION_DENIED
    assert fired(dms2.delete(u("./DMAcc/2"))).status is Status.PERMISSION_DENIED


def test_create_account_creates_dmacc_when_the_client_has_none(client: Client) -> None:
    fired(delete_own_account(client.session(), client.journal(name="x")))
    fired(client.session().delete(u("./DMAcc")))
    uri = fired(create_account(client.session(), client.journal(), DMS2_ACCOUNT))
    assert uri == u("./DMAcc/1")
    assert read_dmacc(subtree(client, "./DMAcc/1")).account == DMS2_ACCOUNT


def test_create_account_without_the_no_auto_initial_session_leaf(client: Client) -> None:
    fired(
        create_account(
            client.session(),
            client.journal(),
            DMS2_ACCOUNT,
            no_auto_initial_session=None,
            account_rights=(),
        )
    )
    assert read_dmacc(subtree(client, "./DMAcc/2")).no_auto_initial_session is None
    assert acl_of(client, "./DMAcc/2").is_empty


def test_a_second_account_for_a_server_is_refused_unchanged(client: Client) -> None:
    fired(create_account(client.session(), client.journal(name="x"), DMS2_ACCOUNT))
    before = client.records()
    error = refused(
        client,
        create_account(client.session(), client.journal(), DMS2_ACCOUNT),
        Status.ALREADY_EXISTS,
    )
    assert error.uri == u("./DMAcc/2")
    assert client.records() == before


def test_remove_account(client: Client) -> None:
    fired(create_account(client.session(), client.journal(name="x"), DMS2_ACCOUNT))
    assert fired(remove_account(client.session(), client.journal(), DMS2)) == u("./DMAcc/2")
    assert client.records("./DMAcc/2") == []
    assert client.records("./DMAcc/1") != []


def test_removing_an_account_that_does_not_exist_is_404_unchanged(client: Client) -> None:
    before = client.records()
    refused(client, remove_account(client.session(), client.journal(), DMS2), Status.NOT_FOUND)
    assert client.records() == before


def test_delete_own_account_is_full_delegation(client: Client) -> None:
    assert fired(delete_own_account(client.session(), client.journal())) == u("./DMAcc/1")
    assert client.records("./DMAcc/1") == []
    assert client.records("./DMAcc") != []


def test_grant_gives_the_server_the_rights_on_every_node_of_the_subtree(client: Client) -> None:
    fired(
        grant_rights(
            client.session(),
            client.journal(),
            u("./Vendor/Enterprise"),
            DMS2,
            [Command.GET, Command.REPLACE],
        )
    )
    # the top inherited from the root: it now holds the root's ACL plus the grant
    root_acl = acl_of(client, ".")
    assert acl_of(client, "./Vendor/Enterprise") == root_acl.granting(
        DMS2, [Command.GET, Command.REPLACE]
    )
    # a node below with an ACL of its own gets the grant too; one with an empty ACL inherits
    assert acl_of(client, "./Vendor/Enterprise/Apps").render() == f"Get=*&Replace={OWNER}+{DMS2}"
    assert acl_of(client, "./Vendor/Enterprise/Policy").is_empty
    dms2 = client.session(DMS2)
    for leaf in ("./Vendor/Enterprise/Policy", "./Vendor/Enterprise/Apps/Mail"):
        assert fired(dms2.replace(u(leaf), Value.text("z"))).status is Status.OK
    # outside the subtree nothing changed
    assert fired(dms2.get(u("./Vendor/Operator/Apn"))).status is Status.OK  # (it had Get there)
    assert (
        fired(dms2.replace(u("./Vendor/Operator/Apn"), Value.text("z"))).status
        is Status.PERMISSION_DENIED
    )
    assert acl_of(client, "./Vendor").is_empty


def test_grant_keeps_everyone_else_rights(client: Client) -> None:
    before = {str(r.uri): r.acl for r in client.records("./Vendor")}
    fired(grant_rights(client.session(), client.journal(), u("./Vendor"), DMS2))
    for record in client.records("./Vendor"):
        old = before[str(record.uri)]
        if not old.is_empty:
            for command in Command:
                for server in (OWNER, "dms3", "*"):
                    if old.allows(command, server):
                        assert record.acl.allows(command, server)


def test_granting_what_the_server_has_changes_nothing(client: Client) -> None:
    fired(grant_rights(client.session(), client.journal(name="x"), u("./Vendor"), DMS2))
    before = client.records()
    fired(grant_rights(client.session(), client.journal(), u("./Vendor"), DMS2))
    assert client.records() == before
    assert fired(client.journal().entries()) == []


def test_revoke_removes_every_mention_in_the_subtree_only(client: Client) -> None:
    fired(grant_rights(client.session(), client.journal(name="x"), u("./Vendor/Enterprise"), DMS2))
    fired(revoke_rights(client.session(), client.journal(), u("./Vendor/Enterprise"), DMS2))
    for record in client.records("./Vendor/Enterprise"):
        assert not record.acl.mentions(DMS2)
    assert acl_of(client, "./Vendor/Operator").mentions(DMS2)


def test_removing_a_server_from_the_whole_tree(client: Client) -> None:
    """Rule: every mention goes, a command left with no server disappears, '*' stays."""
    session = client.session()
    root_acl = f"Add={OWNER}&Get=*+{DMS2}&Replace={OWNER}+{DMS2}&Delete={OWNER}&Exec={DMS2}"
    fired(session.replace_acl(u("."), ACL.parse(root_acl)))
    fired(grant_rights(session, client.journal(name="x"), u("./Vendor/Enterprise"), DMS2))
    fired(revoke_rights(session, client.journal(), ROOT, DMS2))
    assert all(not r.acl.mentions(DMS2) for r in client.records())
    assert acl_of(client, ".").render() == f"Add={OWNER}&Get=*&Replace={OWNER}&Delete={OWNER}"
    assert acl_of(client, "./Vendor/Operator").render() == f"Get={OWNER}&Replace={OWNER}"
    dms2 = client.session(DMS2)
    assert fired(dms2.get(u("./Vendor/Enterprise/Policy"))).status is Status.OK  # Get=* stays
    replaced = dms2.replace(u("./Vendor/Enterprise/Policy"), Value.text("z"))
    assert fired(replaced).status is Status.PERMISSION_DENIED


def test_revoke_stops_before_any_change_at_a_node_it_cannot_read(client: Client) -> None:
    """A node whose ACL shuts the session out cannot be cleaned (nor its change undone): 425."""
    session = client.session()
    fired(grant_rights(session, client.journal(name="x"), u("./Vendor"), DMS2))
    fired(session.replace_acl(u("./Vendor/Operator/Apn"), ACL.parse(f"Get={DMS2}")))
    before = client.records()
    refused(
        client,
        revoke_rights(session, client.journal(), u("./Vendor"), DMS2),
        Status.PERMISSION_DENIED,
    )
    assert client.records() == before


def test_a_session_cannot_revoke_its_own_server(client: Client) -> None:
    before = client.records()
    failure = fired_failure(revoke_rights(client.session(), client.journal(), ROOT, OWNER))
    assert failure.check(ValueError)
    assert client.records() == before


def test_bootstrap_entries(client: Client) -> None:
    entry = BootConfigEntry(DMS2, "https://bootstrap.dms2.example.net/bs")
    assert fired(add_bootstrap_entry(client.session(), client.journal(), entry)) == u(
        "./BootConfig/1"
    )
    assert read_bootconfig(subtree(client, "./BootConfig/1")) == entry
    before = client.records()
    refused(
        client,
        add_bootstrap_entry(client.session(), client.journal(), entry),
        Status.ALREADY_EXISTS,
    )
    assert client.records() == before
    fired(remove_bootstrap_entry(client.session(), client.journal(), DMS2))
    assert client.records("./BootConfig/1") == []
    refused(
        client, remove_bootstrap_entry(client.session(), client.journal(), DMS2), Status.NOT_FOUND
    )


def test_set_no_auto_initial_session(client: Client) -> None:
    leaf = "./DMAcc/1/NoAutoInitialSession"
    fired(set_no_auto_initial_session(client.session(), client.journal(), OWNER, True))
    assert client.records(leaf)[0].value == Value.boolean(True)
    fired(
        create_account(
            client.session(), client.journal(), DMS2_ACCOUNT, no_auto_initial_session=None
        )
    )
    fired(set_no_auto_initial_session(client.session(), client.journal(), DMS2, False))
    assert client.records("./DMAcc/2/NoAutoInitialSession")[0].value == Value.boolean(False)
    refused(
        client,
        set_no_auto_initial_session(client.session(), client.journal(), "dms3", True),
        Status.NOT_FOUND,
    )


def test_a_server_without_rights_changes_nothing(client: Client) -> None:
    before = client.records()
    stranger = client.session("dms9.nobody.example")
    journal = client.journal("dms9.nobody.example")
    for deferred in (
        create_account(stranger, journal, DMS2_ACCOUNT),
        grant_rights(stranger, journal, u("./Vendor"), DMS2),
        add_bootstrap_entry(stranger, journal, BootConfigEntry(DMS2, "https://b")),
        remove_account(stranger, journal, OWNER),
    ):
        refused(client, deferred, Status.PERMISSION_DENIED)
    assert client.records() == before


def test_an_operation_failure_names_command_node_and_status(client: Client) -> None:
    error = refused(client, remove_account(client.session(), client.journal(), DMS2))
    assert str(error) == "remove_account: Delete ./DMAcc failed (DM status 404)"


def test_a_journal_for_another_server_is_refused(client: Client) -> None:
    failure = fired_failure(
        grant_rights(client.session(), client.journal(DMS2), u("./Vendor"), DMS2)
    )
    assert failure.check(ValueError)


@pytest.mark.parametrize("commands", [[Command.EXEC], list(Command)])
def test_grant_on_a_leaf(client: Client, commands: list[Command]) -> None:
    fired(
        grant_rights(client.session(), client.journal(), u("./Vendor/Operator/Apn"), DMS2, commands)
    )
    assert all(acl_of(client, "./Vendor/Operator/Apn").allows(c, DMS2) for c in commands)


def test_an_account_added_as_one_atomic_subtree_equals_one_added_node_by_node(
    tmp_path: Path,
) -> None:
    """Through a session that can add a subtree at once (the embedded one), create_account
    journals one step for the account and sends one command; the tree is exactly the one the
    node-by-node path makes, and a rollback removes it all."""
    results = []
    for at_once in (True, False):
        directory = tmp_path / ("atomic" if at_once else "nodes")
        directory.mkdir()
        client = provisioned(directory)
        before = client.records()
        session: IDMClientSession = (
            client.session()
            if at_once
            else FaultyClientSession(client.session(), None, Fault.REFUSE)
        )
        assert ISubtreeWriter.providedBy(session) is at_once
        journal = client.journal()
        fired(create_account(session, journal, DMS2_ACCOUNT))
        results.append((client.records(), len(fired(journal.entries()))))
        fired(rollback(client.session(), client.journal()))
        assert client.records() == before
        client.close()
    (atomic_tree, atomic_steps), (nodes_tree, nodes_steps) = results
    assert atomic_tree == nodes_tree
    assert atomic_steps < nodes_steps


def test_an_atomic_subtree_refused_midway_adds_nothing(client: Client) -> None:
    before = client.records()
    storage = client.trees.storage(DEVICE)
    nodes = [((), Value.interior()), (("a",), Value.text("x")), (("a",), Value.text("again"))]
    result = commands.add_subtree(storage, OWNER, URI.parse("./Vendor/New"), nodes)
    assert result.status is Status.ALREADY_EXISTS  # the third Add, refused
    assert client.records() == before
