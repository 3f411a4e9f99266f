"""The delegation operations, built once on `IDMClientSession` so that hosts never re-implement
them: what DMS-1 does to a DM Client during a delegation or a revocation.

Each operation first reads what it needs (nothing is changed if a read or a check refuses), then
makes its changes one DM command at a time, each recorded in the undo journal before it is sent
(`dmdelegation.client.steps.Changes`). An operation that fails midway leaves its applied steps in
the journal; `dmdelegation.client.rollback.rollback` undoes them (and everything before them).
Every function returns a Deferred; failures are `OperationFailed` (with the DM status) or, for
arguments that can never work, `ValueError`.
"""

from __future__ import annotations

from collections.abc import Iterable

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from dmdelegation.client.interfaces import IDMClientSession, IUndoJournal
from dmdelegation.client.steps import (
    Changes,
    OperationFailed,
    find_instance,
    find_instance_in,
    free_instance_name,
    get_node,
    inherited_acl,
    snapshot,
    snapshot_inheriting,
)
from dmdelegation.protocol.dmacc import DMAcc
from dmdelegation.tree.acl import ACL, ALL_COMMANDS, Command
from dmdelegation.tree.bootconfig import BOOTCONFIG_ROOT, BootConfigEntry, bootconfig_nodes
from dmdelegation.tree.dmacc import DMACC_ROOT, NO_AUTO_INITIAL_SESSION, dmacc_nodes
from dmdelegation.tree.rights import RootACLError, server_removal
from dmdelegation.tree.status import Status
from dmdelegation.tree.subtree import RelativePath
from dmdelegation.tree.uri import ROOT, URI
from dmdelegation.tree.value import Value

log = Logger()

ACCOUNT_RIGHTS: tuple[Command, ...] = (Command.GET, Command.REPLACE)
"""What a new account's own server may do on its ``./DMAcc/<X>`` unless told otherwise."""


async def _add_instance(
    changes: Changes, root: URI, server_id: str, nodes: list[tuple[RelativePath, Value]]
) -> URI:
    """Add ``root/<X>`` (and ``root`` if missing) unless ``server_id`` already has one there."""
    operation, session = changes.operation, changes.session
    parent, existing = await find_instance_in(session, root, server_id, operation)
    if existing is not None:
        raise OperationFailed(operation, "Add", existing, Status.ALREADY_EXISTS)
    base = root.child(free_instance_name(() if parent is None else parent.children))
    if parent is None:
        await changes.add(root, Value.interior())
    await changes.add_subtree(base, nodes)
    return base


async def _remove_instance(changes: Changes, root: URI, server_id: str) -> URI:
    operation, session = changes.operation, changes.session
    found = await find_instance(session, root, server_id, operation)
    if found is None:
        raise OperationFailed(operation, "Delete", root, Status.NOT_FOUND)
    await changes.delete(found, await snapshot(session, found, operation))
    return found


async def _grant(changes: Changes, top: URI, server_id: str, commands: tuple[Command, ...]) -> None:
    operation, session = changes.operation, changes.session
    planned: list[tuple[URI, ACL, ACL]] = []
    records, inherited = await snapshot_inheriting(session, top, operation)
    for index, record in enumerate(records):
        if record.acl.is_empty and index > 0:
            continue  # inherits from a node of the subtree that gets the grant
        base = record.acl
        if base.is_empty:
            base = (
                inherited if inherited is not None else await inherited_acl(session, top, operation)
            )
        new = base.granting(server_id, commands)
        if new != record.acl:
            planned.append((record.uri, record.acl, new))
    for uri, before, after in planned:
        await changes.replace_acl(uri, after, before)


async def _revoke(changes: Changes, top: URI, server_id: str) -> None:
    operation, session = changes.operation, changes.session
    try:
        planned = server_removal(await snapshot(session, top, operation), server_id)
    except RootACLError:
        raise OperationFailed(operation, "Replace ACL", ROOT, Status.COMMAND_NOT_ALLOWED) from None
    for uri, before, after in planned:
        await changes.replace_acl(uri, after, before)


def create_account(
    session: IDMClientSession,
    journal: IUndoJournal,
    account: DMAcc,
    *,
    no_auto_initial_session: bool | None = True,
    account_rights: Iterable[Command] = ACCOUNT_RIGHTS,
) -> Deferred[URI]:
    """Create ``./DMAcc/<X>`` for ``account`` (and ``./DMAcc`` if missing); fires with its URI.

    ``no_auto_initial_session`` True (the default) tells the client not to open a session to the
    new server by itself; None writes no such leaf. ``account_rights`` are then granted to the
    account's server on its own account. 418 if that server already has an account.
    """
    rights = tuple(account_rights)

    async def run() -> URI:
        changes = Changes(session, journal, "create_account")
        nodes = dmacc_nodes(account, no_auto_initial_session=no_auto_initial_session)
        uri = await _add_instance(changes, DMACC_ROOT, account.server_id, nodes)
        if rights:
            await _grant(changes, uri, account.server_id, rights)
        log.info(
            "created {uri} for {account_server_id} on {device_id}",
            uri=str(uri),
            account_server_id=account.server_id,
            device_id=session.device_id,
        )
        return uri

    return Deferred.fromCoroutine(run())


