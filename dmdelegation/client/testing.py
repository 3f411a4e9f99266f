"""Helpers for tests of code that drives DM Clients (this project's and a host's).

- `fired` / `fired_failure` / `fired_error`: the outcome of a Deferred that must already have
  fired (no reactor involved).
- `FaultyClientSession`: an `IDMClientSession` that wraps another and makes its Nth command fail,
  either refused (500, nothing changed) or with its reply lost after it was applied.
- `FailingJournal`: an `IUndoJournal` that wraps another and cannot write from some point on.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure
from zope.interface import implementer

from dmdelegation.client.interfaces import IDMClientSession, IUndoJournal
from dmdelegation.client.journal_entry import JournalEntry, StepState
from dmdelegation.tree.acl import ACL
from dmdelegation.tree.journal import JournalStep
from dmdelegation.tree.results import ACLResult, GetResult, Result
from dmdelegation.tree.status import Status
from dmdelegation.tree.uri import URI
from dmdelegation.tree.value import Value

_T = TypeVar("_T")
_E = TypeVar("_E", bound=BaseException)


def fired(deferred: Deferred[_T]) -> _T:
    """The result of ``deferred``, which must have fired successfully already."""
    results: list[_T] = []
    failures: list[Failure] = []
    deferred.addCallbacks(results.append, failures.append)
    if failures:
        failures[0].raiseException()
    if not results:
        raise AssertionError(f"{deferred!r} has not fired")
    return results[0]


def fired_failure(deferred: Deferred[Any]) -> Failure:
    """The failure of ``deferred``, which must have failed already."""
    results: list[object] = []
    failures: list[Failure] = []
    deferred.addCallbacks(results.append, failures.append)
    if results:
        raise AssertionError(f"{deferred!r} succeeded")
    if not failures:
        raise AssertionError(f"{deferred!r} has not fired")
    return failures[0]


def fired_error(deferred: Deferred[Any], kind: type[_E]) -> _E:
    """The exception, of type ``kind``, that ``deferred`` has already failed with."""
    error = fired_failure(deferred).value
    if not isinstance(error, kind):
        raise AssertionError(f"{deferred!r} failed with {error!r}, not {kind.__name__}")
    return error


class Fault(enum.Enum):
    REFUSE = "refuse"
    """The command answers 500 and is not applied."""
    LOSE_REPLY = "lose reply"
    """The command is applied, then its Deferred fails (the answer never arrives)."""


@implementer(IDMClientSession)
class FaultyClientSession:
    """``inner`` with command number ``fail_at`` failing: counting every command (reads
    included), or only those named in ``counted`` (method names: ``"add"``, ``"get_acl"``...)."""

    def __init__(
        self,
        inner: IDMClientSession,
        fail_at: int | None,
        fault: Fault,
        counted: Iterable[str] | None = None,
    ) -> None:
        self.inner = inner
        self.device_id = inner.device_id
        self.server_id = inner.server_id
        self.fail_at = fail_at
        self.fault = fault
        self.counted = None if counted is None else frozenset(counted)
        self.count = 0

    def _command(self, name: str, send: Callable[[], Deferred[_T]], refused: _T) -> Deferred[_T]:
        if self.counted is not None and name not in self.counted:
            return send()
        self.count += 1
        if self.count != self.fail_at:
            return send()
        if self.fault is Fault.REFUSE:
            return succeed(refused)
        applied = send()

        def lost(_: object) -> Deferred[_T]:
            return fail(ConnectionLost("reply lost (injected)"))

        return applied.addBoth(lost)

    def get(self, uri: URI) -> Deferred[GetResult]:
        return self._command("get", lambda: self.inner.get(uri), GetResult(Status.COMMAND_FAILED))

    def add(self, uri: URI, value: Value) -> Deferred[Result]:
        return self._command(
            "add", lambda: self.inner.add(uri, value), Result(Status.COMMAND_FAILED)
        )

    def replace(self, uri: URI, value: Value) -> Deferred[Result]:
        return self._command(
            "replace", lambda: self.inner.replace(uri, value), Result(Status.COMMAND_FAILED)
        )

    def delete(self, uri: URI) -> Deferred[Result]:
        return self._command(
            "delete", lambda: self.inner.delete(uri), Result(Status.COMMAND_FAILED)
        )

    def get_acl(self, uri: URI) -> Deferred[ACLResult]:
        return self._command(
            "get_acl", lambda: self.inner.get_acl(uri), ACLResult(Status.COMMAND_FAILED)
        )

    def replace_acl(self, uri: URI, acl: ACL) -> Deferred[Result]:
        return self._command(
            "replace_acl", lambda: self.inner.replace_acl(uri, acl), Result(Status.COMMAND_FAILED)
        )


class JournalWriteError(Exception):
    pass


@implementer(IUndoJournal)
class FailingJournal:
    """``inner``, except that every write after the first ``writes_allowed`` ones fails."""

    def __init__(self, inner: IUndoJournal, writes_allowed: int) -> None:
        self.inner = inner
        self.journal_id = inner.journal_id
        self.device_id = inner.device_id
        self.server_id = inner.server_id
        self.writes_allowed = writes_allowed

    def _write(self, write: Callable[[], Deferred[_T]]) -> Deferred[_T]:
        if self.writes_allowed <= 0:
            return fail(JournalWriteError("journal write refused (injected)"))
        self.writes_allowed -= 1
        return write()

    def append(self, step: JournalStep) -> Deferred[int]:
        return self._write(lambda: self.inner.append(step))

    def mark(self, seq: int, state: StepState) -> Deferred[None]:
        return self._write(lambda: self.inner.mark(seq, state))

    def record_undo_progress(self, seq: int, done: int) -> Deferred[None]:
        return self._write(lambda: self.inner.record_undo_progress(seq, done))

    def entries(self) -> Deferred[Sequence[JournalEntry]]:
        return self.inner.entries()

    def discard(self) -> Deferred[None]:
        return self._write(self.inner.discard)
