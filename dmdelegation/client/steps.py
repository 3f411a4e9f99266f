"""The building blocks of the delegation operations: reads through an `IDMClientSession`, and
changes that are written to the undo journal (durably) before they are sent to the client.

Reads are not journaled; each change is: `apply` appends the step as *pending*, sends the command,
then marks the step *applied* or, when the client refused it, *failed*. If the outcome is unknown
(the command's Deferred failed), the step stays pending and `rollback` treats it as maybe applied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from twisted.internet.defer import Deferred

from dmdelegation.client.interfaces import (
    IDMClientSession,
    ISubtreeSnapshot,
    ISubtreeWriter,
    IUndoJournal,
)
from dmdelegation.client.journal_common import JournalMismatch
from dmdelegation.client.journal_entry import StepState
from dmdelegation.tree.acl import ACL
from dmdelegation.tree.journal import AddStep, DeleteStep, JournalStep, ReplaceACLStep, ReplaceStep
from dmdelegation.tree.results import NodeView, Result
from dmdelegation.tree.status import Status
from dmdelegation.tree.storage import NodeRecord
from dmdelegation.tree.subtree import RelativePath, instance_order
from dmdelegation.tree.uri import URI
from dmdelegation.tree.value import Format, Value

_T = TypeVar("_T")


class OperationFailed(Exception):
    """A delegation operation (or a rollback) stopped: which command, on which node, and why.

    ``status`` is the DM status the client answered, or None when the outcome is unknown.
    The message never carries a node's value.
    """

    def __init__(self, operation: str, command: str, uri: URI, status: Status | None) -> None:
        why = "outcome unknown" if status is None else f"DM status {int(status)}"
        super().__init__(f"{operation}: {command} {uri} failed ({why})")
        self.operation = operation
        self.command = command
        self.uri = uri
        self.status = status


class Incomplete(OperationFailed):
    """Several steps failed while the others went on (a rollback, a revocation): ``failures``,
    in the order met; the first one's operation, command, URI and status are this one's."""

    def __init__(self, failures: Sequence[OperationFailed]) -> None:
        if not failures:
            raise ValueError("an Incomplete needs a failure")
        first = failures[0]
        super().__init__(first.operation, first.command, first.uri, first.status)
        self.failures = tuple(failures)
        self.args = ("; ".join(str(f) for f in self.failures),)


def check_pair(session: IDMClientSession, journal: IUndoJournal) -> None:
    if (journal.device_id, journal.server_id) != (session.device_id, session.server_id):
        raise JournalMismatch(
            f"journal {journal.journal_id!r} is for {journal.server_id!r} on {journal.device_id!r}"
        )


async def send(operation: str, command: str, uri: URI, request: Callable[[], Deferred[_T]]) -> _T:
    """The client's answer to ``request``; `OperationFailed` (status None) if it never came."""
    try:
        return await request()
    except Exception as e:
        raise OperationFailed(operation, command, uri, None) from e


# Reads.


async def get_node(session: IDMClientSession, uri: URI, operation: str) -> NodeView | None:
    """The node at ``uri``, None if there is none; any other refusal stops the operation."""
    result = await send(operation, "Get", uri, lambda: session.get(uri))
    if result.status is Status.NOT_FOUND:
        return None
    if result.status is not Status.OK or result.node is None:
        raise OperationFailed(operation, "Get", uri, result.status)
    return result.node


async def require_node(session: IDMClientSession, uri: URI, operation: str) -> NodeView:
    node = await get_node(session, uri, operation)
    if node is None:
        raise OperationFailed(operation, "Get", uri, Status.NOT_FOUND)
    return node


async def own_acl(session: IDMClientSession, uri: URI, operation: str) -> ACL:
    result = await send(operation, "Get ACL", uri, lambda: session.get_acl(uri))
    if result.status is not Status.OK or result.acl is None:
        raise OperationFailed(operation, "Get ACL", uri, result.status)
    return result.acl


async def inherited_acl(session: IDMClientSession, uri: URI, operation: str) -> ACL:
    """The ACL a node at ``uri`` with an empty ACL would inherit: the nearest non-empty above it."""
    for ancestor in uri.ancestors():
        acl = await own_acl(session, ancestor, operation)
        if not acl.is_empty:
            return acl
    return ACL()


