"""Structured events for the JSON log (``[log] json``): one event per message in or out and
per process step, with their fields as keys (``twisted.logger``'s ``jsonFileLogObserver``
writes each as one JSON object per line). Never a document: messages are named by their root.
"""

from __future__ import annotations

from twisted.logger import Logger
from zope.interface import implementer

from dmdelegation.engine.effects import Effect, Finish
from dmdelegation.engine.model import Session
from dmdelegation.engine.observer import IEngineObserver


@implementer(IEngineObserver)
class EventLog:
    """Engine events to ``log`` (a :class:`Logger` whose observer is the JSON file)."""

    def __init__(self, log: Logger) -> None:
        self.log = log

    def transition(
        self, before: Session | None, after: Session, effects: tuple[Effect, ...]
    ) -> None:
        finish = next((e for e in effects if isinstance(e, Finish)), None)
        self.log.info(
            "step {session_id} {role} {process}: {old} -> {new}",
            event_kind="step",
            session_id=after.session_id,
            role=after.role.value,
            process=after.process.value,
            device=after.device_id,
            subtree=after.subtree,
            peer=after.peer,
            old=before.state if before is not None else None,
            new=after.state,
            wait=after.wait,
            deadline=after.deadline,
            outcome=None if finish is None else finish.outcome.value,
            reason=None if finish is None else finish.reason,
        )

    def received(self, peer: str, root: str, status: int) -> None:
        self.log.info(
            "message in {root} from {peer}: {status}",
            event_kind="message",
            direction="in",
            root=root,
            peer=peer,
            status=status,
        )

    def sent(self, peer: str, root: str, status: int, seconds: float, attempt: int) -> None:
        self.log.info(
            "message out {root} to {peer}: {status}",
            event_kind="message",
            direction="out",
            root=root,
            peer=peer,
            status=status,
            seconds=seconds,
            attempt=attempt,
        )

    def retrying(self, peer: str, root: str, attempt: int, delay: float) -> None:
        self.log.info(
            "retrying {root} to {peer} in {delay}s",
            event_kind="retry",
            root=root,
            peer=peer,
            attempt=attempt,
            delay=delay,
        )

    def refused(self, source: str, what: str, status: int) -> None:
        self.log.info(
            "refused {what} ({source}): {status}",
            event_kind="refusal",
            source=source,
            what=what,
            status=status,
        )
