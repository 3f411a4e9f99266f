"""A recorded journal step and where it stands."""

from __future__ import annotations

import enum

from attrs import frozen

from dmdelegation.tree.journal import JournalStep


class StepState(enum.StrEnum):
    PENDING = "pending"
    """Recorded, not known to be applied: the command was sent, or was about to be."""
    APPLIED = "applied"
    FAILED = "failed"
    """The client refused the command: nothing was changed."""
    UNDONE = "undone"


@frozen
class JournalEntry:
    seq: int
    step: JournalStep
    state: StepState
    undo_progress: int = 0
