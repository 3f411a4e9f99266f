"""The daemon's tidying of the undo journals (at start and with each pruning): the journal of a
delegation in force is its grant record and stays (committed now if a stop cut its commit
short), so the revocation restores the tree exactly; the journals of the other ended processes
go."""

from __future__ import annotations

from pathlib import Path

from twisted.internet.defer import Deferred, fail, succeed

from dmdelegation.client.revocation import RECORD_COMPLETE
from dmdelegation.core.model import Outcome, Session
from dmdelegation.daemon.journals import Settled, settle_journals
from dmdelegation.engine.client_changes import JournaledClientChanges
from dmdelegation.engine.interfaces import ClientChangeFailed
from dmdelegation.protocol import DelegationMethod
from dmdelegation.tree import URI
from dmdelegation.tree.journal import AddStep

from ..engine.harness import DEVICE, DMS1, DMS2, SUBTREE, Pair, fired, text_of
from ..engine.test_revocation_exact import delegate, revoke


class StoppedBeforeCommit(JournaledClientChanges):
    """DMS-1's client changes in a daemon stopped after a delegation's end was written and
    before its commit ran."""

    def commit(self, session: Session) -> Deferred[None]:
        return succeed(None)


def _cut_short(pair: Pair) -> JournaledClientChanges:
    """DMS-1 delegates with commits cut short; the changes a restarted daemon has."""
    changes = pair.dms1.client_changes
    assert isinstance(changes, JournaledClientChanges)
    pair.dms1.client_changes = StoppedBeforeCommit(
        DMS1, changes.session_for, pair.journals, clock=pair.clock
    )
    return changes


def test_a_delegation_whose_commit_was_cut_short_keeps_its_grant_record(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    before = text_of(pair.tree())
    changes = _cut_short(pair)
    delegate(pair, DelegationMethod.DMACC, False)
    [session] = pair.dms1.store.sessions(DEVICE)
    journal = pair.journals.open(session.session_id, DEVICE, DMS1)
    assert fired(journal.entries())[-1].step != RECORD_COMPLETE

    settled = settle_journals(pair.journals, pair.dms1.store, changes)

    assert settled.kept == [session.session_id]
    assert settled.discarded == []
    assert fired(journal.entries())[-1].step == RECORD_COMPLETE
    assert settle_journals(pair.journals, pair.dms1.store, changes) == settled  # nothing more
    pair.dms1.client_changes = changes
    assert revoke(pair, "asked").outcome is Outcome.REVOKED
    assert text_of(pair.tree()) == before
    assert pair.journals.journal_ids() == []


def test_the_grant_record_of_a_delegation_in_force_is_kept(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    delegate(pair, DelegationMethod.DMACC, False)
    [session] = pair.dms1.store.sessions(DEVICE)
    changes = pair.dms1.client_changes
    entries = fired(pair.journals.open(session.session_id, DEVICE, DMS1).entries())
    assert entries[-1].step == RECORD_COMPLETE

    settled = settle_journals(pair.journals, pair.dms1.store, changes)

    assert settled == Settled([session.session_id], [])
    assert fired(pair.journals.open(session.session_id, DEVICE, DMS1).entries()) == entries


def test_the_journal_of_a_delegation_no_longer_in_force_is_discarded(tmp_path: Path) -> None:
    """A delegation revoked: its record went with the revocation; a journal left under its
    name (a stop in the middle of that revocation's end) goes with the tidying."""
    pair = Pair(tmp_path)
    delegate(pair, DelegationMethod.DMACC, False)
    [session] = pair.dms1.store.sessions(DEVICE)
    changes = pair.dms1.client_changes
    assert revoke(pair, "asked").outcome is Outcome.REVOKED
    assert pair.journals.journal_ids() == []
    left = pair.journals.open(session.session_id, DEVICE, DMS1)
    fired(left.append(AddStep(URI.parse("./A"))))

    settled = settle_journals(pair.journals, pair.dms1.store, changes)

    assert settled == Settled([], [session.session_id])
    assert pair.journals.journal_ids() == []


def test_the_journal_of_an_open_process_is_left_alone(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    changes = pair.dms1.client_changes
    session = pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    assert pair.dms1.store.get(session.session_id).is_open  # type: ignore[union-attr]
    fired(pair.journals.open(session.session_id, DEVICE, DMS1).append(AddStep(URI.parse("./A"))))
    fired(pair.journals.open("ended/bootstrapped", DEVICE, DMS1).append(AddStep(URI.parse("./B"))))

    settled = settle_journals(pair.journals, pair.dms1.store, changes)

    assert settled.kept == []
    assert settled.discarded == ["ended/bootstrapped"]
    assert pair.journals.journal_ids() == [session.session_id]


class FailingCommit(JournaledClientChanges):
    def commit(self, session: Session) -> Deferred[None]:
        return fail(ClientChangeFailed(500, "the journal store refused"))


def test_a_journal_whose_commit_fails_is_kept_for_the_next_tidying(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    changes = _cut_short(pair)
    delegate(pair, DelegationMethod.DMACC, False)
    [session] = pair.dms1.store.sessions(DEVICE)
    failing = FailingCommit(DMS1, changes.session_for, pair.journals, clock=pair.clock)

    settled = settle_journals(pair.journals, pair.dms1.store, failing)

    assert settled == Settled([session.session_id], [])
    journal = pair.journals.open(session.session_id, DEVICE, DMS1)
    assert fired(journal.entries())[-1].step != RECORD_COMPLETE
    settle_journals(pair.journals, pair.dms1.store, changes)
    assert fired(journal.entries())[-1].step == RECORD_COMPLETE
