"""The state machine of one DM session on the server side, and the data it keeps.

    WAITING --message--> ANSWERING --continue--> WAITING
    ANSWERING --finish--> ENDED       (a reply with Final and nothing left to send or hear)
    WAITING --expire--> ENDED         (the client never sent its next message)
    WAITING | ANSWERING --supersede--> ENDED   (the device opened a new session)
    ANSWERING --fail--> ENDED         (the server could not answer: HTTP 500)

A session exists only once a message opening it (Alert 1200 or 1201) was authenticated. Inputs
that the table does not allow raise `IllegalInput`; the server refuses the message that caused
it and nothing changes.
"""

from __future__ import annotations

import enum

from attrs import define, field
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall

from dmdelegation.dm.devices import DMDevice
from dmdelegation.dm.pending import Pending


class Phase(enum.Enum):
    WAITING = "waiting for the client's next message"
    ANSWERING = "answering a client message"
    ENDED = "ended"


class Event(enum.Enum):
    MESSAGE = "message"
    CONTINUE = "continue"
    FINISH = "finish"
    EXPIRE = "expire"
    SUPERSEDE = "supersede"
    FAIL = "fail"


TRANSITIONS: dict[tuple[Phase, Event], Phase] = {
    (Phase.WAITING, Event.MESSAGE): Phase.ANSWERING,
    (Phase.ANSWERING, Event.CONTINUE): Phase.WAITING,
    (Phase.ANSWERING, Event.FINISH): Phase.ENDED,
    (Phase.WAITING, Event.EXPIRE): Phase.ENDED,
    (Phase.WAITING, Event.SUPERSEDE): Phase.ENDED,
    (Phase.ANSWERING, Event.SUPERSEDE): Phase.ENDED,
    (Phase.ANSWERING, Event.FAIL): Phase.ENDED,
}


class IllegalInput(Exception):
    pass


@define(eq=False)
class DMSession:
    device: DMDevice
    session_id: str
    client_msg_id: int
    phase: Phase = Phase.WAITING
    server_msg_id: int = 0
    client_max_msg_size: int | None = None
    client_package_open: bool = False  # the client's package is not complete yet
    send_server_cred: bool = True
    server_auth_failures: int = 0
    in_flight: dict[tuple[str, str], Pending] = field(factory=dict)  # (our MsgID, CmdID)
    timer: IDelayedCall | None = None
    devinfo: dict[str, str] = field(factory=dict)
    work: Deferred[None] | None = None  # fired when an operation is queued while we linger

    @property
    def device_id(self) -> str:
        return self.device.device_id

    def fire(self, event: Event) -> Phase:
        after = TRANSITIONS.get((self.phase, event))
        if after is None:
            raise IllegalInput(f"{event.value} while {self.phase.value}")
        self.phase = after
        return after

    def next_msg_id(self) -> str:
        self.server_msg_id += 1
        return str(self.server_msg_id)

    def pending(self) -> list[Pending]:
        """The operations sent and not yet fully answered, oldest first."""
        seen: list[Pending] = []
        for p in self.in_flight.values():
            if p not in seen:
                seen.append(p)
        return seen
