"""The frame every state machine shares: a transition table, the context a transition may read,
and the error for an input that the current state does not accept.

A machine is pure: ``step(session, input, context)`` returns the new session and the effects to
carry out, and touches nothing else. Each module ``dms1_*``/``dms2_*`` holds one machine, its
states, its handlers and, at the bottom, its table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from attrs import field, frozen

from dmdelegation.engine.effects import Effect
from dmdelegation.engine.inputs import Input, Received, TimerExpired
from dmdelegation.engine.model import Process, Role, Session


@frozen
class Timeouts:
    """Seconds each wait may last (configuration keys of the same names)."""

    peer: float = 300.0  # the peer's next message of a process
    client_bootstrap: float = 3600.0  # the DM Client bootstrapping from DMS-2's server
    termination: float = 600.0  # DMS-2's DELEGATION_TERMINATION_RESP (asked revocation)
    revoked: float = 3600.0  # DMS-2 waiting for DELEGATION_REVOKED
    delivery: float = 600.0  # delivering one asynchronous message, retries included
    request: float = 30.0  # the answer to a synchronous request
    local: float = 300.0  # one local action: a tree change or a DMS-2 duty

    def for_wait(self, wait: str) -> float:
        value: float = getattr(self, wait)
        return value


@frozen
class Context:
    """What a transition may read besides the session: the time, this server's ServerID and
    the configured timeouts."""

    now: float
    server_id: str
    timeouts: Timeouts = field(factory=Timeouts)


@frozen
class Transition:
    session: Session
    effects: tuple[Effect, ...] = ()


class OutOfOrder(Exception):
    """The input is not one the session's current state accepts; nothing was changed (409)."""

    status = 409

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unacceptable(OutOfOrder):
    """A message in its place, but whose content this process cannot use (400)."""

    status = 400


Handler = Callable[[Session, Any, Context], Transition]
Resumer = Callable[[Session, Context], Transition]


def waiting(session: Session, state: str, wait: str, ctx: Context) -> Session:
    """``session`` in ``state``, waiting for ``wait`` until its configured deadline."""
    return session.to(state, wait=wait, deadline=ctx.now + ctx.timeouts.for_wait(wait))


def busy(session: Session, state: str) -> Session:
    """``session`` in ``state`` while a local action runs (no peer wait)."""
    return session.to(state, wait=None, deadline=None)


def input_key(inp: Input) -> type:
    """What a table is keyed by: the message class for ``Received``, else the input class."""
    return type(inp.message) if isinstance(inp, Received) else type(inp)


@frozen
class Machine:
    """One (role, process): its transition table and what to do with a session found open in
    each state after a restart (states absent from ``on_restart`` just keep waiting)."""

    role: Role
    process: Process
    first_state: str
    table: Mapping[tuple[str, type], Handler]
    on_restart: Mapping[str, Resumer] = field(factory=dict)
    terminal: str = "done"

    def step(self, session: Session, inp: Input, ctx: Context) -> Transition:
        key = input_key(inp)
        handler = self.table.get((session.state, key))
        if handler is None:
            what = key.__name__ if not isinstance(inp, Received) else inp.message.ROOT
            if isinstance(inp, TimerExpired):
                what = f"timer {inp.wait}"
            raise OutOfOrder(
                f"{what} is not expected by a {self.role.value} {self.process.value} session "
                f"in state {session.state}"
            )
        return handler(session, inp, ctx)

    def restart(self, session: Session, ctx: Context) -> Transition:
        resume = self.on_restart.get(session.state)
        return resume(session, ctx) if resume else Transition(session)

    def accepts(self, state: str) -> set[type]:
        return {key for (s, key) in self.table if s == state}


def rows(states: tuple[str, ...], key: type, handler: Handler) -> dict[tuple[str, type], Handler]:
    """The same handler for ``key`` in each of ``states`` (e.g. a FAILURE message anywhere)."""
    return {(state, key): handler for state in states}
