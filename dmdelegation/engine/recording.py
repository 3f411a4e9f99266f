"""The DM commands a process sends its device, recorded for its trace (``dmdelegation trace``):
an `IDMClientSession` that passes each command on and, when the device answers, records the
command, its URI and the status (never a value) in the session store, with the session's id.

The record is written with the store's next group commit (the one of the transition that
follows the commands), so that recording adds no write of its own to the engine's hot path.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure
from zope.interface import (
    classImplements,
    directlyProvidedBy,
    directlyProvides,
    implementedBy,
    implementer,
)

from dmdelegation.client.interfaces import IDMClientSession
from dmdelegation.store.interfaces import DeviceCommand, ISessionStore
from dmdelegation.tree import URI
from dmdelegation.tree.acl import ACL
from dmdelegation.tree.results import ACLResult, GetResult, Result, SubtreeResult
from dmdelegation.tree.subtree import RelativePath
from dmdelegation.tree.value import Value

_R = TypeVar("_R", Result, GetResult, ACLResult, SubtreeResult)


_CLASSES: dict[type, type[RecordingSession]] = {}


def _class_for(kind: type) -> type[RecordingSession]:
    """The RecordingSession subclass that implements what ``kind`` implements: declared on a
    class (made once per kind), not on each instance, so that interface lookups on it are
    cached as for any class."""
    made = _CLASSES.get(kind)
    if made is None:
        made = type(f"Recording{kind.__name__}", (RecordingSession,), {})
        classImplements(made, implementedBy(kind))  # type: ignore[misc]  # made: a class
        _CLASSES[kind] = made
    return made


@implementer(IDMClientSession)
class RecordingSession:
    """``inner``, with each command it is sent recorded under ``session_id`` in ``store``.

    It provides what ``inner`` provides (`ISubtreeSnapshot`, `ISubtreeWriter`,
    `ITransactionalSession` ...), so that the operations take the same paths through it; what
    it does not record (a transactional session's ``begin``, ``database`` ...) is ``inner``'s.
    """

    def __new__(cls, inner: IDMClientSession, *args: Any, **kwargs: Any) -> RecordingSession:
        return object.__new__(_class_for(type(inner)) if cls is RecordingSession else cls)

    def __init__(
        self,
        inner: IDMClientSession,
        session_id: str,
        store: ISessionStore,
        clock: IReactorTime | None = None,
    ) -> None:
        self._inner = inner
        self._session_id = session_id
        self._store = store
        self._clock = clock
        self.device_id = inner.device_id
        self.server_id = inner.server_id
        extra = list(directlyProvidedBy(inner))  # what this one session provides of its own
        if extra:
            directlyProvides(self, *extra)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _now(self) -> float:
        return self._clock.seconds() if self._clock is not None else time.time()

    def _recorded(self, command: str, uri: URI, d: Deferred[_R]) -> Deferred[_R]:
        def answered(result: _R) -> _R:
            self._record(command, uri, int(result.status))
            return result

        def unanswered(f: Failure) -> Failure:
            self._record(command, uri, None)
            return f

        return d.addCallbacks(answered, unanswered)

    def _record(self, command: str, uri: URI, status: int | None) -> None:
        self._store.record_command(
            DeviceCommand(self._session_id, command, str(uri), status, self._now())
        )

    def get(self, uri: URI) -> Deferred[GetResult]:
        return self._recorded("Get", uri, self._inner.get(uri))

    def add(self, uri: URI, value: Value) -> Deferred[Result]:
        return self._recorded("Add", uri, self._inner.add(uri, value))

    def replace(self, uri: URI, value: Value) -> Deferred[Result]:
        return self._recorded("Replace", uri, self._inner.replace(uri, value))

    def delete(self, uri: URI) -> Deferred[Result]:
        return self._recorded("Delete", uri, self._inner.delete(uri))

    def get_acl(self, uri: URI) -> Deferred[ACLResult]:
        return self._recorded("Get ACL", uri, self._inner.get_acl(uri))

    def replace_acl(self, uri: URI, acl: ACL) -> Deferred[Result]:
        return self._recorded("Replace ACL", uri, self._inner.replace_acl(uri, acl))

    def get_subtree(self, uri: URI) -> Deferred[SubtreeResult]:
        return self._recorded("Get", uri, self._inner.get_subtree(uri))  # type: ignore[attr-defined]

    def add_subtree(
        self, uri: URI, nodes: Sequence[tuple[RelativePath, Value]]
    ) -> Deferred[Result]:
        return self._recorded("Add", uri, self._inner.add_subtree(uri, nodes))  # type: ignore[attr-defined]
