"""DMS-1's default :class:`IClientChanges`: the delegation operations of the DM session
component, over any ``IDMClientSession``, with one durable undo journal per session.

What each change does to the client (and why) is in docs/spec-notes.md, "Engine".

A delegation that completes keeps its *grant record* (`dmdelegation.client.revocation`): what it
created and the ACLs it changed, before and after, without a value. It is the process's undo
journal, so trimmed and kept until the delegation is revoked; the registry of delegations in
force names the process. The revocation restores exactly those nodes. Undo and revocation go on
past a step the client refuses (the delegated server's account and rights first), and are tried
again, a bounded number of times on the clock, before they are reported failed (the engine then
ends the process *unrestored* or *compromised*).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from dmdelegation.client import delegation as ops
from dmdelegation.client.interfaces import (
    IDMClientSession,
    IUndoJournal,
    IUndoJournalBatch,
    IUndoJournalStore,
)
from dmdelegation.client.journal_entry import JournalEntry
from dmdelegation.client.journal_store import OWN_ACCOUNT
from dmdelegation.client.revocation import (
    RECORD_COMPLETE,
    grant_record_id,
    granted,
    record_of,
    revoke_delegation,
    strip_server,
)
from dmdelegation.client.rollback import rollback
from dmdelegation.client.steps import Incomplete, OperationFailed
from dmdelegation.client.unit import run_together
from dmdelegation.engine.interfaces import ClientChangeFailed, IClientChanges
from dmdelegation.engine.model import Process, Role, Session
from dmdelegation.engine.recording import RecordingSession
from dmdelegation.protocol import DMAcc
from dmdelegation.store.interfaces import ISessionStore
from dmdelegation.tree import URI, BootConfigEntry, Status
from dmdelegation.tree.journal import JournalStep

log = Logger()

RETRY_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0)
"""Seconds between the attempts of an undo or a revocation that left steps undone (well within
the engine's timeout of a local action)."""

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
    """Every change of a session goes to the journal named by its session id first.

    ``clock`` times the further attempts of an undo or a revocation (``retry_delays`` apart);
    without one they follow at once. With ``commands`` (the session store), each DM command a
    session's changes send the device is recorded there for its trace
    (`dmdelegation.engine.recording`). ``registry`` (the session store) names the process that
    made each delegation in force, whose journal is then kept as the delegation's grant record;
    without it, the record is a copy, named `grant_record_id`."""

    def __init__(
        self,
        server_id: str,
        session_for: SessionFor,
        journals: IUndoJournalStore,
        *,
        clock: IReactorTime | None = None,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        commands: ISessionStore | None = None,
        registry: ISessionStore | None = None,
    ):
        self.server_id = server_id
        self.session_for = session_for
        self.journals = journals
        self.clock = clock
        self.retry_delays = tuple(retry_delays)
        self.commands = commands
        self.registry = registry

    def _pause(self, seconds: float) -> Deferred[None]:
        if self.clock is None:
            return succeed(None)
        return deferLater(self.clock, seconds, lambda: None)

    async def _attempts(
        self,
        session: Session,
        what: str,
        work: Callable[[], Coroutine[Any, Any, None]],
    ) -> None:
        """``work`` (which must be safe to run again: it finds what is done), tried again after
        each `Incomplete` while ``retry_delays`` last; the last failure is raised."""
        for delay in (*self.retry_delays, None):
            try:
                await work()
                return
            except Incomplete as e:
                log.warn(
                    "session {session_id}: {what} on {device_id} left {count} steps undone"
                    " ({error}); {next}",
                    session_id=session.session_id,
                    what=what,
                    device_id=session.device_id,
                    count=len(e.failures),
                    error=str(e),
                    next="giving up" if delay is None else f"trying again in {delay:g} s",
                )
                if delay is None:
                    raise
                await self._pause(delay)

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
            if self.commands is not None:
                client = RecordingSession(client, session.session_id, self.commands, self.clock)
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
            f"{OWN_ACCOUNT}{session.device_id}", session.device_id, self.server_id
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
        so that an undo interrupted by a restart and run again never re-creates it. What lets
        DMS-2 in goes first (the session's journal: its rights, its account or entry; then an
        account it bootstrapped); our own account comes back last, after a full delegation.
        A part that fails does not stop the others; the whole is tried again."""

        async def once(client: IDMClientSession, journal: IUndoJournal) -> None:
            failures: list[OperationFailed] = []

            async def attempt(work: Awaitable[object]) -> None:
                try:
                    await work
                except Incomplete as e:
                    failures.extend(e.failures)
                except OperationFailed as e:
                    failures.append(e)

            await attempt(rollback(client, journal))
            refused = [f.uri for f in failures if f.command == "Replace ACL"]
            if refused:  # at least DMS-2's rights go, where the old ACL cannot come back
                await attempt(self._strip(client, session, refused))
            if session.process is Process.DELEGATION_BOOTSTRAP:
                await attempt(self._remove_bootstrapped(client, session))
            if session.full:
                await attempt(rollback(client, self._own_account(session)))
            if failures:
                raise Incomplete(failures)

        async def work(client: IDMClientSession, journal: IUndoJournal) -> None:
            await self._attempts(session, "undo", lambda: once(client, journal))

        return self._run(session, work)

    async def _strip(self, client: IDMClientSession, session: Session, uris: list[URI]) -> None:
        journal = self.journals.open(
            f"{session.session_id}/stripped", session.device_id, self.server_id
        )
        try:
            failures = await strip_server(client, journal, uris, session.peer)
        finally:
            await journal.discard()
        if failures:
            raise Incomplete(failures)

    async def _remove_bootstrapped(self, client: IDMClientSession, session: Session) -> None:
        cleanup = self.journals.open(
            f"{session.session_id}/bootstrapped", session.device_id, self.server_id
        )
        try:
            await ops.remove_account(client, cleanup, session.peer)
        except OperationFailed as e:
            if e.status != Status.NOT_FOUND:
                raise
        finally:
            await cleanup.discard()  # it may hold the account's credentials: never kept

    async def _record(
        self, session: Session, opened: list[IUndoJournal]
    ) -> list[JournalStep] | None:
        """The grant record of the delegation of the session's subtree: in the journal of the
        process that made it (the registry names it), else in the journal named after the
        device and subtree (a record written as a copy); None if neither holds a complete one.
        Each journal opened is added to ``opened``."""
        device_id, subtree = session.device_id, session.subtree
        names = [grant_record_id(device_id, subtree)]
        if self.registry is not None:
            names[:0] = [
                d.session_id
                for d in self.registry.delegations(device_id, Role.DMS1)
                if d.subtree == subtree and d.session_id != session.session_id
            ]
        for name in names:
            opened.append(self.journals.open(name, device_id, self.server_id))
            steps = record_of([entry.step for entry in await opened[-1].entries()])
            if steps is not None:
                return steps
        return None

    def commit(self, session: Session) -> Deferred[None]:
        """The delegation holds: its undo journal is kept as its grant record, in place. The
        steps whose before-images may hold a credential go (those `granted` does not keep) and
        `RECORD_COMPLETE` is appended. Without a ``registry`` (to find it again by), or for a
        journal that cannot forget some of its steps (no `IUndoJournalBatch`), the record is
        written step by step under the name `grant_record_id` instead, and the journal is
        discarded. A commit run again finds its work done."""

        async def keep(journal: IUndoJournal) -> None:
            entries = await journal.entries()
            if not entries:  # nothing to keep (its record is made, under the record's name)
                await journal.discard()  # the header its opening wrote, if it did
                return
            if entries[-1].step == RECORD_COMPLETE:
                return
            kept = granted(entries)
            seqs = {entry.seq for entry in kept}
            drop = [entry.seq for entry in entries if entry.seq not in seqs]
            batch = IUndoJournalBatch(journal, None)
            if self.registry is None or (drop and batch is None):
                await self._write_record(session, kept)
                await journal.discard()
                return
            if drop:
                assert batch is not None
                await batch.forget(drop)
            await journal.append(RECORD_COMPLETE)

        # The journals only: no DM session with the device, to which nothing is sent.
        try:
            journal = self.journals.open(session.session_id, session.device_id, self.server_id)
        except Exception as e:
            return fail(_translate(e))
        return Deferred.fromCoroutine(keep(journal)).addErrback(_translated)

    async def _write_record(self, session: Session, kept: list[JournalEntry]) -> None:
        record = self.journals.open(
            grant_record_id(session.device_id, session.subtree), session.device_id, self.server_id
        )
        if record_of([entry.step for entry in await record.entries()]) is None:
            await record.discard()  # none yet, or one cut short by a crash
            for step in (*(entry.step for entry in kept), RECORD_COMPLETE):
                await record.append(step)

    def remove_delegate(self, session: Session) -> Deferred[None]:
        """Account, rights, Bootstrap Config entry: those the delegation's grant record names,
        put back exactly as they were (without a record, from a delegation made before records
        were kept: DMS-2's rights anywhere in the tree); what is already gone is skipped, so a
        removal interrupted by a restart completes when run again. After a full delegation our
        own account comes back, exactly as it was. A refused step does not stop the others;
        the whole is tried again, then reported. The record goes once everything is done."""

        records: list[IUndoJournal] = []

        async def once(client: IDMClientSession, journal: IUndoJournal) -> None:
            records.clear()
            steps = await self._record(session, records)
            if steps is None:
                log.warn(
                    "session {session_id}: no grant record of {subtree} on {device_id}; every"
                    " ACL of the tree is cleaned of {peer} instead",
                    session_id=session.session_id,
                    subtree=session.subtree,
                    device_id=session.device_id,
                    peer=session.peer,
                )
            failures = await revoke_delegation(client, journal, session.peer, steps)
            if session.full:
                try:
                    await rollback(client, self._own_account(session))
                except Incomplete as e:
                    failures.extend(e.failures)
                except OperationFailed as e:
                    failures.append(e)
            if failures:
                raise Incomplete(failures)
            await journal.discard()
            for record in records:
                await record.discard()

        async def work(client: IDMClientSession, journal: IUndoJournal) -> None:
            try:
                await self._attempts(session, "revocation", lambda: once(client, journal))
            except Exception:
                # The revocation's own steps are final (nothing undoes them) and may hold the
                # credentials of the account it deleted: they go with the process. The grant
                # record stays, for a revocation asked again (not a journal opened empty).
                await journal.discard()
                for record in records:
                    if not await record.entries():
                        await record.discard()
                raise

        return self._run(session, work)
