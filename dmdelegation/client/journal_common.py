"""What the undo journal stores (SQLite, `dmdelegation.client.journal_store`; PostgreSQL,
`dmdelegation.store.journal_postgres`) share: a journal whose writes complete at once, behind
Deferreds; the check of a journal's header; its rows read as entries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred

from dmdelegation.client.journal_entry import JournalEntry, StepState
from dmdelegation.tree.journal import JournalStep, decode_step


class JournalMismatch(ValueError):
    """A journal opened for another device or server than the one it records."""


def check_header(header: Sequence[Any], journal_id: str, device_id: str, server_id: str) -> None:
    """:class:`JournalMismatch` unless the journal's header row records ``(device_id,
    server_id)``."""
    if tuple(header) != (device_id, server_id):
        raise JournalMismatch(
            f"journal {journal_id!r} records {header[1]!r} on {header[0]!r},"
            f" not {server_id!r} on {device_id!r}"
        )


def rows_to_entries(
    rows: Iterable[Sequence[Any]], applied: Iterable[int] = ()
) -> list[JournalEntry]:
    """``(seq, step, state, undo_progress)`` rows as journal entries; the steps ``applied``
    (marked so, the marks not written yet) read *applied*."""
    held = set(applied)
    return [
        JournalEntry(
            seq, decode_step(step), StepState.APPLIED if seq in held else StepState(state), progress
        )
        for seq, step, state, progress in rows
    ]


class DeferredUndoJournal:
    """One journal of a store whose writes complete at once: the `IUndoJournal` and
    `IUndoJournalBatch` methods are Deferreds over the store's synchronous ``_append``,
    ``_mark``... (a failure to write fails the Deferred, and nothing is then applied)."""

    def __init__(self, journal_id: str, device_id: str, server_id: str) -> None:
        self.journal_id = journal_id
        self.device_id = device_id
        self.server_id = server_id

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.journal_id!r}>"

    def append(self, step: JournalStep) -> Deferred[int]:
        return maybeDeferred(self._append, step)

    def mark(self, seq: int, state: StepState) -> Deferred[None]:
        return maybeDeferred(self._mark, seq, state)

    def mark_many(self, seqs: Sequence[int], state: StepState) -> Deferred[None]:
        return maybeDeferred(self._mark_many, seqs, state)

    def forget(self, seqs: Sequence[int]) -> Deferred[None]:
        return maybeDeferred(self._forget, seqs)

    def record_undo_progress(self, seq: int, done: int) -> Deferred[None]:
        return maybeDeferred(self._record_undo_progress, seq, done)

    def entries(self) -> Deferred[Sequence[JournalEntry]]:
        return maybeDeferred(self._entries)

    def discard(self) -> Deferred[None]:
        return maybeDeferred(self._discard)

    def _append(self, step: JournalStep) -> int:
        raise NotImplementedError

    def _mark(self, seq: int, state: StepState) -> None:
        raise NotImplementedError

    def _mark_many(self, seqs: Sequence[int], state: StepState) -> None:
        raise NotImplementedError

    def _forget(self, seqs: Sequence[int]) -> None:
        raise NotImplementedError

    def _record_undo_progress(self, seq: int, done: int) -> None:
        raise NotImplementedError

    def _entries(self) -> Sequence[JournalEntry]:
        raise NotImplementedError

    def _discard(self) -> None:
        raise NotImplementedError
