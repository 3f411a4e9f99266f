"""Revoking a delegation from its record: what the delegation changed, undone exactly.

A delegation that completes keeps a *grant record* (what `granted` keeps of its undo journal,
kept in place, or copied to the journal named `grant_record_id`): the nodes it created (their
URIs only) and, for every ACL it changed, the node's own ACL before and the ACL it wrote. Never a
value, so never a credential. `revoke_delegation` then touches only those nodes:

- the delegated server's account (``./DMAcc/<X>``) and Bootstrap Config entry, found by the
  recorded URI once its ``ServerID`` is checked (else looked up among the instances: a client
  bootstrapped by DMS-2 made the account itself), are deleted first;
- each changed ACL still as the delegation wrote it gets back exactly its old ACL (an empty one:
  the node inherits again); one changed since (an operator, or DMS-2, edited it) loses every
  mention of the delegated server and keeps the rest; one DMS-1 may no longer read gets its old
  ACL back (the only way to be sure the delegated server keeps nothing there); a node gone is
  skipped;
- ``./DMAcc`` or ``./BootConfig`` made by the delegation goes again once it has no child.

Nodes the delegated server created inside the subtree are its data and are left. Without a
record (a delegation made before records were kept) every ACL of the tree is walked and cleaned
of the server instead (`dmdelegation.client.delegation.revoke_rights` from the root).

A step the client refuses does not stop the others: every refusal is collected and returned, so
the caller can try the whole revocation again (each step finds what is already done) and report
what it could not do. Every change is journaled like any other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from functools import partial

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from dmdelegation.client.delegation import revoke_rights
from dmdelegation.client.interfaces import IDMClientSession, IUndoJournal
from dmdelegation.client.journal_entry import JournalEntry, StepState
from dmdelegation.client.journal_store import GRANT_RECORD
from dmdelegation.client.steps import (
    Changes,
    OperationFailed,
    find_instance,
    get_node,
    send,
    snapshot,
)
from dmdelegation.tree.acl import ACL, EMPTY
from dmdelegation.tree.bootconfig import BOOTCONFIG_ROOT
from dmdelegation.tree.dmacc import DMACC_ROOT
from dmdelegation.tree.journal import AddStep, JournalStep, ReplaceACLStep
from dmdelegation.tree.status import Status
from dmdelegation.tree.uri import ROOT, URI
from dmdelegation.tree.value import Format, Value

log = Logger()

OPERATION = "revoke_delegation"
SERVER_ID = "ServerID"


def grant_record_id(device_id: str, subtree: str) -> str:
    """The name of the journal that keeps a copy of the grant record of the delegation of
    ``subtree`` of ``device_id`` (delegations in force never overlap, so device and subtree name
    one), when the undo journal itself is not kept as the record."""
    return f"{GRANT_RECORD}{device_id}:{subtree}"


RECORD_COMPLETE = ReplaceACLStep(ROOT, EMPTY, EMPTY)
"""The last step of a grant record written to the end: a change no client can have made (the
root's ACL is never empty). A record without it was cut short (the process died while writing
it) and is not used; `record_of` says so."""


def record_of(steps: Sequence[JournalStep]) -> list[JournalStep] | None:
    """The grant record held by a record journal's ``steps``; None if there is none, or it was
    cut short."""
    if not steps or steps[-1] != RECORD_COMPLETE:
        return None
    return list(steps[:-1])


def granted(entries: Sequence[JournalEntry]) -> list[JournalEntry]:
    """What a completed delegation's journal keeps as its grant record: its Adds (URIs only)
    and its ACL changes (before and after), in order; not its Deletes or Replaces, whose
    before-images may hold credentials, and none of a step the client refused or that was
    undone."""
    kept = (StepState.APPLIED, StepState.PENDING)
    return [
        entry
        for entry in entries
        if entry.state in kept and isinstance(entry.step, AddStep | ReplaceACLStep)
    ]


async def _remove_instance(
    changes: Changes, root: URI, server_id: str, created: Sequence[URI]
) -> None:
    """Delete ``server_id``'s ``root/<X>``: the recorded one if its ServerID says so, else the
    one found among the instances; none is fine (already removed)."""
    session, operation = changes.session, changes.operation
    wanted = Value(Format.CHR, server_id)
    found: URI | None = None
    for uri in created:
        if uri.parent != root:
            continue
        leaf = await get_node(session, uri.child(SERVER_ID), operation)
        if leaf is not None and leaf.value == wanted:
            found = uri
            break
    if found is None:
        found = await find_instance(session, root, server_id, operation)
    if found is None:
        return
    await changes.delete(found, await snapshot(session, found, operation))
    log.info(
        "revocation removed {uri} of {peer} on {device_id}",
        uri=str(found),
        peer=server_id,
        device_id=session.device_id,
    )


async def _remove_if_childless(changes: Changes, uri: URI) -> None:
    session, operation = changes.session, changes.operation
    node = await get_node(session, uri, operation)
    if node is None or node.children:
        return
    await changes.delete(uri, await snapshot(session, uri, operation))


async def _restore_acl(changes: Changes, step: ReplaceACLStep, server_id: str) -> None:
    session, operation = changes.session, changes.operation
    uri = step.uri
    result = await send(operation, "Get ACL", uri, lambda: session.get_acl(uri))
    if result.status is Status.NOT_FOUND:
        log.info("revocation: {uri} is gone, nothing to restore", uri=str(uri))
        return
    if result.status is Status.PERMISSION_DENIED:
        log.warn(
            "revocation: the ACL of {uri} cannot be read any more; its ACL from before the"
            " delegation is put back",
            uri=str(uri),
        )
        # What it holds now is unknown: the journal's before-image is what the grant wrote.
        await changes.replace_acl(uri, step.before, step.after or step.before)
        return
    if result.status is not Status.OK or result.acl is None:
        raise OperationFailed(operation, "Get ACL", uri, result.status)
    current = result.acl
    if current == step.before:
        return
    stripped = step.after.without(server_id) if step.after is not None else None
    if current in (step.after, stripped):  # as the grant left it, or as a refused restore did
        target = step.before
    else:
        target = current.without(server_id)
        log.info(
            "revocation: the ACL of {uri} changed since the delegation; {peer} is removed from it"
            " and the rest kept",
            uri=str(uri),
            peer=server_id,
        )
        if target == current:
            return
        if uri.is_root and target.is_empty:
            raise OperationFailed(operation, "Replace ACL", uri, Status.COMMAND_NOT_ALLOWED)
    try:
        await changes.replace_acl(uri, target, current)
    except OperationFailed as e:
        if e.status is None or target != step.before:
            raise
        # The client will not take the old ACL back (some refuse an empty one): at least the
        # delegated server's rights go; the node stays reported as not restored.
        await _strip(changes, uri, current, server_id)
        raise


async def _strip(changes: Changes, uri: URI, current: ACL, server_id: str) -> None:
    stripped = current.without(server_id)
    if stripped != current and not stripped.is_empty:
        await changes.replace_acl(uri, stripped, current)
        log.warn(
            "{uri} could not get its old ACL back; {peer} was removed from its ACL instead",
            uri=str(uri),
            peer=server_id,
        )


def strip_server(
    session: IDMClientSession, journal: IUndoJournal, uris: Sequence[URI], server_id: str
) -> Deferred[list[OperationFailed]]:
    """Remove the mentions of ``server_id`` from the ACL of each of ``uris`` (where that leaves
    an ACL), when a rollback could not restore them: a fallback that takes the delegated
    server's rights away, not the tree back. ``journal`` should be one of its own (a step in the
    rollback's journal would be undone first, giving the rights back). Fires with the failures."""

    async def run() -> list[OperationFailed]:
        changes = Changes(session, journal, OPERATION)
        failures: list[OperationFailed] = []
        for uri in dict.fromkeys(uris):
            try:
                result = await send(OPERATION, "Get ACL", uri, partial(session.get_acl, uri))
                if result.status is Status.OK and result.acl is not None:
                    await _strip(changes, uri, result.acl, server_id)
            except OperationFailed as e:
                failures.append(e)
        return failures

    return Deferred.fromCoroutine(run())


