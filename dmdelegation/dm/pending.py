"""A tree operation waiting for a device's DM session, and the answers it collects.

An operation is one SyncML command (Get, Add, Replace, Delete, with ``?prop=ACL`` for ACLs) or
one Atomic of Adds. It waits in its device's queue until a session carries it; the session gives
it command ids when it is sent, hands it each Status and Results that refer to them, and fires
its Deferred once every part is answered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from attrs import define, evolve, field
from twisted.internet.defer import Deferred

from dmdelegation.dm import message as sm


class OutcomeUnknown(Exception):
    """The command was sent but its answer never came (the session ended or was lost)."""


@define
class Answer:
    statuses: dict[str, sm.Status] = field(factory=dict)  # by our command id
    results: list[sm.Results] = field(factory=list)


@define(eq=False)
class Pending:
    command: sm.Command
    finish: Callable[[Answer, dict[str, str]], Any]
    """Turns the answers into the operation's result; given the ids of the command's parts."""
    label: str
    deferred: Deferred[Any] = field(init=False)
    ids: dict[str, str] = field(factory=dict)  # part ("" for the command, "0".. children) -> id
    sent_in: str | None = None  # our MsgID that carried it
    answer: Answer = field(factory=Answer)
    abandoned: bool = False
    auth_resends: int = 0  # times sent again after the device refused our credentials
    on_cancel: Callable[[Pending], None] | None = None

    def __attrs_post_init__(self) -> None:
        self.deferred = Deferred(self._cancel)

    def _cancel(self, d: Deferred[Any]) -> None:
        self.abandoned = True
        if self.on_cancel is not None:
            self.on_cancel(self)

    def numbered(self, next_id: Callable[[], str]) -> sm.Command:
        """The command with fresh command ids (recorded in ``ids``)."""
        self.ids = {"": next_id()}
        children = []
        for index, child in enumerate(self.command.children):
            self.ids[str(index)] = next_id()
            children.append(evolve(child, cmd_id=self.ids[str(index)]))
        return evolve(self.command, cmd_id=self.ids[""], children=tuple(children))

    def rewind(self) -> None:
        """Forget the answers of a send the device refused (401, 407): it is sent again."""
        self.auth_resends += 1
        self.ids = {}
        self.sent_in = None
        self.answer = Answer()

    @property
    def refused_for_credentials(self) -> bool:
        """The device answered a part 401 or 407: it refused our credentials, not the command."""
        return any(s.code in (401, 407) for s in self.answer.statuses.values())

    @property
    def complete(self) -> bool:
        """Every part has its Status, and a Get answered 200 has its Results."""
        top = self.answer.statuses.get(self.ids[""])
        if top is not None and self.command.children and top.code != 200:
            return True  # a refused Atomic: its parts' statuses may never come
        if top is None or any(i not in self.answer.statuses for i in self.ids.values()):
            return False
        return not (self.command.name == "Get" and top.code == 200 and not self.answer.results)

    def settle(self) -> None:
        if self.abandoned or self.deferred.called:
            return
        try:
            result = self.finish(self.answer, self.ids)
        except Exception as e:
            self.deferred.errback(e)
            return
        self.deferred.callback(result)

    def lose(self, reason: str) -> None:
        if not self.abandoned and not self.deferred.called:
            self.deferred.errback(OutcomeUnknown(f"{self.label}: {reason}"))
