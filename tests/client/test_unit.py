"""A forward operation's journal steps and client changes written together
(`dmdelegation.client.unit`): journal first, client second, applied marks last; a failure of
either commit leaves what `rollback` settles, and each command stays all or nothing inside."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from zope.interface.verify import verifyObject

from dmdelegation.client import ClientTreeStore, SQLiteJournalStore, create_account, rollback
from dmdelegation.client.interfaces import ITransactionalJournals, ITransactionalSession
from dmdelegation.client.session import TreeClientSession
from dmdelegation.client.store import StoreClientSession
from dmdelegation.client.testing import fired, fired_failure
from dmdelegation.client.unit import can_run_together, run_together
from dmdelegation.tree import URI, Value
from dmdelegation.tree.memory import MemoryTree
from dmdelegation.tree.status import Status

from .helpers import DEVICE, DMS2_ACCOUNT, OWNER, PROVISION, provisioned

JOURNAL = "delegation-1"


class Files:
    """A provisioned device in clients.sqlite3 and the journals in journals.sqlite3."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.trees = ClientTreeStore(directory / "clients.sqlite3")
        self.journals = SQLiteJournalStore(directory / "journals.sqlite3")

    def session(self) -> StoreClientSession:
        return self.trees.session(DEVICE, OWNER)

    def on_disk(self) -> tuple[str, list[tuple[str, str]]]:
        """The tree and the journal's (step kind, state) as another connection reads them."""
        trees = ClientTreeStore(self.directory / "clients.sqlite3", read_only=True)
        journals = SQLiteJournalStore(self.directory / "journals.sqlite3")
        try:
            tree = "\n".join(f"{r.uri} {r.value!r} {r.acl.render()}" for r in trees.records(DEVICE))
            if JOURNAL not in journals.journal_ids():
                return tree, []
            entries = fired(journals.open(JOURNAL, DEVICE, OWNER).entries())
            return tree, [(type(e.step).__name__, e.state.value) for e in entries]
        finally:
            trees.close()
            journals.close()

    def close(self) -> None:
        self.trees.close()
        self.journals.close()


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Files]:
    opened = Files(tmp_path)
    opened.trees.provision(PROVISION)
    yield opened
    opened.close()


def create(files: Files, session: StoreClientSession) -> Callable[[], Deferred[Any]]:
    journal = files.journals.open(JOURNAL, DEVICE, OWNER)
    return lambda: create_account(session, journal, DMS2_ACCOUNT)


def test_the_embedded_session_and_the_sqlite_journals_provide_their_interfaces(
    files: Files,
) -> None:
    assert verifyObject(ITransactionalSession, files.session())
    assert verifyObject(ITransactionalJournals, files.journals)


def test_only_a_transactional_client_and_journals_on_two_files_run_together(
    files: Files, tmp_path: Path
) -> None:
    assert can_run_together(files.session(), files.journals)
    (tmp_path / "one").mkdir()
    same_file = provisioned(tmp_path / "one")
    try:
        assert not can_run_together(same_file.session(), same_file.journals)
    finally:
        same_file.close()
    assert not can_run_together(TreeClientSession(MemoryTree(), DEVICE, OWNER), files.journals)


def test_nothing_is_seen_before_the_end_and_everything_after(files: Files) -> None:
    before = files.on_disk()
    session = files.session()
    seen_during: list[tuple[str, list[tuple[str, str]]]] = []

    def operation() -> Deferred[Any]:
        d = create(files, session)()
        seen_during.append(files.on_disk())
        return d

    results: list[tuple[object, tuple[str, list[tuple[str, str]]]]] = []
    d = run_together(session, files.journals, operation)
    d.addCallback(lambda uri: results.append((uri, files.on_disk())))
    assert seen_during == [before]  # neither the step nor the account, until the commits
    [(uri, after)] = results  # fired only once both are durable
    assert str(uri) == "./DMAcc/2"
    assert "./DMAcc/2 " in after[0]
    assert "./DMAcc/2 " not in before[0]
    # The steps are durable; their applied marks (even the first step's, which the second
    # append would have written) wait for the client's commit, then for the journal's next write.
    assert after[1] == [("AddStep", "pending"), ("ReplaceACLStep", "pending")]
    files.journals.close()
    assert files.on_disk()[1] == [("AddStep", "applied"), ("ReplaceACLStep", "applied")]


def test_a_failed_client_commit_leaves_pending_steps_that_rollback_settles(
    files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = files.on_disk()
    session = files.session()

    def lost() -> None:  # the process died between the two commits
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(session, "commit", lost)
    failure = fired_failure(run_together(session, files.journals, create(files, session)))
    assert isinstance(failure.value, sqlite3.OperationalError)
    tree, steps = files.on_disk()
    assert tree == before[0]  # the client kept nothing
    pending = [("AddStep", "pending"), ("ReplaceACLStep", "pending")]
    assert steps == pending  # never "applied": the marks were held back
    files.journals.close()
    assert files.on_disk()[1] == pending
    journals = SQLiteJournalStore(files.directory / "journals.sqlite3")
    try:
        fresh = files.trees.session(DEVICE, OWNER)
        fired(rollback(fresh, journals.open(JOURNAL, DEVICE, OWNER)))
    finally:
        journals.close()
    assert files.on_disk()[0] == before[0]


def test_a_failed_journal_commit_changes_nothing(
    files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = files.on_disk()
    session = files.session()
    real_commit = files.journals.commit

    def full() -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(files.journals, "commit", full)
    failure = fired_failure(run_together(session, files.journals, create(files, session)))
    assert isinstance(failure.value, sqlite3.OperationalError)
    assert files.on_disk() == before
    monkeypatch.setattr(files.journals, "commit", real_commit)
    # Both connections are usable again: the same operation now goes through.
    fired(run_together(session, files.journals, create(files, session)))
    assert "./DMAcc/2 " in files.on_disk()[0]


def test_each_command_stays_all_or_nothing_inside_the_transaction(files: Files) -> None:
    """A command whose second statement fails takes back its first, not the commands before
    it."""
    boom = sqlite3.connect(files.directory / "clients.sqlite3")
    boom.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON nodes WHEN NEW.name = 'Boom'"
        " BEGIN SELECT RAISE(ABORT, 'boom'); END"
    )
    boom.close()
    trees = ClientTreeStore(files.directory / "clients.sqlite3")
    journals = files.journals
    session = trees.session(DEVICE, OWNER)
    statuses: list[Status] = []

    def operation() -> Deferred[None]:
        statuses.append(fired(session.add(URI.parse("./Vendor/Kept"), Value.text("k"))).status)
        nodes = [((), Value.interior()), (("Boom",), Value.text("b"))]
        statuses.append(fired(session.add_subtree(URI.parse("./Vendor/Gone"), nodes)).status)
        return fired_deferred()

    try:
        fired(run_together(session, journals, operation))
    finally:
        trees.close()
    assert statuses == [Status.ITEM_ADDED, Status.COMMAND_FAILED]
    tree = files.on_disk()[0]
    assert "./Vendor/Kept " in tree
    assert "./Vendor/Gone" not in tree


def fired_deferred() -> Deferred[None]:
    d: Deferred[None] = Deferred()
    d.callback(None)
    return d
