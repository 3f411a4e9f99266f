"""Durable undo journals, one contract over both stores (SQLite, and PostgreSQL for a
deployment of several instances): every write is durable when its Deferred fires, survives a
restart, and is seen by another connection (another process, another instance)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from zope.interface.verify import verifyObject

from dmdelegation.client import (
    IUndoJournal,
    IUndoJournalBatch,
    IUndoJournalStore,
    JournalEntry,
    JournalMismatch,
    StepState,
)
from dmdelegation.client.testing import fired, fired_failure
from dmdelegation.tree import ACL, URI, Value
from dmdelegation.tree.acl import EMPTY
from dmdelegation.tree.journal import AddStep, JournalStep, ReplaceACLStep, ReplaceStep

from .helpers import DEVICE, OWNER
from .journal_backends import JournalBackend

A = URI.parse("./A")


def test_the_store_and_its_journals_provide_their_interfaces(journals: JournalBackend) -> None:
    assert verifyObject(IUndoJournalStore, journals.store)
    assert verifyObject(IUndoJournal, journals.journal())
    assert verifyObject(IUndoJournalBatch, journals.journal())


def test_steps_are_kept_in_order_with_their_state(journals: JournalBackend) -> None:
    journal = journals.journal()
    assert fired(journal.append(AddStep(A))) == 1
    assert fired(journal.append(ReplaceStep(A, Value.integer(4)))) == 2
    fired(journal.mark(1, StepState.APPLIED))
    fired(journal.record_undo_progress(2, 1))
    entries = fired(journal.entries())
    assert list(entries) == [
        JournalEntry(1, AddStep(A), StepState.APPLIED, 0),
        JournalEntry(2, ReplaceStep(A, Value.integer(4)), StepState.PENDING, 1),
    ]


def test_a_journal_reopened_after_a_restart_holds_every_step(journals: JournalBackend) -> None:
    journal = journals.journal()
    fired(journal.append(ReplaceACLStep(A, ACL.parse("Get=*"))))
    fired(journal.mark(1, StepState.FAILED))
    again = journals.reopen()
    assert again.journal_ids() == ["delegation-1"]
    entries = fired(journals.journal().entries())
    assert entries == [JournalEntry(1, ReplaceACLStep(A, ACL.parse("Get=*")), StepState.FAILED)]


def test_a_journal_is_read_and_continued_by_another_store_at_once(
    journals: JournalBackend,
) -> None:
    """Another store on the same state (another instance, on PostgreSQL) sees every step as
    soon as it is durable, and continues the journal where the first left it."""
    fired(journals.journal().append(AddStep(A)))
    other = journals.open_store()
    try:
        assert other.journal_ids() == ["delegation-1"]
        theirs = other.open("delegation-1", DEVICE, OWNER)
        assert [e.step for e in fired(theirs.entries())] == [AddStep(A)]
        assert fired(theirs.append(AddStep(A.child("B")))) == 2
        fired(theirs.discard())
        assert journals.store.journal_ids() == []
    finally:
        other.close()


def test_steps_appended_by_two_stores_in_turn_keep_their_order(journals: JournalBackend) -> None:
    """Each store numbers a step after the last one on disk, even one the other appended
    since (a store that knows its journal's next number finds it taken, and looks)."""
    ours = journals.journal()
    assert fired(ours.append(AddStep(A))) == 1
    other = journals.open_store()
    try:
        theirs = other.open("delegation-1", DEVICE, OWNER)
        assert fired(theirs.append(AddStep(A.child("B")))) == 2
        assert fired(ours.append(AddStep(A.child("C")))) == 3
        assert fired(theirs.append(AddStep(A.child("D")))) == 4
    finally:
        other.close()
    assert [e.step.uri.name for e in fired(ours.entries())] == ["A", "B", "C", "D"]


def test_discard_forgets_the_journal(journals: JournalBackend) -> None:
    journal = journals.journal()
    fired(journal.append(AddStep(A)))
    fired(journal.discard())
    assert journals.store.journal_ids() == []
    assert fired(journals.journal().entries()) == []


def test_journals_are_separate(journals: JournalBackend) -> None:
    fired(journals.journal(name="one").append(AddStep(A)))
    assert fired(journals.journal(name="two").entries()) == []


def test_a_journal_is_bound_to_its_device_and_server(journals: JournalBackend) -> None:
    journals.journal()
    with pytest.raises(JournalMismatch, match="delegation-1"):
        journals.store.open("delegation-1", DEVICE, "someone.else")
    with pytest.raises(JournalMismatch):
        journals.store.open("delegation-1", "IMEI:0", OWNER)
    other = journals.open_store()  # the header is durable: another store refuses too
    try:
        with pytest.raises(JournalMismatch):
            other.open("delegation-1", DEVICE, "someone.else")
    finally:
        other.close()


def test_a_write_that_cannot_be_made_durable_fails_the_deferred(journals: JournalBackend) -> None:
    journal = journals.journal()
    journals.store.close()
    failure = fired_failure(journal.append(AddStep(A)))
    assert "closed" in str(failure.value)


def test_every_step_is_on_disk_when_append_fires(journals: JournalBackend) -> None:
    journal = journals.journal()
    for seq in (1, 2, 3):
        assert fired(journal.append(AddStep(A.child(str(seq))))) == seq
        assert journals.on_disk()[-1] == (seq, "pending")
        fired(journal.mark(seq, StepState.APPLIED))
    fired(journal.mark(3, StepState.FAILED))
    assert journals.on_disk() == [(1, "applied"), (2, "applied"), (3, "failed")]


def test_an_applied_mark_is_written_with_the_next_step(journals: JournalBackend) -> None:
    journal = journals.journal()
    fired(journal.append(AddStep(A)))
    fired(journal.mark(1, StepState.APPLIED))
    assert journals.on_disk() == [(1, "pending")]  # maybe applied: rollback reads to see
    with journals.transactions() as transactions:
        fired(journal.append(AddStep(A.child("B"))))
    assert len(transactions) == 1, transactions  # the mark and the step together
    assert journals.on_disk() == [(1, "applied"), (2, "pending")]


@pytest.mark.parametrize(
    ("write", "second"),
    [
        (lambda j: j.mark(2, StepState.UNDONE), "undone"),
        (lambda j: j.mark(2, StepState.FAILED), "failed"),
        (lambda j: j.record_undo_progress(2, 1), "pending"),
    ],
)
def test_every_other_write_is_durable_and_takes_the_applied_marks_along(
    journals: JournalBackend, write: Callable[[IUndoJournal], Deferred[Any]], second: str
) -> None:
    journal = journals.journal()
    fired(journal.append(AddStep(A)))
    fired(journal.append(AddStep(A.child("B"))))
    fired(journal.mark(1, StepState.APPLIED))
    fired(write(journal))
    assert journals.on_disk() == [(1, "applied"), (2, second)]


def test_a_read_shows_the_applied_marks_held_and_writes_nothing(journals: JournalBackend) -> None:
    journal = journals.journal()
    fired(journal.append(AddStep(A)))
    fired(journal.append(AddStep(A.child("B"))))
    fired(journal.mark(1, StepState.APPLIED))
    states = [entry.state for entry in fired(journal.entries())]
    assert states == [StepState.APPLIED, StepState.PENDING]
    assert journals.on_disk() == [(1, "pending"), (2, "pending")]
    fired(journal.mark(2, StepState.FAILED))  # the next write takes the mark along
    assert journals.on_disk() == [(1, "applied"), (2, "failed")]


def test_closing_the_store_writes_the_applied_marks(journals: JournalBackend) -> None:
    journal = journals.journal()
    fired(journal.append(AddStep(A)))
    fired(journal.mark(1, StepState.APPLIED))
    journals.reopen()
    assert [e.state for e in fired(journals.journal().entries())] == [StepState.APPLIED]


def test_marks_of_other_journals_survive_a_discard(journals: JournalBackend) -> None:
    one, two = journals.journal(name="one"), journals.journal(name="two")
    fired(one.append(AddStep(A)))
    fired(two.append(AddStep(A)))
    fired(one.mark(1, StepState.APPLIED))
    fired(two.mark(1, StepState.APPLIED))
    fired(one.discard())
    assert journals.on_disk("one") == []
    assert journals.on_disk("two") == [(1, "applied")]


def test_a_journal_discarded_and_written_again_is_listed_again(journals: JournalBackend) -> None:
    journal = journals.journal()
    fired(journal.append(AddStep(A)))
    fired(journal.discard())
    assert journals.store.journal_ids() == []
    assert fired(journal.append(AddStep(A))) == 1
    assert journals.store.journal_ids() == ["delegation-1"]


def test_an_applied_mark_cannot_be_kept_by_a_closed_store(journals: JournalBackend) -> None:
    journal = journals.journal()
    fired(journal.append(AddStep(A)))
    journals.store.close()
    failure = fired_failure(journal.mark(1, StepState.APPLIED))
    assert "closed" in str(failure.value)


def test_several_steps_are_marked_in_one_durable_write(journals: JournalBackend) -> None:
    journal = journals.journal()
    for seq in (1, 2, 3):
        fired(journal.append(AddStep(A.child(str(seq)))))
    fired(journal.mark(3, StepState.APPLIED))
    with journals.transactions() as transactions:
        fired(IUndoJournalBatch(journal).mark_many([3, 2], StepState.UNDONE))
    assert len(transactions) == 1, transactions
    assert journals.on_disk() == [(1, "pending"), (2, "undone"), (3, "undone")]
    fired(IUndoJournalBatch(journal).mark_many([], StepState.UNDONE))
    assert journals.on_disk() == [(1, "pending"), (2, "undone"), (3, "undone")]


def test_steps_are_forgotten_in_one_durable_write(journals: JournalBackend) -> None:
    journal = journals.journal()
    steps: list[JournalStep] = [
        AddStep(A),
        ReplaceStep(A.child("secret"), Value.text("before")),
        ReplaceACLStep(A, EMPTY, ACL.parse("Get=*")),
        ReplaceStep(A.child("other"), Value.text("before")),
    ]
    for step in steps:
        fired(journal.append(step))
    fired(journal.mark(1, StepState.APPLIED))
    with journals.transactions() as transactions:
        fired(IUndoJournalBatch(journal).forget([2, 4]))
    assert len(transactions) == 1, transactions
    assert journals.on_disk() == [(1, "applied"), (3, "pending")]
    assert fired(journal.append(AddStep(A.child("next")))) == 4  # numbered after the last
    assert [entry.seq for entry in fired(journal.entries())] == [1, 3, 4]
    fired(IUndoJournalBatch(journal).forget([]))
    assert journals.on_disk() == [(1, "applied"), (3, "pending"), (4, "pending")]
