"""Durable undo journals: every write is on disk when its Deferred fires, and survives a restart."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from twisted.internet.defer import Deferred

from dmdelegation.client import JournalEntry, JournalMismatch, StepState
from dmdelegation.client.journal_store import SQLiteUndoJournal
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


def _on_disk(client: Client, journal_id: str = "delegation-1") -> list[tuple[int, str]]:
    """The steps as another connection (another process) sees them."""
    conn = sqlite3.connect(client.path)
    try:
        rows = conn.execute(
            "SELECT seq, state FROM journal_steps WHERE journal_id = ? ORDER BY seq", (journal_id,)
        )
        return [(seq, state) for seq, state in rows]
    finally:
        conn.close()


def test_every_step_is_on_disk_when_append_fires(client: Client) -> None:
    journal = client.journal()
    for seq in (1, 2, 3):
        assert fired(journal.append(AddStep(A.child(str(seq))))) == seq
        assert _on_disk(client)[-1] == (seq, "pending")
        assert not client.journals._conn.in_transaction
        fired(journal.mark(seq, StepState.APPLIED))
    fired(journal.mark(3, StepState.FAILED))
    assert _on_disk(client) == [(1, "applied"), (2, "applied"), (3, "failed")]


def test_an_applied_mark_is_written_with_the_next_step(client: Client) -> None:
    journal = client.journal()
    fired(journal.append(AddStep(A)))
    fired(journal.mark(1, StepState.APPLIED))
    assert _on_disk(client) == [(1, "pending")]  # maybe applied: rollback reads to see
    fired(journal.append(AddStep(A.child("B"))))
    assert _on_disk(client) == [(1, "applied"), (2, "pending")]


@pytest.mark.parametrize(
    ("write", "second"),
    [
        (lambda j: j.mark(2, StepState.UNDONE), "undone"),
        (lambda j: j.mark(2, StepState.FAILED), "failed"),
        (lambda j: j.record_undo_progress(2, 1), "pending"),
        (lambda j: j.entries(), "pending"),
    ],
)
def test_every_other_write_is_durable_and_takes_the_applied_marks_along(
    client: Client, write: Callable[[SQLiteUndoJournal], Deferred[Any]], second: str
) -> None:
    journal = client.journal()
    fired(journal.append(AddStep(A)))
    fired(journal.append(AddStep(A.child("B"))))
    fired(journal.mark(1, StepState.APPLIED))
    fired(write(journal))
    assert _on_disk(client) == [(1, "applied"), (2, second)]


def test_closing_the_store_writes_the_applied_marks(client: Client) -> None:
    journal = client.journal()
    fired(journal.append(AddStep(A)))
    fired(journal.mark(1, StepState.APPLIED))
    again = client.reopened()
    try:
        assert [e.state for e in fired(again.journal().entries())] == [StepState.APPLIED]
    finally:
        again.close()


def test_marks_of_other_journals_survive_a_discard(client: Client) -> None:
    one, two = client.journal(name="one"), client.journal(name="two")
    fired(one.append(AddStep(A)))
    fired(two.append(AddStep(A)))
    fired(one.mark(1, StepState.APPLIED))
    fired(two.mark(1, StepState.APPLIED))
    fired(one.discard())
    assert _on_disk(client, "one") == []
    assert _on_disk(client, "two") == [(1, "applied")]


def test_a_journal_discarded_and_written_again_is_listed_again(client: Client) -> None:
    journal = client.journal()
    fired(journal.append(AddStep(A)))
    fired(journal.discard())
    assert client.journals.journal_ids() == []
    assert fired(journal.append(AddStep(A))) == 1
    assert client.journals.journal_ids() == ["delegation-1"]


def test_an_applied_mark_cannot_be_kept_by_a_closed_store(client: Client) -> None:
    journal = client.journal()
    fired(journal.append(AddStep(A)))
    client.journals.close()
    failure = fired_failure(journal.mark(1, StepState.APPLIED))
    assert "closed" in str(failure.value)


def test_several_steps_are_marked_in_one_durable_write(client: Client) -> None:
    journal = client.journal()
    for seq in (1, 2, 3):
        fired(journal.append(AddStep(A.child(str(seq)))))
    fired(journal.mark(3, StepState.APPLIED))
    statements: list[str] = []
    client.journals._conn.set_trace_callback(statements.append)
    fired(journal.mark_many([3, 2], StepState.UNDONE))
    client.journals._conn.set_trace_callback(None)
    assert [s.split()[0] for s in statements].count("COMMIT") == 1
    assert _on_disk(client) == [(1, "pending"), (2, "undone"), (3, "undone")]
    fired(journal.mark_many([], StepState.UNDONE))
    assert _on_disk(client) == [(1, "pending"), (2, "undone"), (3, "undone")]
