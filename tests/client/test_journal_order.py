"""Each change is in the journal, on disk, before it reaches the client; without a journal write,
nothing reaches the client. On both journal stores: SQLite, and PostgreSQL, where the step is
committed (seen by another connection, as by another instance) before the command is sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from zope.interface import implementer

from dmdelegation.client import (
    IDMClientSession,
    IUndoJournal,
    add_bootstrap_entry,
    create_account,
    delete_own_account,
    grant_rights,
    remove_account,
    revoke_rights,
    set_no_auto_initial_session,
)
from dmdelegation.client.testing import FailingJournal, JournalWriteError, fired, fired_failure
from dmdelegation.tree import ACL, URI, BootConfigEntry, Value
from dmdelegation.tree.results import ACLResult, GetResult, Result

from .helpers import DMS2, DMS2_ACCOUNT, Client
from .journal_backends import JournalBackend

Newest = Callable[[], "tuple[str, str] | None"]


@implementer(IDMClientSession)
class JournalCheckingSession:
    """Before passing on a change, reads the journal through a connection of its own
    (``newest``: the URI and state of the newest step) and records whether the newest step is a
    pending step for that very node."""

    def __init__(self, inner: IDMClientSession, newest: Newest) -> None:
        self.inner = inner
        self.device_id = inner.device_id
        self.server_id = inner.server_id
        self.newest = newest
        self.checked: list[tuple[str, bool]] = []

    def _check(self, uri: URI) -> None:
        self.checked.append((str(uri), self.newest() == (str(uri), "pending")))

    def get(self, uri: URI) -> Deferred[GetResult]:
        return self.inner.get(uri)

    def get_acl(self, uri: URI) -> Deferred[ACLResult]:
        return self.inner.get_acl(uri)

    def add(self, uri: URI, value: Value) -> Deferred[Result]:
        self._check(uri)
        return self.inner.add(uri, value)

    def replace(self, uri: URI, value: Value) -> Deferred[Result]:
        self._check(uri)
        return self.inner.replace(uri, value)

    def delete(self, uri: URI) -> Deferred[Result]:
        self._check(uri)
        return self.inner.delete(uri)

    def replace_acl(self, uri: URI, acl: ACL) -> Deferred[Result]:
        self._check(uri)
        return self.inner.replace_acl(uri, acl)


OPERATIONS: dict[str, Callable[[IDMClientSession, IUndoJournal], Deferred[Any]]] = {
    "create_account": lambda s, j: create_account(s, j, DMS2_ACCOUNT),
    "grant_rights": lambda s, j: grant_rights(s, j, URI.parse("./Vendor"), DMS2),
    "revoke_rights": lambda s, j: revoke_rights(s, j, URI.parse("./Vendor"), DMS2),
    "add_bootstrap_entry": lambda s, j: add_bootstrap_entry(
        s, j, BootConfigEntry(DMS2, "https://b")
    ),
    "set_no_auto_initial_session": lambda s, j: set_no_auto_initial_session(
        s, j, "dms1.operator.example", True
    ),
    "delete_own_account": lambda s, j: delete_own_account(s, j),
}


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_change_is_journaled_on_disk_before_it_is_sent(
    client: Client, journals: JournalBackend, name: str
) -> None:
    checking = JournalCheckingSession(client.session(), lambda: journals.newest("delegation-1"))
    fired(OPERATIONS[name](checking, journals.journal()))
    assert checking.checked, "the operation changed nothing"
    assert all(ok for _, ok in checking.checked), checking.checked


def test_remove_account_is_journaled_before_it_is_sent(
    client: Client, journals: JournalBackend
) -> None:
    fired(create_account(client.session(), journals.journal(name="setup"), DMS2_ACCOUNT))
    checking = JournalCheckingSession(client.session(), lambda: journals.newest("delegation-1"))
    fired(remove_account(checking, journals.journal(), DMS2))
    assert checking.checked == [("./DMAcc/2", True)]


@pytest.mark.parametrize("name", sorted(OPERATIONS))
@pytest.mark.parametrize("writes_allowed", [0, 1])
def test_nothing_is_sent_when_the_journal_cannot_be_written(
    client: Client, journals: JournalBackend, name: str, writes_allowed: int
) -> None:
    """0: the first step cannot be recorded; 1: recorded, but its outcome cannot be."""
    before = client.records()
    checking = JournalCheckingSession(client.session(), lambda: journals.newest("delegation-1"))
    journal = FailingJournal(journals.journal(), writes_allowed)
    failure = fired_failure(OPERATIONS[name](checking, journal))
    assert failure.check(JournalWriteError)
    assert len(checking.checked) == writes_allowed
    if writes_allowed == 0:
        assert client.records() == before
