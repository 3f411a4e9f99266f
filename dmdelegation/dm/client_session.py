"""`IDMClientSession` over DM sessions: each command is queued for the device and carried out in
its next DM session; the Deferred fires with the device's own status code (and what a Get
read), or fails with `OutcomeUnknown` if the command was sent and its answer never came.

A device that carries out Atomic gets `AtomicDMClientSession`, which also provides
`ISubtreeWriter`: a new subtree is one Atomic of Adds. Otherwise the delegation operations add
node by node, each Add journaled, and the journal's undo takes them back on failure.

Interop rule learnt from real clients: some do not let a leaf that holds a secret (``AAuthSecret``,
``AAuthData``) inherit its ACL. After every Add that creates such leaves, the session reads the
ACL they inherit and sets it on each of them explicitly (the rights are the same; a later grant
then reaches them as nodes with an ACL of their own).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from twisted.internet.defer import Deferred, gatherResults
from twisted.logger import Logger
from zope.interface import implementer

from dmdelegation.client.interfaces import IDMClientSession, ISubtreeWriter
from dmdelegation.dm import message as sm
from dmdelegation.dm.pending import Answer, Pending
from dmdelegation.dm.values import BadValue, item_for, to_status, value_of
from dmdelegation.tree.acl import ACL, ACLError
from dmdelegation.tree.results import ACLResult, GetResult, NodeView, Result
from dmdelegation.tree.secrets import is_secret
from dmdelegation.tree.status import Status
from dmdelegation.tree.subtree import RelativePath
from dmdelegation.tree.uri import URI
from dmdelegation.tree.value import Value

log = Logger()

_SKIPPED = (200, 201, 215, 216)  # in an Atomic: done, not executed, rolled back


class OperationSink(Protocol):
    def enqueue(self, device_id: str, pending: Pending) -> None: ...


@implementer(IDMClientSession)
class DMClientSession:
    def __init__(self, sink: OperationSink, device_id: str, server_id: str) -> None:
        self._sink = sink
        self.device_id = device_id
        self.server_id = server_id

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.server_id!r} on {self.device_id!r}>"

    def _status(self, answer: Answer, ids: dict[str, str], command: str) -> Status:
        return to_status(answer.statuses[ids[""]].code, command=command, device_id=self.device_id)

    def _queue(self, command: sm.Command, finish: Any, label: str) -> Deferred[Any]:
        pending = Pending(command=command, finish=finish, label=label)
        self._sink.enqueue(self.device_id, pending)
        return pending.deferred

    def _single(self, name: str, item: sm.Item, label: str) -> Deferred[Result]:
        def finish(answer: Answer, ids: dict[str, str]) -> Result:
            return Result(self._status(answer, ids, name))

        return self._queue(sm.Command(name=name, cmd_id="", items=(item,)), finish, label)

    def get(self, uri: URI) -> Deferred[GetResult]:
        def finish(answer: Answer, ids: dict[str, str]) -> GetResult:
            status = self._status(answer, ids, "Get")
            if status is not Status.OK:
                return GetResult(status)
            items = [i for r in answer.results for i in r.items]
            if len(items) != 1:
                log.warn(
                    "{device_id}: Get {uri} answered with no single item",
                    device_id=self.device_id,
                    uri=str(uri),
                )
                return GetResult(Status.COMMAND_FAILED)
            try:
                value, children = value_of(items[0])
            except (BadValue, ValueError) as e:
                log.warn(
                    "{device_id}: Get {uri} answered a bad value ({reason})",
                    device_id=self.device_id,
                    uri=str(uri),
                    reason=str(e),
                )
                return GetResult(Status.COMMAND_FAILED)
            return GetResult(Status.OK, NodeView(value, children))

        command = sm.Command(name="Get", cmd_id="", items=(sm.Item(target=str(uri)),))
        return self._queue(command, finish, f"Get {uri}")

    def add(self, uri: URI, value: Value) -> Deferred[Result]:
        added = self._single("Add", item_for(uri, value), f"Add {uri}")
        if not is_secret(uri) or value.is_interior:
            return added
        return self._then_protect(added, [uri])

    def replace(self, uri: URI, value: Value) -> Deferred[Result]:
        return self._single("Replace", item_for(uri, value), f"Replace {uri}")

    def delete(self, uri: URI) -> Deferred[Result]:
        return self._single("Delete", sm.Item(target=str(uri)), f"Delete {uri}")

    def get_acl(self, uri: URI) -> Deferred[ACLResult]:
        def finish(answer: Answer, ids: dict[str, str]) -> ACLResult:
            status = self._status(answer, ids, "Get ACL")
            if status is not Status.OK:
                return ACLResult(status)
            items = [i for r in answer.results for i in r.items]
            try:
                if len(items) != 1:
                    raise ACLError("no single item")
                data = items[0].data
                text = data.decode("utf-8") if isinstance(data, bytes) else (data or "")
                return ACLResult(Status.OK, ACL.parse(text.strip()))
            except (ACLError, UnicodeDecodeError, ValueError):
                log.warn(
                    "{device_id}: Get {uri}?prop=ACL answered no valid ACL",
                    device_id=self.device_id,
                    uri=str(uri),
                )
                return ACLResult(Status.COMMAND_FAILED)

        target = str(uri) + sm.ACL_SUFFIX
        command = sm.Command(name="Get", cmd_id="", items=(sm.Item(target=target),))
        return self._queue(command, finish, f"Get {target}")

    def replace_acl(self, uri: URI, acl: ACL) -> Deferred[Result]:
        target = str(uri) + sm.ACL_SUFFIX
        item = sm.Item(target=target, meta=sm.Meta(format="chr"), data=acl.render())
        return self._single("Replace", item, f"Replace {target}")

    # The secret leaves' ACLs.

    def _then_protect(self, added: Deferred[Result], leaves: list[URI]) -> Deferred[Result]:
        async def run() -> Result:
            result = await added
            if result.status.is_success:
                try:
                    await self._protect(leaves)
                except Exception as e:  # the rights are those inherited: only logged
                    log.warn(
                        "{device_id}: the ACLs of new secret leaves were not set ({error})",
                        device_id=self.device_id,
                        error=type(e).__name__,
                    )
            return result

        return Deferred.fromCoroutine(run())

    async def _protect(self, leaves: list[URI]) -> None:
        nodes: list[URI] = []
        for leaf in leaves:
            for uri in (leaf, *leaf.ancestors()):
                if uri not in nodes:
                    nodes.append(uri)
        read = await gatherResults([self.get_acl(uri) for uri in nodes])
        own = dict(zip(nodes, read, strict=True))
        planned = []
        for leaf in leaves:
            if own[leaf].status is not Status.OK or own[leaf].acl is None:
                continue
            if not own[leaf].acl.is_empty:  # type: ignore[union-attr]
                continue
            for ancestor in leaf.ancestors():
                result = own[ancestor]
                if (
                    result.status is Status.OK
                    and result.acl is not None
                    and not result.acl.is_empty
                ):
                    planned.append(self.replace_acl(leaf, result.acl))
                    break
        for outcome in await gatherResults(planned):
            if not outcome.status.is_success:
                log.warn(
                    "{device_id}: setting the ACL of a secret leaf answered {status}",
                    device_id=self.device_id,
                    status=int(outcome.status),
                )


@implementer(ISubtreeWriter)
class AtomicDMClientSession(DMClientSession):
    def add_subtree(
        self, uri: URI, nodes: Sequence[tuple[RelativePath, Value]]
    ) -> Deferred[Result]:
        uris = [uri.child(*path) for path, _ in nodes]
        children = tuple(
            sm.Command(name="Add", cmd_id="", items=(item_for(target, value),))
            for target, (_, value) in zip(uris, nodes, strict=True)
        )

        def finish(answer: Answer, ids: dict[str, str]) -> Result:
            top = answer.statuses[ids[""]].code
            parts = [answer.statuses.get(ids[str(i)]) for i in range(len(children))]
            codes = [215 if part is None else part.code for part in parts]
            if top == 200 and all(code == 201 for code in codes):
                return Result(Status.ITEM_ADDED)
            for code in codes:
                if code not in _SKIPPED:
                    return Result(to_status(code, command="Add", device_id=self.device_id))
            return Result(to_status(top, command="Atomic", device_id=self.device_id))

        added = self._queue(
            sm.Command(name="Atomic", cmd_id="", children=children), finish, f"Atomic Add {uri}"
        )
        secrets = [
            u for u, (_, v) in zip(uris, nodes, strict=True) if is_secret(u) and not v.is_interior
        ]
        return self._then_protect(added, secrets) if secrets else added
