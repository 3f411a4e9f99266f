"""What a transition asks the engine to do. Effects are data; the engine carries them out after
the new state is durable, in the order given. Timers are not effects: a session's ``wait`` and
``deadline`` say what it waits for and until when, and the engine keeps one timer per deadline."""

from __future__ import annotations

import enum

from attrs import frozen

from dmdelegation.core.model import Outcome
from dmdelegation.protocol import DMAcc, Message


@frozen
class Send:
    """An asynchronous message: queued in the durable outbox, delivered with retries."""

    message: Message


@frozen
class Request:
    """A synchronous exchange; the answer comes back as ``Received``, a failure as
    ``PeerUnreachable``."""

    message: Message


@frozen
class Respond:
    """The body of the synchronous answer to the request being handled."""

    message: Message


@frozen
class CancelOutbox:
    """Drop the session's messages not yet delivered (the process changed course)."""


class TreeChange(enum.Enum):
    PREPARE_DMACC = "prepare-dmacc"  # create DMS-2's account (if given), grant, no auto session
    ADD_BOOTSTRAP_ENTRY = "add-bootstrap-entry"  # a Bootstrap Config entry for DMS-2's URL
    GRANT = "grant"  # grant DMS-2 the subtree, no auto session (bootstrap approach)
    UNDO = "undo"  # roll the client back to before the process
    COMMIT = "commit"  # the changes are final: forget the undo journal
    REMOVE_DELEGATE = "remove-delegate"  # every trace of DMS-2 (revocation)


@frozen
class ChangeClient:
    """A change to the DM Client by DMS-1; answers ``TreeDone`` or ``TreeFailed`` (``COMMIT``
    answers nothing)."""

    change: TreeChange
    dmacc: DMAcc | None = None
    url: str | None = None


class Duty(enum.Enum):
    SUPPLY_BOOTSTRAP = "supply-bootstrap"  # answers BootstrapSupplied
    SUPPLY_URL = "supply-url"  # answers URLSupplied
    AWAIT_CLIENT_BOOTSTRAP = "await-client-bootstrap"  # answers DutyDone
    OPEN_DM_SESSION = "open-dm-session"  # answers DutyDone
    STOP_ACTIVITY = "stop-activity"  # answers DutyDone
    FORGET_DEVICE = "forget-device"  # answers nothing


@frozen
class Perform:
    """A DMS-2 duty; failures answer ``DutyFailed``."""

    duty: Duty


@frozen
class Register:
    """Record the delegation as in force in this side's registry."""


@frozen
class Unregister:
    """Remove the delegation from this side's registry."""


@frozen
class Finish:
    outcome: Outcome
    reason: str = ""


Effect = (
    Send
    | Request
    | Respond
    | CancelOutbox
    | ChangeClient
    | Perform
    | Register
    | Unregister
    | Finish
)
