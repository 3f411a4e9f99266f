"""The undo journal's content: what one change did to a client, and how to take it back.

Before a delegation operation changes a client it records a step holding the *before-image* of
what the change touches: nothing (Add), the old value (Replace), the old ACL (Replace ACL) or the
whole subtree with values, formats and ACLs (Delete). `undo_actions` turns a step back into the DM
commands that restore the before-image. Each action is idempotent (a Delete that finds nothing,
an Add that finds the node already there, a Replace with the value already in place all leave the
tree as it should be), so a rollback interrupted at any point can simply be run again; a Replace
ACL sent again may be denied for want of the right it took away the first time, which the
rollback settles by reading the ACL (`dmdelegation.client.rollback`).

Steps are stored as JSON text (`encode_step` / `decode_step`). The text of a step that deleted an
account holds that account's credentials: it lives only in the journal store, and a step's ``repr``
never shows a value.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections.abc import Sequence
from typing import Any

from attrs import frozen

from dmdelegation.tree.acl import ACL, ACLError
from dmdelegation.tree.status import Status
from dmdelegation.tree.storage import NodeRecord
from dmdelegation.tree.uri import URI, URIError
from dmdelegation.tree.value import Format, Value, ValueFormatError


class JournalFormatError(ValueError):
    """A stored step that cannot be read back; never quotes the stored text."""


@frozen
class AddStep:
    """A node was added at ``uri`` (before: no node there)."""

    uri: URI


@frozen
class ReplaceStep:
    """The value of the leaf ``uri`` was replaced; ``before`` is the old value and format."""

    uri: URI
    before: Value


@frozen
class ReplaceACLStep:
    """The ACL of ``uri`` was replaced; ``before`` is the node's own old ACL (maybe empty),
    ``after`` the ACL written (None in a step recorded before it was kept): a revocation restores
    ``before`` only while the node still has ``after``."""

    uri: URI
    before: ACL
    after: ACL | None = None


@frozen
class DeleteStep:
    """The subtree at ``uri`` was deleted; ``before`` holds every node of it, parents first."""

    uri: URI
    before: tuple[NodeRecord, ...]


JournalStep = AddStep | ReplaceStep | ReplaceACLStep | DeleteStep


class UndoKind(enum.StrEnum):
    ADD = "Add"
    DELETE = "Delete"
    REPLACE = "Replace"
    REPLACE_ACL = "Replace ACL"


@frozen
class UndoAction:
    """One DM command of a rollback; ``tolerated`` is a status that also means "already undone"."""

    kind: UndoKind
    uri: URI
    value: Value | None = None
    acl: ACL | None = None
    tolerated: Status | None = None


def undo_actions(step: JournalStep) -> tuple[UndoAction, ...]:
    """The commands that put back the before-image of ``step``, in order."""
    if isinstance(step, AddStep):
        return (UndoAction(UndoKind.DELETE, step.uri, tolerated=Status.NOT_FOUND),)
    if isinstance(step, ReplaceStep):
        return (UndoAction(UndoKind.REPLACE, step.uri, value=step.before),)
    if isinstance(step, ReplaceACLStep):
        return (UndoAction(UndoKind.REPLACE_ACL, step.uri, acl=step.before),)
    adds = tuple(
        UndoAction(UndoKind.ADD, record.uri, value=record.value, tolerated=Status.ALREADY_EXISTS)
        for record in step.before
    )
    # Children before parents: a re-created parent keeps the rights its creator got until the
    # ACLs below it are back.
    acls = tuple(
        UndoAction(UndoKind.REPLACE_ACL, record.uri, acl=record.acl)
        for record in reversed(step.before)
    )
    return adds + acls


def covering_add(steps: Sequence[JournalStep]) -> int | None:
    """Where a rollback may take a shortcut: ``steps`` are the steps still to undo, oldest first;
    the index of the oldest `AddStep` that covers every step from it to the newest, or None.

    An `AddStep` of ``X`` covers the steps after it when each of them is at or below ``X`` and
    none replaces the ACL of ``X`` itself. Undoing them one by one, newest first, ends with the
    Delete of ``X``: it leaves the tree exactly as that one Delete does (nothing outside ``X`` is
    touched), and that Delete is checked against the same ACLs (``X``'s own ACL and those above
    it are as the Add left them), so it succeeds whenever the long way would.
    """
    if len(steps) < 2:
        return None
    common = steps[-1].uri.segments
    acl_changed: set[URI] = set()
    found: int | None = None
    for index in range(len(steps) - 1, -1, -1):
        step = steps[index]
        names = step.uri.segments
        if names[: len(common)] != common:
            shared = 0
            while shared < min(len(common), len(names)) and common[shared] == names[shared]:
                shared += 1
            common = common[:shared]
        if not common:
            break  # the root is never added
        if (
            isinstance(step, AddStep)
            and names == common
            and index < len(steps) - 1
            and step.uri not in acl_changed
        ):
            found = index
        if isinstance(step, ReplaceACLStep):
            acl_changed.add(step.uri)
    return found


def encode_value(value: Value) -> dict[str, Any]:
    data: Any = value.data
    if isinstance(data, bytes):
        data = base64.b64encode(data).decode("ascii")
    return {"format": value.format.value, "data": data}


def decode_value(raw: Any) -> Value:
    try:
        format = Format(raw["format"])
        data = raw["data"]
        if format is Format.BIN:
            data = base64.b64decode(data.encode("ascii"), validate=True)
        return Value(format, data)
    except (KeyError, TypeError, AttributeError, ValueError, binascii.Error) as e:
        raise JournalFormatError(f"unreadable value ({type(e).__name__})") from None


def encode_step(step: JournalStep) -> str:
    raw: dict[str, Any] = {"uri": str(step.uri)}
    if isinstance(step, AddStep):
        raw["kind"] = "add"
    elif isinstance(step, ReplaceStep):
        raw.update(kind="replace", before=encode_value(step.before))
    elif isinstance(step, ReplaceACLStep):
        raw.update(kind="replace_acl", before=step.before.render())
        if step.after is not None:
            raw["after"] = step.after.render()
    else:
        raw.update(
            kind="delete",
            before=[
                {"uri": str(r.uri), "value": encode_value(r.value), "acl": r.acl.render()}
                for r in step.before
            ],
        )
    return json.dumps(raw, separators=(",", ":"), ensure_ascii=False)


def decode_step(text: str) -> JournalStep:
    try:
        raw = json.loads(text)
        uri = URI.parse(raw["uri"])
        kind = raw["kind"]
        if kind == "add":
            return AddStep(uri)
        if kind == "replace":
            return ReplaceStep(uri, decode_value(raw["before"]))
        if kind == "replace_acl":
            after = raw.get("after")
            return ReplaceACLStep(
                uri, ACL.parse(raw["before"]), None if after is None else ACL.parse(after)
            )
        if kind == "delete":
            records = tuple(
                NodeRecord(URI.parse(r["uri"]), decode_value(r["value"]), ACL.parse(r["acl"]))
                for r in raw["before"]
            )
            return DeleteStep(uri, records)
    except JournalFormatError:
        raise
    except (KeyError, TypeError, ValueError, URIError, ACLError, ValueFormatError) as e:
        raise JournalFormatError(f"unreadable journal step ({type(e).__name__})") from None
    raise JournalFormatError("unknown journal step kind")
