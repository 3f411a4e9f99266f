"""What the engine tells those who watch it (metrics, structured logs): the seam
:class:`IEngineObserver`, called after each committed transition, for each message in or out,
and for each refused command or message.

Observers only watch: they are called after the state is durable, may not change anything the
engine holds, and an observer that raises is logged and otherwise ignored (:class:`Observers`).
Nothing an observer is given holds a credential: messages are named by their root element.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from twisted.logger import Logger
from zope.interface import Interface, implementer

from dmdelegation.engine.effects import Effect
from dmdelegation.engine.model import Session


class IEngineObserver(Interface):
    def transition(before: Session | None, after: Session, effects: tuple[Effect, ...]) -> None:
        """A transition of ``after``'s process was committed (``before`` is None for the first);
        its effects are about to be carried out."""

    def received(peer: str, root: str, status: int) -> None:
        """A message from ``peer`` was handled and answered with the HTTP ``status`` (200 with
        an answer, 204 without, or the refusal's status)."""

    def sent(peer: str, root: str, status: int, seconds: float, attempt: int) -> None:
        """An attempt (``attempt`` counts from 0) to send ``root`` to ``peer`` ended after
        ``seconds``: ``status`` is the peer's HTTP answer, 0 when none came (connection
        failure, timeout, unreadable answer)."""

    def retrying(peer: str, root: str, attempt: int, delay: float) -> None:
        """A failed attempt will be tried again (attempt number ``attempt``) after ``delay``."""

    def refused(source: str, what: str, status: int) -> None:
        """A command (``source`` "operator") or a peer's message (``source`` "peer") named
        ``what`` was refused with ``status``; nothing was changed."""


@implementer(IEngineObserver)
class Observers:
    """Several observers as one; an observer's failure is logged and does not spread."""

    log = Logger()

    def __init__(self, observers: Iterable[IEngineObserver] = ()) -> None:
        self.observers = tuple(observers)

    def _each(self, name: str, *args: Any) -> None:
        for observer in self.observers:
            try:
                getattr(observer, name)(*args)
            except Exception:
                self.log.failure("engine observer {observer} failed", observer=repr(observer))

    def transition(
        self, before: Session | None, after: Session, effects: tuple[Effect, ...]
    ) -> None:
        if self.observers:
            self._each("transition", before, after, effects)

    def received(self, peer: str, root: str, status: int) -> None:
        if self.observers:
            self._each("received", peer, root, status)

    def sent(self, peer: str, root: str, status: int, seconds: float, attempt: int) -> None:
        if self.observers:
            self._each("sent", peer, root, status, seconds, attempt)

    def retrying(self, peer: str, root: str, attempt: int, delay: float) -> None:
        if self.observers:
            self._each("retrying", peer, root, attempt, delay)

    def refused(self, source: str, what: str, status: int) -> None:
        if self.observers:
            self._each("refused", source, what, status)


_NAME_END = re.compile(rb"[ >/\t\r\n]")


def root_of(body: bytes) -> str:
    """The root element's name of one of our encoded documents (without parsing it)."""
    start = body.find(b"<", body.find(b"?>") + 1 if body.startswith(b"<?") else 0)
    if start < 0:
        return "?"
    end = _NAME_END.search(body, start + 1)
    return body[start + 1 : len(body) if end is None else end.start()].decode("ascii", "replace")
