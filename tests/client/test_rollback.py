"""Rollback puts the client back exactly: after each operation, after a restart, after a reply was
lost, and when the rollback itself was interrupted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from twisted.internet.defer import Deferred

from dmdelegation.client import (
    IDMClientSession,
    IUndoJournal,
    JournalMismatch,
    OperationFailed,
    StepState,
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
from dmdelegation.client.interfaces import ISubtreeWriter, IUndoJournalBatch
from dmdelegation.client.steps import Incomplete
from dmdelegation.client.testing import (
    FailingJournal,
    Fault,
    FaultyClientSession,
    JournalWriteError,
    fired,
    fired_error,
    fired_failure,
)
from dmdelegation.tree import ACL, ROOT, URI, BootConfigEntry, NodeRecord
from dmdelegation.tree.journal import DeleteStep
from dmdelegation.tree.status import Status

from .helpers import DMS2, DMS2_ACCOUNT, OWNER, Client, open_client
from .journal_backends import JournalBackend

BOOT = BootConfigEntry(DMS2, "https://bootstrap.dms2.example.net/bs")


def delegation(session: IDMClientSession, journal: IUndoJournal) -> Deferred[Any]:
    """Everything DMS-1 does in one full delegation, then a revocation of another server."""

    async def run() -> None:
        await create_account(session, journal, DMS2_ACCOUNT)
        await grant_rights(session, journal, URI.parse("./Vendor/Enterprise"), DMS2)
        await add_bootstrap_entry(session, journal, BOOT)
        await set_no_auto_initial_session(session, journal, DMS2, False)
        await remove_bootstrap_entry(session, journal, DMS2)
        await revoke_rights(session, journal, ROOT, DMS2)
        await remove_account(session, journal, DMS2)
        await delete_own_account(session, journal)

    return Deferred.fromCoroutine(run())


OPERATIONS: dict[str, Callable[[IDMClientSession, IUndoJournal], Deferred[Any]]] = {
    "create_account": lambda s, j: create_account(s, j, DMS2_ACCOUNT),
    "grant_rights": lambda s, j: grant_rights(s, j, ROOT, DMS2),
    "revoke_rights": lambda s, j: revoke_rights(s, j, URI.parse("./Vendor"), DMS2),
    "add_bootstrap_entry": lambda s, j: add_bootstrap_entry(s, j, BOOT),
    "set_no_auto_initial_session": lambda s, j: set_no_auto_initial_session(s, j, OWNER, True),
    "delete_own_account": delete_own_account,
    "whole delegation": delegation,
}


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_rollback_restores_the_tree_exactly(client: Client, name: str) -> None:
    before = client.records()
    fired(OPERATIONS[name](client.session(), client.journal()))
    assert client.records() != before
    assert fired(rollback(client.session(), client.journal())) > 0
    assert client.records() == before


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_rollback_restores_the_tree_after_a_restart(client: Client, name: str) -> None:
    before = client.records()
    fired(OPERATIONS[name](client.session(), client.journal()))
    again = client.reopened()
    try:
        fired(rollback(again.session(), again.journal()))
        assert again.records() == before
        assert again.journals.journal_ids() == []
    finally:
        again.close()


CHANGES = ("add", "replace", "delete", "replace_acl")

REMOVALS: dict[str, tuple[Callable[[IDMClientSession, IUndoJournal], Deferred[Any]], str]] = {
    "remove_account": (lambda s, j: remove_account(s, j, OWNER), "./DMAcc/1"),
    "delete_own_account": (delete_own_account, "./DMAcc/1"),
    "remove_bootstrap_entry": (lambda s, j: remove_bootstrap_entry(s, j, DMS2), "./BootConfig/1"),
}


@pytest.mark.parametrize("restart", [False, True])
@pytest.mark.parametrize("name", sorted(REMOVALS))
def test_a_rollback_whose_first_re_add_lost_its_reply_restores_the_whole_subtree(
    client: Client, name: str, restart: bool
) -> None:
    """The property test's counterexample, for every operation that deletes a subtree: the
    Delete is applied and its reply lost (the step stays pending), then the rollback's first
    command, the Add of the deleted subtree's top, is applied and its reply lost too. Run again,
    the rollback must not take the top being back for proof that the Delete never happened:
    it must put back every node below it, with its ACL."""
    if name == "remove_bootstrap_entry":
        setup = client.journal(name="setup")
        fired(add_bootstrap_entry(client.session(), setup, BOOT))
        fired(setup.discard())
    remove, top = REMOVALS[name]
    before = client.records()
    lose_delete = FaultyClientSession(client.session(), 1, Fault.LOSE_REPLY, counted=CHANGES)
    assert fired_error(remove(lose_delete, client.journal()), OperationFailed).status is None
    [entry] = fired(client.journal().entries())
    assert entry.state is StepState.PENDING
    assert isinstance(entry.step, DeleteStep)
    assert len(entry.step.before) > 1
    assert client.records(top) == []

    lose_add = FaultyClientSession(client.session(), 1, Fault.LOSE_REPLY, counted=CHANGES)
    error = fired_error(rollback(lose_add, client.journal()), OperationFailed)
    assert (error.command, str(error.uri), error.status) == ("Add", top, None)
    assert [str(r.uri) for r in client.records(top)] == [top]  # half undone: the top only
    [entry] = fired(client.journal().entries())
    assert (entry.state, entry.undo_progress) == (StepState.PENDING, 0)

    again = client.reopened() if restart else client
    try:
        assert fired(rollback(again.session(), again.journal())) == 1
        assert again.records() == before
        assert again.journals.journal_ids() == []
    finally:
        if restart:
            again.close()


@pytest.mark.parametrize("restart", [False, True])
@pytest.mark.parametrize("name", sorted(REMOVALS))
def test_a_rollback_whose_last_acl_restore_lost_its_reply_is_finished_without_that_right(
    client: Client, name: str, restart: bool
) -> None:
    """The rollback's last command, putting back the (empty, inherited) ACL of the deleted
    subtree's top, is applied and its reply lost: that ACL took from the server the Replace
    right it had only as the top's re-creator, so the same command sent again is refused (425).
    Run again, the rollback must see that the ACL is already in place and finish."""
    remove, top = REMOVALS[name]
    if name == "remove_bootstrap_entry":
        setup = client.journal(name="setup")
        fired(add_bootstrap_entry(client.session(), setup, BOOT))
        fired(setup.discard())
    container = URI.parse(top).parent
    assert container is not None
    no_replace = ACL.parse(f"Add={OWNER}&Delete={OWNER}&Get=*")
    assert fired(client.session().replace_acl(container, no_replace)).status.is_success
    before = client.records()
    assert client.records(top)[0].acl.is_empty
    fired(remove(client.session(), client.journal()))
    [entry] = fired(client.journal().entries())
    assert isinstance(entry.step, DeleteStep)
    nodes = len(entry.step.before)

    # Every node is added back, then the ACLs, children first: the last one is the top's.
    lose_last = FaultyClientSession(client.session(), nodes, Fault.LOSE_REPLY, ["replace_acl"])
    error = fired_error(rollback(lose_last, client.journal()), OperationFailed)
    assert (error.command, str(error.uri), error.status) == ("Replace ACL", top, None)
    assert client.records() == before  # applied: the tree is back, the journal does not know
    retry = fired(client.session().replace_acl(URI.parse(top), ACL()))
    assert retry.status is Status.PERMISSION_DENIED

    again = client.reopened() if restart else client
    try:
        assert fired(rollback(again.session(), again.journal())) == 1
        assert again.records() == before
        assert again.journals.journal_ids() == []
    finally:
        if restart:
            again.close()


def test_rollback_undoes_a_change_whose_reply_was_lost(client: Client) -> None:
    before = client.records()
    faulty = FaultyClientSession(client.session(), 10, Fault.LOSE_REPLY, counted=["add"])
    error = fired_error(create_account(faulty, client.journal(), DMS2_ACCOUNT), OperationFailed)
    assert error.status is None
    entries = fired(client.journal().entries())
    assert entries[-1].state is StepState.PENDING
    fired(rollback(client.session(), client.journal()))
    assert client.records() == before


def test_a_refused_change_is_recorded_failed_and_not_undone(client: Client) -> None:
    before = client.records()
    faulty = FaultyClientSession(client.session(), 10, Fault.REFUSE, counted=["add"])
    fired_failure(create_account(faulty, client.journal(), DMS2_ACCOUNT))
    entries = fired(client.journal().entries())
    assert entries[-1].state is StepState.FAILED
    assert all(e.state is StepState.APPLIED for e in entries[:-1])
    fired(rollback(client.session(), client.journal()))
    assert client.records() == before


def test_a_delete_recorded_but_never_applied_is_left_alone(client: Client) -> None:
    """A crash between journaling a Delete and sending it: rollback must not re-add (or lose)."""
    before = client.records()
    account = URI.parse("./DMAcc/1")
    records = client.trees.records("IMEI:490154203237518", account)
    fired(client.journal().append(DeleteStep(account, tuple(records))))
    assert fired(rollback(client.session(), client.journal())) == 1
    assert client.records() == before


def test_a_delete_whose_reply_was_lost_is_undone(client: Client) -> None:
    before = client.records()
    faulty = FaultyClientSession(client.session(), 1, Fault.LOSE_REPLY, counted=["delete"])
    fired_failure(delete_own_account(faulty, client.journal()))
    assert client.records("./DMAcc/1") == []
    fired(rollback(client.session(), client.journal()))
    assert client.records() == before


@pytest.mark.parametrize("fault_at", [1, 5, 17, 30])
@pytest.mark.parametrize("fault", list(Fault))
def test_an_interrupted_rollback_is_finished_by_running_it_again(
    client: Client, fault_at: int, fault: Fault
) -> None:
    before = client.records()
    fired(delegation(client.session(), client.journal()))
    faulty = FaultyClientSession(client.session(), fault_at, fault)
    assert fired_failure(rollback(faulty, client.journal())).check(OperationFailed)
    again = client.reopened()
    try:
        fired(rollback(again.session(), again.journal()))
        assert again.records() == before
    finally:
        again.close()


def test_rollback_twice_is_harmless(client: Client) -> None:
    before = client.records()
    fired(grant_rights(client.session(), client.journal(), ROOT, DMS2))
    fired(rollback(client.session(), client.journal()))
    assert fired(rollback(client.session(), client.journal())) == 0
    assert client.records() == before


def test_rollback_needs_the_journal_server_and_device(client: Client) -> None:
    fired(grant_rights(client.session(), client.journal(), ROOT, DMS2))
    failure = fired_failure(rollback(client.session(DMS2), client.journal()))
    assert failure.check(JournalMismatch)
    assert fired(client.journal().entries()) != []


def test_the_journal_holds_before_images_only_until_rollback(client: Client) -> None:
    fired(delete_own_account(client.session(), client.journal()))
    entries = fired(client.journal().entries())
    assert isinstance(entries[0].step, DeleteStep)
    assert all(isinstance(r, NodeRecord) for r in entries[0].step.before)
    fired(rollback(client.session(), client.journal()))
    assert client.journals.journal_ids() == []


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_rollback_restores_the_tree_after_the_process_died(client: Client, name: str) -> None:
    """Killed right after an operation: the applied marks not yet written are lost (those steps
    read as pending, maybe applied), and the rollback of the restarted process still restores."""
    before = client.records()
    fired(OPERATIONS[name](client.session(), client.journal()))
    died = client.journals._writer.applied
    assert died, "the last step's applied mark waits for the next write"
    client.journals._conn.close()  # the process dies: nothing more is written
    died.clear()
    again = open_client(client.path)
    try:
        entries = fired(again.journal().entries())
        assert entries[-1].state is StepState.PENDING
        fired(rollback(again.session(), again.journal()))
        assert again.records() == before
        assert again.journals.journal_ids() == []
    finally:
        again.close()


def test_an_added_account_is_undone_by_one_delete(client: Client) -> None:
    """create_account adds ./DMAcc/2 and its nodes, then grants on ./DMAcc/2: undone by putting
    that ACL back, then one Delete of ./DMAcc/2 for every Add (the same end, checked against
    the same ACL as the last of the one-by-one Deletes)."""
    before = client.records()
    fired(create_account(client.session(), client.journal(), DMS2_ACCOUNT))
    steps = len(fired(client.journal().entries()))
    counting = FaultyClientSession(client.session(), None, Fault.REFUSE)  # counts, never fails
    assert fired(rollback(counting, client.journal())) == steps
    assert counting.count == 2
    assert client.records() == before
    assert client.journals.journal_ids() == []


@pytest.mark.parametrize("fault", list(Fault))
def test_a_rollback_stopped_at_the_covering_delete_is_finished_after_a_restart(
    client: Client, fault: Fault
) -> None:
    before = client.records()
    fired(create_account(client.session(), client.journal(), DMS2_ACCOUNT))
    faulty = FaultyClientSession(client.session(), 2, fault)  # the Delete of ./DMAcc/2
    error = fired_error(rollback(faulty, client.journal()), OperationFailed)
    assert (error.command, str(error.uri)) == ("Delete", "./DMAcc/2")
    again = client.reopened()
    try:
        fired(rollback(again.session(), again.journal()))
        assert again.records() == before
        assert again.journals.journal_ids() == []
    finally:
        again.close()


@pytest.mark.parametrize("writes_allowed", [1, 2, 5, 100])
def test_a_journal_without_batch_marks_records_a_covered_run_newest_first(
    client: Client, writes_allowed: int
) -> None:
    """Through a journal that marks one step at a time, the covered steps are recorded undone
    newest first: a rollback stopped between two of those marks is finished by running it
    again (the steps left still take the same shortcut)."""
    before = client.records()
    # A session that adds node by node (no ISubtreeWriter), so that the account is a run of
    # steps inside the node the first of them added: the run the shortcut covers.
    node_by_node = FaultyClientSession(client.session(), None, Fault.REFUSE)
    assert not ISubtreeWriter.providedBy(node_by_node)
    fired(create_account(node_by_node, client.journal(), DMS2_ACCOUNT))
    journal = FailingJournal(client.journal(), writes_allowed)
    assert not IUndoJournalBatch.providedBy(journal)
    outcome = rollback(client.session(), journal)
    if writes_allowed < 100:
        assert fired_failure(outcome).check(JournalWriteError)
        states = [e.state for e in fired(client.journal().entries())]
        undone = [s is StepState.UNDONE for s in states]
        assert undone == sorted(undone), states  # only ever the newest steps
        fired(rollback(client.session(), client.journal()))
    else:
        fired(outcome)
    assert client.records() == before
    assert client.journals.journal_ids() == []


@pytest.mark.parametrize("fail_at", [2, 5, 9])
def test_another_store_rolls_back_what_a_dead_one_was_in_the_middle_of(
    client: Client, journals: JournalBackend, fail_at: int
) -> None:
    """A whole delegation journaled in one store (one instance) loses a reply midway (the step
    stays pending), then that store dies with the marks it held; a store opened afresh on the
    same journals (on PostgreSQL: another instance, as the one that adopts the process) rolls
    the client back exactly, and the journal is gone for both."""
    before = client.records()
    lose = FaultyClientSession(client.session(), fail_at, Fault.LOSE_REPLY, counted=CHANGES)
    assert fired_error(delegation(lose, journals.journal()), OperationFailed).status is None
    assert client.records() != before
    survivor = journals.die()
    assert survivor.journal_ids() == ["delegation-1"]
    journal = survivor.open("delegation-1", client.session().device_id, OWNER)
    assert StepState.PENDING in [e.state for e in fired(journal.entries())]
    assert fired(rollback(client.session(), journal)) > 0
    assert client.records() == before
    assert survivor.journal_ids() == []
    another = journals.open_store()
    try:
        assert another.journal_ids() == []
    finally:
        another.close()


def test_a_refused_undo_does_not_stop_the_rollback(client: Client) -> None:
    """The client refuses to put back an ACL of the subtree (the first undo action): the account is
    deleted all the same, the failure is raised at the end, and the journal keeps exactly the
    refused step, which a rollback run again undoes."""
    before = client.records()
    fired(create_account(client.session(), client.journal(), DMS2_ACCOUNT))
    fired(grant_rights(client.session(), client.journal(), URI.parse("./Vendor/Enterprise"), DMS2))
    refusing = FaultyClientSession(client.session(), 1, Fault.REFUSE, counted=("replace_acl",))

    error = fired_error(rollback(refusing, client.journal()), Incomplete)

    assert (error.command, str(error.uri), error.status) == (
        "Replace ACL",
        "./Vendor/Enterprise/Apps",
        Status.COMMAND_FAILED,
    )
    assert not any(r.uri.is_within(URI.parse("./DMAcc/2")) for r in client.records())
    left = [e for e in fired(client.journal().entries()) if e.state is not StepState.UNDONE]
    assert [str(e.step.uri) for e in left] == ["./Vendor/Enterprise/Apps"]
    assert fired(rollback(client.session(), client.journal())) == 1
    assert client.records() == before
    assert client.journals.journal_ids() == []


def test_a_refused_undo_below_a_node_deleted_later_is_settled(client: Client) -> None:
    """A refused undo inside the account: the Delete of the account undoes it too."""
    before = client.records()
    fired(create_account(client.session(), client.journal(), DMS2_ACCOUNT))
    refusing = FaultyClientSession(client.session(), 1, Fault.REFUSE, counted=("replace_acl",))
    assert fired(rollback(refusing, client.journal())) > 0
    assert client.records() == before
    assert client.journals.journal_ids() == []
