"""Undo every change recorded in a journal, newest first, so the client is exactly as before.

Each undo action is recorded as done before the next one is sent, and each is idempotent (a
Replace ACL denied when sent again counts as done if the node already has that ACL: putting back
an ACL may take away the very right that putting it back needs), so a rollback stopped by a
failure or a restart is finished by running `rollback` again (with a journal opened again from
disk). For a step whose outcome was never known (still *pending*: the command was sent, or about
to be, and no answer was recorded), a read first tells whether the client still shows the whole
before-image; if so there is nothing to undo (and undoing could need rights the refused command
never had). Once every step is undone, the journal is discarded with its before-images.

A step the client refuses to undo (or whose answer is lost) does not stop the rollback: the older
steps are undone all the same (those that let a delegated server in, its account above all, must
not stay because an unrelated restore failed), and the failures are raised together at the end
(`dmdelegation.client.steps.Incomplete`); the journal keeps exactly what is left.

One shortcut (`dmdelegation.tree.journal.covering_add`): when the newest steps left are all at or
below a node that an older step of them added (an account, and the nodes and rights given inside
it), one Delete of that node undoes them all; they are then recorded undone together (newest
first, one by one, through a journal without `IUndoJournalBatch`). Until that record is written,
a rollback run again finds the same steps and takes the same shortcut; the Delete tolerates 404.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from dmdelegation.client.interfaces import IDMClientSession, IUndoJournal, IUndoJournalBatch
from dmdelegation.client.journal_entry import JournalEntry, StepState
from dmdelegation.client.steps import Incomplete, OperationFailed, check_pair, send, snapshot
from dmdelegation.tree.journal import (
    AddStep,
    DeleteStep,
    JournalStep,
    ReplaceACLStep,
    ReplaceStep,
    UndoAction,
    UndoKind,
    covering_add,
    undo_actions,
)
from dmdelegation.tree.results import Result
from dmdelegation.tree.status import Status
from dmdelegation.tree.uri import URI

log = Logger()

OPERATION = "rollback"


def _request(session: IDMClientSession, action: UndoAction) -> Deferred[Result]:
    if action.kind is UndoKind.DELETE:
        return session.delete(action.uri)
    if action.kind is UndoKind.REPLACE_ACL:
        assert action.acl is not None
        return session.replace_acl(action.uri, action.acl)
    assert action.value is not None
    if action.kind is UndoKind.ADD:
        return session.add(action.uri, action.value)
    return session.replace(action.uri, action.value)


async def _acl_in_place(session: IDMClientSession, action: UndoAction) -> bool:
    """True when ``action`` is a Replace ACL and the node already has the ACL it sets."""
    if action.kind is not UndoKind.REPLACE_ACL:
        return False  # an Add tolerates 418, a Delete 404; a Replace changes no right
    uri = action.uri
    acl_result = await send(OPERATION, "Get ACL", uri, lambda: session.get_acl(uri))
    return acl_result.status is Status.OK and acl_result.acl == action.acl


async def _undo(session: IDMClientSession, action: UndoAction) -> None:
    result = await send(OPERATION, action.kind.value, action.uri, lambda: _request(session, action))
    if result.status.is_success or result.status is action.tolerated:
        return
    # Sent again after a lost reply or a stop before it was recorded, an action may be denied
    # because its first sending took the right it needs (the ACL of a re-created node put back
    # to one that no longer gives its re-creator Replace): denied, but already in effect.
    if result.status is Status.PERMISSION_DENIED and await _acl_in_place(session, action):
        return
    raise OperationFailed(OPERATION, action.kind.value, action.uri, result.status)


async def _never_added(session: IDMClientSession, uri: URI, adds: Sequence[URI]) -> bool:
    """Whether ``uri`` (found missing) lies under one of ``adds``, the nodes that earlier steps
    of unknown outcome of the journal add, that is missing too: that Add never took effect, so
    nothing of the steps below it did either. (The steps after the one in hand are undone
    already, so none of them removed it.) A client that lost a whole operation leaves this:
    `dmdelegation.client.unit`."""
    for added in adds:
        if uri.segments[: len(added.segments)] != added.segments:
            continue
        if added == uri:
            return True
        result = await send(OPERATION, "Get", added, partial(session.get, added))
        if result.status is Status.NOT_FOUND:
            return True
    return False


async def _still_as_before(
    session: IDMClientSession, step: JournalStep, adds: Sequence[URI] = ()
) -> bool:
    """For a step whose outcome is unknown (pending, no undo progress recorded): True when the
    client shows the step's whole before-image, so there is nothing to undo.

    That is the case when the step was never applied, and also when it was and its undo has
    already put everything back (an undo action applied, then its reply lost or the process
    stopped before the step was marked undone). ``adds``: see `_never_added`."""
    uri = step.uri
    if isinstance(step, ReplaceACLStep):
        acl_result = await send(OPERATION, "Get ACL", uri, lambda: session.get_acl(uri))
        if acl_result.status is Status.NOT_FOUND and await _never_added(session, uri, adds):
            return True
        if acl_result.status is not Status.OK:
            raise OperationFailed(OPERATION, "Get ACL", uri, acl_result.status)
        return acl_result.acl == step.before
    result = await send(OPERATION, "Get", uri, lambda: session.get(uri))
    if result.status is Status.NOT_FOUND:
        return isinstance(step, AddStep) or await _never_added(session, uri, adds)
    if result.status is not Status.OK or result.node is None:
        raise OperationFailed(OPERATION, "Get", uri, result.status)
    if isinstance(step, ReplaceStep):
        return result.node.value == step.before
    if isinstance(step, DeleteStep):
        # The node being there does not say the Delete was never applied: the first undo
        # action (the Add of that node) may have been applied before a lost reply or a restart,
        # with no undo progress recorded yet. Only the whole before-image says so.
        return set(await snapshot(session, uri, OPERATION)) == set(step.before)
    return False  # an Add: the node is there


async def _undo_entry(
    session: IDMClientSession,
    journal: IUndoJournal,
    entry: JournalEntry,
    earlier: Sequence[JournalEntry] = (),
) -> None:
    step = entry.step
    unknown = entry.state is StepState.PENDING and entry.undo_progress == 0
    adds = [
        e.step.uri
        for e in earlier
        if isinstance(e.step, AddStep) and e.state is StepState.PENDING and e.undo_progress == 0
    ]
    if unknown and await _still_as_before(session, step, adds):
        await journal.mark(entry.seq, StepState.UNDONE)
        return
    actions = undo_actions(step)
    for index in range(entry.undo_progress, len(actions)):
        await _undo(session, actions[index])
        if index + 1 < len(actions):  # the last one is recorded by marking the step undone
            await journal.record_undo_progress(entry.seq, index + 1)
    await journal.mark(entry.seq, StepState.UNDONE)


async def _undo_covered(
    session: IDMClientSession, journal: IUndoJournal, entries: Sequence[JournalEntry]
) -> None:
    """Undo ``entries`` (oldest first, the first an Add that covers the rest) with one Delete of
    the node the first one added; then record them all undone, newest first (together if the
    journal can): until then, running the rollback again takes the same shortcut."""
    top = entries[0].step.uri
    await _undo(session, UndoAction(UndoKind.DELETE, top, tolerated=Status.NOT_FOUND))
    seqs = [entry.seq for entry in reversed(entries)]
    if IUndoJournalBatch.providedBy(journal):
        await IUndoJournalBatch(journal).mark_many(seqs, StepState.UNDONE)
        return
    for seq in seqs:
        await journal.mark(seq, StepState.UNDONE)


async def _settled_below(
    journal: IUndoJournal, top: URI, failed: list[tuple[JournalEntry, OperationFailed]]
) -> list[tuple[JournalEntry, OperationFailed]]:
    """The node ``top`` that an older step added is deleted again: the newer steps at or below
    it whose undo failed have nothing left to undo. They are recorded undone; the rest is
    returned."""
    left = []
    for entry, error in failed:
        if entry.step.uri.segments[: len(top.segments)] == top.segments:
            await journal.mark(entry.seq, StepState.UNDONE)
        else:
            left.append((entry, error))
    return left


def _waits_for(older: JournalStep, failed: JournalStep) -> bool:
    """Whether the undo of ``older`` must wait for that of ``failed`` (a newer step): the newer
    one added or deleted nodes at, above or below it, or changed the same node the same way.
    (A node's ACL is its own: the ACLs of other nodes, nested or not, are put back apart; and
    an older Add that covers a newer failed step settles it by deleting its node.)"""
    if isinstance(failed, AddStep | DeleteStep):
        if isinstance(older, AddStep) and failed.uri.is_within(older.uri):
            return False  # the Delete of the older Add settles the newer step below it
        a, b = older.uri.segments, failed.uri.segments
        n = min(len(a), len(b))
        return a[:n] == b[:n]
    return type(older) is type(failed) and older.uri == failed.uri


def rollback(session: IDMClientSession, journal: IUndoJournal) -> Deferred[int]:
    """Undo every step of ``journal`` through ``session``; fires with the number of steps undone.

    ``session`` must act as the journal's server on the journal's device (else ValueError). A step
    whose undo fails (refused, or its answer lost) does not stop the others, older ones included,
    except the older steps whose undo must come after it (`_waits_for`), which wait for it;
    then `Incomplete` (an `OperationFailed`) names every failure and the journal keeps what is
    left to undo: running `rollback` again tries exactly that. A failed step below a node an older
    step added is settled when that node is deleted again.
    """

    async def run() -> int:
        check_pair(session, journal)
        live = [
            entry
            for entry in await journal.entries()
            if entry.state not in (StepState.FAILED, StepState.UNDONE)
        ]
        failed: list[tuple[JournalEntry, OperationFailed]] = []
        end = len(live)
        while end > 0:
            start = covering_add([entry.step for entry in live[:end]])
            taken = [live[end - 1]] if start is None else live[start:end]
            # An older step on the same nodes as one whose undo failed waits for it: undone
            # out of order they would not give back the tree as it was (the next rollback
            # takes them both, newest first).
            blocking = next(
                (e for entry, e in failed for t in taken if _waits_for(t.step, entry.step)),
                None,
            )
            if blocking is not None:
                failed.extend((entry, blocking) for entry in taken)
                end -= len(taken)
                continue
            try:
                if start is None:
                    await _undo_entry(session, journal, taken[0], live[: end - 1])
                else:
                    await _undo_covered(session, journal, taken)
            except OperationFailed as e:
                failed.extend((entry, e) for entry in taken)
                log.warn(
                    "rollback of journal {journal_id} on {device_id}: {error}; the other steps"
                    " go on",
                    journal_id=journal.journal_id,
                    device_id=session.device_id,
                    error=str(e),
                )
            else:
                if isinstance(taken[0].step, AddStep):
                    failed = await _settled_below(journal, taken[0].step.uri, failed)
            end -= len(taken)
        if failed:
            raise Incomplete(list(dict.fromkeys(e for _, e in failed)))
        await journal.discard()
        log.info(
            "rolled back {count} steps of journal {journal_id} on {device_id}",
            count=len(live),
            journal_id=journal.journal_id,
            device_id=session.device_id,
        )
        return len(live)

    return Deferred.fromCoroutine(run())