async def snapshot(session: IDMClientSession, top: URI, operation: str) -> list[NodeRecord]:
    """Every node at or below ``top`` with its value and own ACL, parents first.

    A Get and a Get ACL per node; one `ISubtreeSnapshot.get_subtree` if the session has it."""
    return (await snapshot_inheriting(session, top, operation))[0]


async def snapshot_inheriting(
    session: IDMClientSession, top: URI, operation: str
) -> tuple[list[NodeRecord], ACL | None]:
    """`snapshot`, and the ACL ``top`` inherits when the session read it along
    (`SubtreeResult.inherited`; else None: `inherited_acl` asks)."""
    if ISubtreeSnapshot.providedBy(session):
        reader = ISubtreeSnapshot(session)
        result = await send(operation, "Get", top, lambda: reader.get_subtree(top))
        if result.status is not Status.OK:
            failed = top if result.uri is None else result.uri
            raise OperationFailed(operation, result.command or "Get", failed, result.status)
        return list(result.records), result.inherited
    records: list[NodeRecord] = []
    stack = [top]
    while stack:
        uri = stack.pop()
        node = await require_node(session, uri, operation)
        records.append(NodeRecord(uri, node.value, await own_acl(session, uri, operation)))
        stack.extend(uri.child(name) for name in sorted(node.children, reverse=True))
    return records, None


async def find_instance(
    session: IDMClientSession, root: URI, server_id: str, operation: str
) -> URI | None:
    """The ``root/<X>`` whose ``ServerID`` leaf is ``server_id`` (DMAcc, BootConfig), or None."""
    return (await find_instance_in(session, root, server_id, operation))[1]


async def find_instance_in(
    session: IDMClientSession, root: URI, server_id: str, operation: str
) -> tuple[NodeView | None, URI | None]:
    """`find_instance`, with the ``root`` node as read (None if there is none)."""
    node = await get_node(session, root, operation)
    if node is None:
        return None, None
    wanted = Value(Format.CHR, server_id)
    for name in sorted(node.children, key=instance_order):
        leaf = await get_node(session, root.child(name, "ServerID"), operation)
        if leaf is not None and leaf.value == wanted:
            return node, root.child(name)
    return node, None


def free_instance_name(taken: tuple[str, ...]) -> str:
    """The smallest ``1``, ``2``, ... not among ``taken``."""
    used = set(taken)
    number = 1
    while str(number) in used:
        number += 1
    return str(number)


# Journaled changes.


class Changes:
    """The changes of one operation, each recorded in ``journal`` before it is sent."""

    def __init__(self, session: IDMClientSession, journal: IUndoJournal, operation: str) -> None:
        check_pair(session, journal)
        self.session = session
        self.journal = journal
        self.operation = operation

    async def _apply(
        self, step: JournalStep, command: str, request: Callable[[], Deferred[Result]]
    ) -> None:
        seq = await self.journal.append(step)
        result = await send(self.operation, command, step.uri, request)
        if result.status.is_success:
            await self.journal.mark(seq, StepState.APPLIED)
            return
        await self.journal.mark(seq, StepState.FAILED)
        raise OperationFailed(self.operation, command, step.uri, result.status)

    async def add(self, uri: URI, value: Value) -> None:
        await self._apply(AddStep(uri), "Add", lambda: self.session.add(uri, value))

    async def add_subtree(self, uri: URI, nodes: Sequence[tuple[RelativePath, Value]]) -> None:
        """A new subtree: one step and one atomic command through a session that can
        (`ISubtreeWriter`), else a step and an Add per node."""
        if ISubtreeWriter.providedBy(self.session):
            writer = ISubtreeWriter(self.session)
            await self._apply(AddStep(uri), "Add", lambda: writer.add_subtree(uri, nodes))
            return
        for path, value in nodes:
            await self.add(uri.child(*path), value)

    async def replace(self, uri: URI, value: Value, before: Value) -> None:
        step = ReplaceStep(uri, before)
        await self._apply(step, "Replace", lambda: self.session.replace(uri, value))

    async def replace_acl(self, uri: URI, acl: ACL, before: ACL) -> None:
        step = ReplaceACLStep(uri, before, acl)
        await self._apply(step, "Replace ACL", lambda: self.session.replace_acl(uri, acl))

    async def delete(self, uri: URI, before: list[NodeRecord]) -> None:
        step = DeleteStep(uri, tuple(before))
        await self._apply(step, "Delete", lambda: self.session.delete(uri))
