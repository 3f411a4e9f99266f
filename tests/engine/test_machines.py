"""The machines as tables: complete, live, documented; and pure (no engine, no I/O)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from dmdelegation.engine.diagram import explore, page
from dmdelegation.engine.inputs import (
    BootstrapSupplied,
    DutyDone,
    PeerUnreachable,
    Start,
    TimerExpired,
    TreeDone,
    URLSupplied,
)
from dmdelegation.engine.machine import Context, Machine, OutOfOrder
from dmdelegation.engine.machines import MACHINES
from dmdelegation.engine.model import Process, Role, Session

ALL = list(MACHINES.values())
IDS = [f"{m.role.value}-{m.process.value}" for m in ALL]
LOCAL_RESULTS = {TreeDone, DutyDone, BootstrapSupplied, URLSupplied, PeerUnreachable}


def test_one_machine_per_role_and_process_each_in_its_own_module() -> None:
    assert set(MACHINES) == {(role, process) for role in Role for process in Process}
    package = Path(__file__).parents[2] / "dmdelegation" / "engine"
    modules = sorted(p.stem for p in package.glob("dms[12]_*.py") if "common" not in p.stem)
    owners = [importlib.import_module(f"dmdelegation.engine.{name}").MACHINE for name in modules]
    assert len(modules) == 10
    assert {(m.role, m.process) for m in owners} == set(MACHINES)


def test_state_machines_page_is_current() -> None:
    documented = Path(__file__).parents[2] / "docs" / "state-machines.md"
    assert documented.read_text() == page(), "run: python -m dmdelegation.engine.diagram"


@pytest.mark.parametrize("machine", ALL, ids=IDS)
def test_every_row_of_the_table_is_reachable(machine: Machine) -> None:
    _, _, used = explore(machine)
    unused = set(machine.table) - used
    assert not unused, unused


@pytest.mark.parametrize("machine", ALL, ids=IDS)
def test_no_open_state_can_wait_for_ever(machine: Machine) -> None:
    """An open session either has a deadline (and a row for its timer), or runs a local action
    or a request whose result (or failure) the table takes."""
    _, sessions, _ = explore(machine)
    for session in sessions:
        if not session.is_open or session.process is not machine.process:
            continue
        if session.state == machine.first_state:
            continue
        accepts = machine.accepts(session.state)
        if session.wait is not None:
            assert TimerExpired in accepts, session.state
        else:
            assert accepts & LOCAL_RESULTS or session.aborted, (session.state, accepts)


@pytest.mark.parametrize("machine", ALL, ids=IDS)
def test_a_closed_session_never_reopens(machine: Machine) -> None:
    _, sessions, _ = explore(machine)
    done = [s for s in sessions if s.state == machine.terminal]
    assert done
    assert all(not s.is_open for s in done)


def test_unexpected_input_is_a_clear_error_and_no_transition() -> None:
    machine = MACHINES[(Role.DMS2, Process.REVOCATION_FORCED)]
    session = Session(
        session_id="0" * 32,
        role=Role.DMS2,
        process=Process.REVOCATION_FORCED,
        state="new",
        peer="p",
        device_id="d",
        subtree=".",
        full=False,
        initiator=Role.DMS1,
    )
    with pytest.raises(OutOfOrder, match="Start is not expected by a dms2 revocation-forced"):
        machine.step(session, Start(), Context(now=0, server_id="me"))
