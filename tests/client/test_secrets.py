"""AAuthSecret and AAuthData never appear in a log, an error, a repr, or `tree show`."""

from __future__ import annotations

import base64
from typing import Any

from twisted.internet.defer import Deferred

from dmdelegation.client import (
    add_bootstrap_entry,
    create_account,
    delete_own_account,
    grant_rights,
    remove_account,
    rollback,
)
from dmdelegation.client.testing import Fault, FaultyClientSession, fired, fired_failure
from dmdelegation.tree import ROOT, BootConfigEntry
from dmdelegation.tree.display import display_lines

from .helpers import DMS2, DMS2_ACCOUNT, DMS2_DATA, DMS2_SECRET, OWNER_SECRET, Client, LogRecorder

SECRETS = [
    DMS2_SECRET,
    OWNER_SECRET,
    DMS2_DATA.decode("latin-1"),
    repr(DMS2_DATA),
    base64.b64encode(DMS2_DATA).decode(),
]


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_no_secret_in_logs_errors_or_reprs_across_a_delegation(client: Client) -> None:
    session, journal = client.session(), client.journal()
    texts: list[str] = []
    with LogRecorder() as log:
        fired(create_account(session, journal, DMS2_ACCOUNT))
        fired(grant_rights(session, journal, ROOT, DMS2))
        fired(add_bootstrap_entry(session, journal, BootConfigEntry(DMS2, "https://b")))
        fired(delete_own_account(session, journal))
        failures: list[Deferred[Any]] = [
            create_account(session, journal, DMS2_ACCOUNT),  # 418: exists
            remove_account(
                FaultyClientSession(session, 1, Fault.REFUSE, ["delete"]), journal, DMS2
            ),
            remove_account(
                FaultyClientSession(session, 1, Fault.LOSE_REPLY, ["delete"]), journal, DMS2
            ),
        ]
        for deferred in failures:
            failure = fired_failure(deferred)
            texts += [str(failure.value), repr(failure.value), failure.getTraceback()]
        entries = fired(journal.entries())
        texts += [repr(entries), repr(DMS2_ACCOUNT), repr(session), repr(journal)]
        fired(rollback(session, journal))
    assert log.events, "nothing was logged: the check would be empty"
    texts.append(log.text())
    assert_no_secret("\n".join(texts))


def test_no_secret_in_the_operator_view(client: Client) -> None:
    fired(create_account(client.session(), client.journal(), DMS2_ACCOUNT))
    shown = "\n".join(display_lines(client.records()))
    assert "AAuthSecret" in shown
    assert "AAuthData" in shown
    assert_no_secret(shown)
