"""Refusals: :class:`Refused` (an inbound message or operator command that changes nothing),
the canonical text of a subtree (refused when the tree's rules refuse it), and
:class:`BusyRefused`, a session's hold with another instance's :class:`Busy` refused as 503.

Uses the store's coordination interface and the tree's URI rules; nothing of the engine.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from types import TracebackType

from dmdelegation.core.model import Session
from dmdelegation.store.interfaces import Busy, ICoordination
from dmdelegation.tree.uri import URI, URIError


class Refused(Exception):
    """An inbound message or an operator command is refused; nothing was changed.

    ``status`` is the HTTP status the delegation resource answers with (docs/wire.md): 404 for an
    unknown session or one of another peer (a peer learns nothing of others' sessions), 409
    for a message out of order or a subtree already in a process, 400 for content the process
    cannot use, 503 when no answer can be given now.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


def canonical_subtree(text: str) -> str:
    """The canonical text of a DM tree URI (escapes resolved), or :class:`Refused` (400) when
    the tree's rules refuse it: a DMTreeURI the schema lets through (``.``/``..`` segments,
    names too long or too many) still names no node, and two spellings of one subtree must
    meet in the check that keeps one process per subtree."""
    try:
        return str(URI.parse(text))
    except URIError as e:
        raise Refused(400, f"DMTreeURI {text[:80]!r}: {e}") from None


class BusyRefused:
    """``with coordination.hold(session_id)``, a :class:`Busy` from it or from the block
    raised as ``Refused(503)``. (A plain class, not a generator: one is entered per input.)"""

    __slots__ = ("_coordination", "_held", "_session_id")

    def __init__(self, coordination: ICoordination, session_id: str | None) -> None:
        self._coordination = coordination
        self._session_id = session_id
        self._held: AbstractContextManager[Session | None] | None = None

    def __enter__(self) -> Session | None:
        try:
            held = self._held = self._coordination.hold(self._session_id)
            return held.__enter__()
        except Busy as e:
            raise Refused(503, str(e)) from None

    def __exit__(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        assert self._held is not None
        try:
            suppressed = self._held.__exit__(typ, value, traceback)
        except Busy as e:
            raise Refused(503, str(e)) from None
        if not suppressed and isinstance(value, Busy):
            raise Refused(503, str(value)) from None
        return suppressed