def revoke_delegation(
    session: IDMClientSession,
    journal: IUndoJournal,
    server_id: str,
    record: Sequence[JournalStep] | None,
) -> Deferred[list[OperationFailed]]:
    """Remove ``server_id``'s account, rights and Bootstrap Config entry, as ``record`` (the
    delegation's grant record; None: no record, walk the tree) says they were made. Fires with
    the steps the client refused or left unanswered (the rest is done); ValueError for the
    session's own server."""

    async def run() -> list[OperationFailed]:
        if server_id == session.server_id:
            raise ValueError("a session cannot revoke its own server")
        changes = Changes(session, journal, OPERATION)
        failures: list[OperationFailed] = []

        async def attempt(work: Awaitable[object]) -> None:
            try:
                await work
            except OperationFailed as e:
                failures.append(e)
                log.warn("revocation step failed, the others go on: {error}", error=str(e))

        steps = list(record or ())
        created = [step.uri for step in steps if isinstance(step, AddStep)]
        # First what lets the delegated server in: its account, then its rights.
        await attempt(_remove_instance(changes, DMACC_ROOT, server_id, created))
        if record is None:
            await attempt(revoke_rights(session, journal, ROOT, server_id))
        else:
            for step in reversed(steps):
                if isinstance(step, ReplaceACLStep) and step.after is not None:
                    await attempt(_restore_acl(changes, step, server_id))
        await attempt(_remove_instance(changes, BOOTCONFIG_ROOT, server_id, created))
        for root in (DMACC_ROOT, BOOTCONFIG_ROOT):
            if root in created:
                await attempt(_remove_if_childless(changes, root))
        return failures

    return Deferred.fromCoroutine(run())


__all__ = [
    "RECORD_COMPLETE",
    "grant_record_id",
    "granted",
    "record_of",
    "revoke_delegation",
    "strip_server",
]
