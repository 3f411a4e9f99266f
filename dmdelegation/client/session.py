"""`IDMClientSession` over a tree held by this process (the embedded store, or a `MemoryTree`).

Commands run synchronously on the storage; the Deferreds they return have already fired. A storage
failure answers 500 and, the command being one transaction, changes nothing; the log says which
command failed and the kind of error, never a value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from zope.interface import implementer

from dmdelegation.client.interfaces import IDMClientSession, ISubtreeSnapshot, ISubtreeWriter
from dmdelegation.tree import commands
from dmdelegation.tree.acl import ACL
from dmdelegation.tree.results import ACLResult, GetResult, Result, SubtreeResult
from dmdelegation.tree.status import Status
from dmdelegation.tree.storage import TreeStorage
from dmdelegation.tree.subtree import RelativePath
from dmdelegation.tree.uri import URI
from dmdelegation.tree.value import Value

# One namespace for every embedded session (the store's sessions are a subclass).
_log = Logger(namespace="dmdelegation.client.session.TreeClientSession")

_R = TypeVar("_R", Result, GetResult, ACLResult, SubtreeResult)


@implementer(IDMClientSession, ISubtreeSnapshot, ISubtreeWriter)
class TreeClientSession:
    """The DM commands of ``server_id`` on the tree of ``device_id`` held in ``storage``."""

    def __init__(self, storage: TreeStorage, device_id: str, server_id: str) -> None:
        self._storage = storage
        self.device_id = device_id
        self.server_id = server_id

    def __repr__(self) -> str:
        return f"<TreeClientSession {self.server_id!r} on {self.device_id!r}>"

    def _run(
        self, command: str, uri: URI, action: Callable[[], _R], failed: Callable[[Status], _R]
    ) -> Deferred[_R]:
        try:
            result = action()
        except Exception as e:  # the command's transaction was rolled back: nothing changed
            _log.error(
                "{command} {uri} on {device_id} as {server_id}: storage failure ({error_type})",
                command=command,
                uri=str(uri),
                device_id=self.device_id,
                server_id=self.server_id,
                error_type=type(e).__name__,
            )
            return succeed(failed(Status.COMMAND_FAILED))
        if result.status is Status.PERMISSION_DENIED:
            if isinstance(result, SubtreeResult):  # the node that stopped it
                command, uri = result.command or command, result.uri or uri
            _log.info(
                "{command} {uri} on {device_id} denied to {server_id}",
                command=command,
                uri=str(uri),
                device_id=self.device_id,
                server_id=self.server_id,
            )
        return succeed(result)

    def get(self, uri: URI) -> Deferred[GetResult]:
        return self._run(
            "Get", uri, lambda: commands.get(self._storage, self.server_id, uri), GetResult
        )

    def add(self, uri: URI, value: Value) -> Deferred[Result]:
        return self._run(
            "Add", uri, lambda: commands.add(self._storage, self.server_id, uri, value), Result
        )

    def replace(self, uri: URI, value: Value) -> Deferred[Result]:
        return self._run(
            "Replace",
            uri,
            lambda: commands.replace(self._storage, self.server_id, uri, value),
            Result,
        )

    def delete(self, uri: URI) -> Deferred[Result]:
        return self._run(
            "Delete", uri, lambda: commands.delete(self._storage, self.server_id, uri), Result
        )

    def get_acl(self, uri: URI) -> Deferred[ACLResult]:
        return self._run(
            "Get ACL", uri, lambda: commands.get_acl(self._storage, self.server_id, uri), ACLResult
        )

    def replace_acl(self, uri: URI, acl: ACL) -> Deferred[Result]:
        return self._run(
            "Replace ACL",
            uri,
            lambda: commands.replace_acl(self._storage, self.server_id, uri, acl),
            Result,
        )

    def add_subtree(
        self, uri: URI, nodes: Sequence[tuple[RelativePath, Value]]
    ) -> Deferred[Result]:
        return self._run(
            "Add",
            uri,
            lambda: commands.add_subtree(self._storage, self.server_id, uri, nodes),
            Result,
        )

    def get_subtree(self, uri: URI) -> Deferred[SubtreeResult]:
        return self._run(
            "Get",
            uri,
            lambda: commands.get_subtree(self._storage, self.server_id, uri),
            lambda status: SubtreeResult(status, command="Get", uri=uri),
        )
