"""DMS-1's default :class:`IClientChanges`: the delegation operations of the DM session
component, over any ``IDMClientSession``, with one durable undo journal per session.

What each change does to the client (and why) is in docs/spec-notes.md, "Engine".
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.python.failure import Failure
from zope.interface import implementer

from dmdelegation.client import delegation as ops
from dmdelegation.client.interfaces import IDMClientSession, IUndoJournal, IUndoJournalStore
from dmdelegation.client.rollback import rollback
from dmdelegation.client.steps import OperationFailed
from dmdelegation.client.unit import run_together
from dmdelegation.engine.interfaces import ClientChangeFailed, IClientChanges
from dmdelegation.engine.model import Process, Session
from dmdelegation.protocol import DMAcc
from dmdelegation.tree import ROOT, URI, BootConfigEntry, Status

SessionFor = Callable[[str], IDMClientSession]
"""The DM session with a device (by DevId), acting as this server's ServerID."""


def _translated(f: Failure) -> Failure:
    if isinstance(f.value, ClientChangeFailed):
        return f
    return Failure(_translate(f.value)) if isinstance(f.value, Exception) else f


def _translate(e: Exception) -> ClientChangeFailed:
    if isinstance(e, OperationFailed):
        status = 500 if e.status is None else int(e.status)
        return ClientChangeFailed(status, str(e))
    return ClientChangeFailed(500, f"{type(e).__name__}: {e}")


@implementer(IClientChanges)
class JournaledClientChanges:
    """Every change of a session goes to the journal named by its session id first."""

    def __init__(self, server_id: str, session_for: SessionFor, journals: IUndoJournalStore):
        self.server_id = server_id
        self.session_for = session_for
        self.journals = journals

    def _run(
        self,
        session: Session,
        work: Callable[[IDMClientSession, IUndoJournal], Coroutine[Any, Any, None]],
        *,
        forward: bool = False,
    ) -> Deferred[None]:
        """``work`` on the session's device and journal. A ``forward`` operation (one that only
        appends steps and makes the changes they record) runs with its steps and its changes
        written together where the client and the journals allow it
        (`dmdelegation.client.unit`)."""

        async def run(client: IDMClientSession) -> None:
            try:
                journal = self.journals.open(session.session_id, session.device_id, self.server_id)
                await work(client, journal)
            except ClientChangeFailed:
                raise
            except Exception as e:
                raise _translate(e) from e

        try:
            client = self.session_for(session.device_id)
            if not forward:
                return Deferred.fromCoroutine(run(client))
            d = run_together(client, self.journals, lambda: Deferred.fromCoroutine(run(client)))
        except Exception as e:
            return fail(_translate(e))
        return d.addErrback(_translated)

    def prepare_dmacc(self, session: Session, dmacc: DMAcc | None) -> Deferred[None]:
        async def work(client: IDMClientSession, journal: IUndoJournal) -> None:
            if dmacc is not None:
                await ops.create_account(
                    client, journal, dmacc, no_auto_initial_session=True, account_rights=()
                )
            else:
                await ops.set_no_auto_initial_session(client, journal, session.peer, True)
            await self._grant_and_maybe_leave(client, journal, session)

        return self._run(session, work, forward=True)

    def add_bootstrap_entry(self, session: Session, url: str) -> Deferred[None]:
        async def work(client: IDMClientSession, journal: IUndoJournal) -> None:
            await ops.add_bootstrap_entry(client, journal, BootConfigEntry(session.peer, url))

        return self._run(session, work, forward=True)

    def grant(self, session: Session) -> Deferred[None]:
        async def work(client: IDMClientSession, journal: IUndoJournal) -> None:
            await ops.set_no_auto_initial_session(client, journal, session.peer, True)
            await self._grant_and_maybe_leave(client, journal, session)

        return self._run(session, work, forward=True)

    def _own_account(self, session: Session) -> IUndoJournal:
        """The journal of our own account's deletion in a full delegation: kept (across the
        delegation's end) until the delegation is revoked, which rolls it back, re-creating the
        account exactly as it was."""
        return self.journals.open(
            f"own-account:{session.device_id}", session.device_id, self.server_id
        )

    async def _grant_and_maybe_leave(
        self, client: IDMClientSession, journal: IUndoJournal, session: Session
    ) -> None:
        await ops.grant_rights(client, journal, URI.parse(session.subtree), session.peer)
        if session.full:
            await ops.delete_own_account(client, self._own_account(session))

    def undo(self, session: Session) -> Deferred[None]:
        """Roll the session's journal back. In the Bootstrap Server URL approach the client may
        also have bootstrapped from DMS-2 in the meantime (a change our entry caused, but did
        not make): that account goes too, through a journal of its own that is only discarded,
        so that an undo interrupted by a restart and run again never re-creates it."""

        async def work(client: IDMClientSession, journal: IUndoJournal) -> None:
            if session.full:
                await rollback(client, self._own_account(session))
            await rollback(client, journal)
            if session.process is Process.DELEGATION_BOOTSTRAP:
                cleanup = self.journals.open(
                    f"{session.session_id}/bootstrapped", session.device_id, self.server_id
                )
                try:
                    await ops.remove_account(client, cleanup, session.peer)
                except OperationFailed as e:
                    if e.status != Status.NOT_FOUND:
                        raise
                await cleanup.discard()

        return self._run(session, work)

    def commit(self, session: Session) -> Deferred[None]:
        async def work(client: IDMClientSession, journal: IUndoJournal) -> None:
            await journal.discard()

        return self._run(session, work)

    def remove_delegate(self, session: Session) -> Deferred[None]:
        """Account, rights anywhere in the tree, Bootstrap Config entry; what is already gone
        (404) is skipped, so a removal interrupted by a restart completes when run again. After
        a full delegation our own account comes back, exactly as it was."""

        async def work(client: IDMClientSession, journal: IUndoJournal) -> None:
            try:
                await ops.remove_account(client, journal, session.peer)
            except OperationFailed as e:
                if e.status != Status.NOT_FOUND:
                    raise
            await ops.revoke_rights(client, journal, ROOT, session.peer)
            try:
                await ops.remove_bootstrap_entry(client, journal, session.peer)
            except OperationFailed as e:
                if e.status != Status.NOT_FOUND:
                    raise
            if session.full:
                await rollback(client, self._own_account(session))
            await journal.discard()

        return self._run(session, work)
