"""Every @implementer in the DM session component, fakes included, provides its interface."""

from __future__ import annotations

import subprocess
import sys

from twisted.logger import ILogObserver
from zope.interface.verify import verifyObject

from dmdelegation.client import IDMClientSession, ISubtreeSnapshot, IUndoJournal, IUndoJournalBatch
from dmdelegation.client.session import TreeClientSession
from dmdelegation.client.testing import FailingJournal, Fault, FaultyClientSession
from dmdelegation.tree.memory import MemoryTree

from .helpers import Client, LogRecorder
from .test_journal_order import JournalCheckingSession


def test_embedded_sessions_provide_idmclientsession(client: Client) -> None:
    assert verifyObject(IDMClientSession, client.session())
    assert verifyObject(IDMClientSession, TreeClientSession(MemoryTree(), "dev", "srv"))


def test_fake_sessions_provide_idmclientsession(client: Client) -> None:
    faulty = FaultyClientSession(client.session(), 1, Fault.REFUSE)
    assert verifyObject(IDMClientSession, faulty)
    checking = JournalCheckingSession(client.session(), lambda: None)
    assert verifyObject(IDMClientSession, checking)


def test_journals_provide_iundojournal(client: Client) -> None:
    assert verifyObject(IUndoJournal, client.journal())
    assert verifyObject(IUndoJournal, FailingJournal(client.journal(), 0))


def test_the_log_recorder_is_a_log_observer() -> None:
    assert verifyObject(ILogObserver, LogRecorder())


def test_importing_the_component_installs_no_reactor() -> None:
    code = (
        "import sys, dmdelegation.tree, dmdelegation.client, dmdelegation.client.testing,"
        " dmdelegation.commands.tree; sys.exit('twisted.internet.reactor' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_embedded_session_and_journal_provide_the_optional_interfaces(client: Client) -> None:
    assert verifyObject(ISubtreeSnapshot, client.session())
    assert verifyObject(ISubtreeSnapshot, TreeClientSession(MemoryTree(), "dev", "srv"))
    assert verifyObject(IUndoJournalBatch, client.journal())
