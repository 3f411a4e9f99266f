"""What drives a state machine: a peer's message, a timer, or the result of a local action."""

from __future__ import annotations

from attrs import frozen

from dmdelegation.protocol import DMAcc, Message


@frozen
class Start:
    """This server starts the process (operator, host or the engine itself)."""


@frozen
class Abort:
    """The operator (or host) cancels a delegation in progress."""

    reason: str


@frozen
class Received:
    """A message from the peer: an asynchronous one, a request, or the answer to our request."""

    message: Message


@frozen
class PeerUnreachable:
    """A request got no answer, or an asynchronous message could not be delivered in time."""

    reason: str


@frozen
class TimerExpired:
    wait: str


@frozen
class PolicyDecided:
    accept: bool
    reason_code: int = 200
    reason: str = ""


@frozen
class TreeDone:
    """A change to the DM Client (prepare, grant, remove, undo) completed."""


@frozen
class TreeFailed:
    status: int
    reason: str


@frozen
class BootstrapSupplied:
    """DMS-2's bootstrap data: a DMAcc to create, or ``None`` if it bootstrapped the client."""

    dmacc: DMAcc | None


@frozen
class URLSupplied:
    url: str


@frozen
class DutyDone:
    """A DMS-2 duty (open a DM session, stop activity, forget a device, see the bootstrap)."""


@frozen
class DutyFailed:
    reason: str


Input = (
    Start
    | Abort
    | Received
    | PeerUnreachable
    | TimerExpired
    | PolicyDecided
    | TreeDone
    | TreeFailed
    | BootstrapSupplied
    | URLSupplied
    | DutyDone
    | DutyFailed
)
