"""The state diagrams of docs/state-machines.md, drawn from the machines themselves.

Each handler of each table is run on sample sessions and inputs (every branch the samples reach:
acknowledged or not, client touched or not, ...) and the transitions seen are drawn as Mermaid
state diagrams. ``python -m dmdelegation.engine.diagram > docs/state-machines.md`` rewrites the
page; a test fails when the page no longer matches the code.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import attrs

from dmdelegation.engine.effects import ChangeClient, Perform, Request, Respond, Send
from dmdelegation.engine.inputs import (
    Abort,
    BootstrapSupplied,
    DutyDone,
    DutyFailed,
    Input,
    PeerUnreachable,
    PolicyDecided,
    Received,
    Start,
    TimerExpired,
    TreeDone,
    TreeFailed,
    URLSupplied,
)
from dmdelegation.engine.machine import Context, Machine, OutOfOrder
from dmdelegation.engine.machines import MACHINES
from dmdelegation.engine.model import Process, Role, Session
from dmdelegation.protocol import BootstrapConfirmed, DelegationResponse, Message
from dmdelegation.protocol.examples import EXAMPLE_DMACC, EXAMPLES

PEER = EXAMPLE_DMACC.server_id
SESSION_ID = "0" * 32


def _messages(key: type) -> Iterator[Message]:
    example = next(m for m in EXAMPLES.values() if type(m) is key)
    changes: dict[str, object] = {}
    if hasattr(example, "session_id"):
        changes["session_id"] = SESSION_ID
    base = attrs.evolve(example, **changes)  # type: ignore[misc]
    yield base
    if key is DelegationResponse:
        yield attrs.evolve(base, is_acknowledged=False)  # type: ignore[misc]
    if key is BootstrapConfirmed:
        yield attrs.evolve(base, is_client_bootstrapped=True, dmacc=None)  # type: ignore[misc]
        yield attrs.evolve(base, is_client_bootstrapped=None, dmacc=None)  # type: ignore[misc]


def _inputs(key: type, wait: str | None) -> Iterator[Input]:
    simple: dict[type, list[Input]] = {
        Start: [Start()],
        Abort: [Abort("operator")],
        PolicyDecided: [PolicyDecided(True), PolicyDecided(False, 403)],
        TimerExpired: [TimerExpired(wait or "peer")],
        TreeDone: [TreeDone()],
        TreeFailed: [TreeFailed(500, "failed")],
        DutyDone: [DutyDone()],
        DutyFailed: [DutyFailed("failed")],
        BootstrapSupplied: [BootstrapSupplied(None), BootstrapSupplied(EXAMPLE_DMACC)],
        URLSupplied: [URLSupplied("https://bootstrap.example/bs")],
        PeerUnreachable: [PeerUnreachable("down")],
    }
    if key in simple:
        yield from simple[key]
    else:
        yield from (Received(m) for m in _messages(key))


def _first_sessions(machine: Machine) -> Iterator[Session]:
    for initiator in Role:
        for notify in (False, True):
            yield Session(
                session_id=SESSION_ID,
                role=machine.role,
                process=machine.process,
                state=machine.first_state,
                peer=PEER,
                device_id="IMEI:490154203237518",
                subtree="./Vendor/Enterprise",
                full=False,
                initiator=initiator,
                notify=notify,
            )


def _label(inp: Input, effects: tuple[object, ...]) -> str:
    name = inp.message.ROOT if isinstance(inp, Received) else type(inp).__name__
    if isinstance(inp, Received) and isinstance(inp.message, DelegationResponse):
        name += " ack" if inp.message.is_acknowledged else " nack"
    if isinstance(inp, PolicyDecided):
        name += " accept" if inp.accept else " refuse"
    done: list[str] = []
    for e in effects:
        if isinstance(e, Send | Request | Respond):
            done.append(e.message.ROOT)
        elif isinstance(e, ChangeClient):
            done.append(f"[{e.change.value}]")
        elif isinstance(e, Perform):
            done.append(f"[{e.duty.value}]")
    return name + (" / " + ", ".join(done) if done else "")


def transitions(machine: Machine) -> list[tuple[str, str, str]]:
    """Every transition reachable from the first state with the sample inputs."""
    return sorted(explore(machine)[0])


def explore(machine: Machine) -> tuple[set[tuple[str, str, str]], set[Session], set[object]]:
    """(transitions seen, sessions reached, table rows used), from the first state on."""
    seen: set[tuple[str, str, str]] = set()
    used: set[object] = set()
    ctx = Context(now=0.0, server_id="dms.example")
    frontier = list(_first_sessions(machine))
    visited = {attrs.evolve(s, deadline=None) for s in frontier}
    while frontier:
        session = frontier.pop()
        for (state, key), handler in machine.table.items():
            if state != session.state:
                continue
            for inp in _inputs(key, session.wait):
                try:
                    t = handler(session, inp, ctx)
                except OutOfOrder:
                    continue
                used.add((state, key))
                target = t.session.state
                if t.session.process is not machine.process:
                    target = f"{t.session.process.value}: {target}"
                seen.add((state, _label(inp, t.effects), target))
                reached = attrs.evolve(t.session, deadline=None)
                if reached not in visited and t.session.process is machine.process:
                    visited.add(reached)
                    frontier.append(reached)
    return seen, visited, used


def mermaid(machine: Machine) -> str:
    def node(state: str) -> str:
        return state.replace("-", "_").replace(": ", "__").replace(" ", "_")

    lines = ["```mermaid", "stateDiagram-v2", f"    [*] --> {node(machine.first_state)}"]
    for source, label, target in transitions(machine):
        lines.append(f"    {node(source)} --> {node(target)}: {label}")
    lines.append(f"    {node(machine.terminal)} --> [*]")
    lines.append("```")
    return "\n".join(lines)


def page() -> str:
    parts = [
        "# State machines",
        "",
        "Generated from the transition tables by `python -m dmdelegation.engine.diagram`; a test",
        "fails when this page and the code differ. Each arrow is `input / what the transition",
        "sends or starts`: message names are sent (or answered), `[...]` is a local action (a",
        "change to the DM Client by DMS-1, a duty of DMS-2). Timers: a state that waits for the",
        "peer or the client has a deadline, and `TimerExpired` leaves it.",
        "",
    ]
    for role in Role:
        for process in Process:
            machine = MACHINES[(role, process)]
            parts += [f"## {role.value.upper()}: {process.value}", "", mermaid(machine), ""]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(page())
