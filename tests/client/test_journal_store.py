"""Durable undo journals: every write is on disk when its Deferred fires, and survives a restart."""

from __future__ import annotations

import pytest

from dmdelegation.client import JournalEntry, JournalMismatch, StepState
from dmdelegation.client.testing import fired, fired_failure
from dmdelegation.tree import ACL, URI, Value
from dmdelegation.tree.journal import AddStep, ReplaceACLStep, ReplaceStep

from .helpers import DEVICE, OWNER, Client

A = URI.parse("./A")


def test_steps_are_kept_in_order_with_their_state(client: Client) -> None:
    journal = client.journal()
    assert fired(journal.append(AddStep(A))) == 1
    assert fired(journal.append(ReplaceStep(A, Value.integer(4)))) == 2
    fired(journal.mark(1, StepState.APPLIED))
    fired(journal.record_undo_progress(2, 1))
    entries = fired(journal.entries())
    assert list(entries) == [
        JournalEntry(1, AddStep(A), StepState.APPLIED, 0),
        JournalEntry(2, ReplaceStep(A, Value.integer(4)), StepState.PENDING, 1),
    ]


def test_a_journal_reopened_after_a_restart_holds_every_step(client: Client) -> None:
    journal = client.journal()
    fired(journal.append(ReplaceACLStep(A, ACL.parse("Get=*"))))
    fired(journal.mark(1, StepState.FAILED))
    again = client.reopened()
    try:
        assert again.journals.journal_ids() == ["delegation-1"]
        entries = fired(again.journal().entries())
        assert entries == [JournalEntry(1, ReplaceACLStep(A, ACL.parse("Get=*")), StepState.FAILED)]
    finally:
        again.close()


def test_discard_forgets_the_journal(client: Client) -> None:
    journal = client.journal()
    fired(journal.append(AddStep(A)))
    fired(journal.discard())
    assert client.journals.journal_ids() == []
    assert fired(client.journal().entries()) == []


def test_journals_are_separate(client: Client) -> None:
    fired(client.journal(name="one").append(AddStep(A)))
    assert fired(client.journal(name="two").entries()) == []


def test_a_journal_is_bound_to_its_device_and_server(client: Client) -> None:
    client.journal()
    with pytest.raises(JournalMismatch, match="delegation-1"):
        client.journals.open("delegation-1", DEVICE, "someone.else")
    with pytest.raises(JournalMismatch):
        client.journals.open("delegation-1", "IMEI:0", OWNER)


def test_a_write_that_cannot_be_made_durable_fails_the_deferred(client: Client) -> None:
    journal = client.journal()
    client.journals.close()
    failure = fired_failure(journal.append(AddStep(A)))
    assert "closed" in str(failure.value)