def remove_account(
    session: IDMClientSession, journal: IUndoJournal, server_id: str
) -> Deferred[URI]:
    """Delete the ``./DMAcc/<X>`` of ``server_id``; fires with its URI (404 if there is none)."""

    async def run() -> URI:
        uri = await _remove_instance(
            Changes(session, journal, "remove_account"), DMACC_ROOT, server_id
        )
        log.info("removed {uri} on {device_id}", uri=str(uri), device_id=session.device_id)
        return uri

    return Deferred.fromCoroutine(run())


def delete_own_account(session: IDMClientSession, journal: IUndoJournal) -> Deferred[URI]:
    """Full delegation: delete the ``./DMAcc/<X>`` of the session's own server."""

    async def run() -> URI:
        changes = Changes(session, journal, "delete_own_account")
        uri = await _remove_instance(changes, DMACC_ROOT, session.server_id)
        log.info(
            "deleted own account {uri} on {device_id}", uri=str(uri), device_id=session.device_id
        )
        return uri

    return Deferred.fromCoroutine(run())


def grant_rights(
    session: IDMClientSession,
    journal: IUndoJournal,
    subtree: URI,
    server_id: str,
    commands: Iterable[Command] = ALL_COMMANDS,
) -> Deferred[None]:
    """Give ``server_id`` ``commands`` on every node of ``subtree``.

    The top of the subtree gets its effective ACL (its own, or the one it inherits) plus the grant;
    every node below with an ACL of its own gets the grant added; nodes below with an empty ACL
    inherit it. Other servers keep exactly the rights they had.
    """
    wanted = tuple(commands)

    async def run() -> None:
        await _grant(Changes(session, journal, "grant_rights"), subtree, server_id, wanted)

    return Deferred.fromCoroutine(run())


def revoke_rights(
    session: IDMClientSession, journal: IUndoJournal, subtree: URI, server_id: str
) -> Deferred[None]:
    """Remove every explicit mention of ``server_id`` from the ACLs in ``subtree``.

    A command left with no server disappears, an ACL left empty inherits, ``*`` stays. Refused
    (nothing changed): revoking the session's own server (ValueError: it could no longer undo),
    and leaving the root ACL empty (405).
    """

    async def run() -> None:
        if server_id == session.server_id:
            raise ValueError("a session cannot revoke its own server's rights")
        await _revoke(Changes(session, journal, "revoke_rights"), subtree, server_id)

    return Deferred.fromCoroutine(run())


def add_bootstrap_entry(
    session: IDMClientSession, journal: IUndoJournal, entry: BootConfigEntry
) -> Deferred[URI]:
    """Add ``./BootConfig/<X>`` (and ``./BootConfig`` if missing); 418 if the server has one."""

    async def run() -> URI:
        changes = Changes(session, journal, "add_bootstrap_entry")
        nodes = bootconfig_nodes(entry)
        return await _add_instance(changes, BOOTCONFIG_ROOT, entry.server_id, nodes)

    return Deferred.fromCoroutine(run())


def remove_bootstrap_entry(
    session: IDMClientSession, journal: IUndoJournal, server_id: str
) -> Deferred[URI]:
    """Delete the ``./BootConfig/<X>`` of ``server_id`` (404 if there is none)."""

    async def run() -> URI:
        changes = Changes(session, journal, "remove_bootstrap_entry")
        return await _remove_instance(changes, BOOTCONFIG_ROOT, server_id)

    return Deferred.fromCoroutine(run())


def set_no_auto_initial_session(
    session: IDMClientSession, journal: IUndoJournal, server_id: str, value: bool
) -> Deferred[None]:
    """Set ``NoAutoInitialSession`` of ``server_id``'s account (True: the client must not open a
    session to that server by itself); adds the leaf if missing, 404 if there is no account."""

    async def run() -> None:
        changes = Changes(session, journal, "set_no_auto_initial_session")
        account = await find_instance(session, DMACC_ROOT, server_id, changes.operation)
        if account is None:
            raise OperationFailed(changes.operation, "Get", DMACC_ROOT, Status.NOT_FOUND)
        uri = account.child(NO_AUTO_INITIAL_SESSION)
        wanted = Value.boolean(value)
        current = await get_node(session, uri, changes.operation)
        if current is None:
            await changes.add(uri, wanted)
        elif current.value != wanted:
            await changes.replace(uri, wanted, current.value)

    return Deferred.fromCoroutine(run())


__all__ = [
    "ACCOUNT_RIGHTS",
    "OperationFailed",
    "add_bootstrap_entry",
    "create_account",
    "delete_own_account",
    "grant_rights",
    "remove_account",
    "remove_bootstrap_entry",
    "revoke_rights",
    "set_no_auto_initial_session",
]
