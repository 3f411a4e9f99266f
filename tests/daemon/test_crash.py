"""The crash suite, reduced form (one crash point per process): a real daemon is killed
(SIGKILL, by the test hook ``DMDELEGATION_CRASH_AFTER``) right after a persisted step, started
again, and both daemons end agreeing: the process completed, or it was rolled back and the
device holds no trace of it. ``tests/engine/test_restart.py`` covers every persisted step of
every process in memory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dmdelegation.commands.operate import AdminClient
from dmdelegation.lab.devlab import DEVICE, DMS1, DMS2, SUBTREE, Daemon, Lab
from dmdelegation.store.crash_hook import CRASH_ENV


def _settled(daemon: Daemon) -> None:
    """Wait (server-side long-polls, no client sleep) until the daemon has no open session."""
    admin = AdminClient(daemon.admin, timeout=90)
    for _ in range(20):
        open_sessions = admin.call("GET", "/status")["open_sessions"]
        if not open_sessions:
            return
        for session in open_sessions:
            admin.call("GET", f"/sessions/{session['session']}/wait?timeout=60")
    raise AssertionError(f"{daemon.server_id} still has open sessions")


def _delegations(daemon: Daemon) -> list[tuple[str, str]]:
    return [(d["device"], d["subtree"]) for d in daemon.status()["delegations"]]


def _delegate(lab: Lab) -> None:
    result = lab.dms1.cli("delegate", DEVICE, "--to", DMS2, "--subtree", SUBTREE, "--wait")
    assert result.returncode == 0, result.stdout + result.stderr


Action = Callable[[Lab], object]

CASES: dict[str, tuple[bool, str, int, Action]] = {
    # name: (delegated first?, daemon killed, after its n-th commit, what starts the process)
    "dmacc-delegation-dms1-killed": (
        False,
        DMS1,
        3,
        lambda lab: lab.dms1.cli("delegate", DEVICE, "--to", DMS2, "--subtree", SUBTREE),
    ),
    "bootstrap-url-delegation-dms2-killed": (
        False,
        DMS2,
        3,
        lambda lab: lab.dms2.cli(
            "request", DEVICE, "--from", DMS1, "--subtree", SUBTREE, "--method", "bootstrap-url"
        ),
    ),
    "asked-revocation-dms2-killed": (
        True,
        DMS2,
        2,
        lambda lab: lab.dms1.cli("revoke", DEVICE, "--subtree", SUBTREE, "--mode", "asked"),
    ),
    "requested-revocation-dms1-killed": (
        True,
        DMS1,
        1,
        lambda lab: lab.dms2.cli("give-back", DEVICE, "--subtree", SUBTREE),
    ),
    "forced-revocation-dms1-killed": (
        True,
        DMS1,
        1,
        lambda lab: lab.dms1.cli("revoke", DEVICE, "--subtree", SUBTREE, "--mode", "forced"),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_killed_after_a_persisted_step_then_restarted(tmp_path: Path, name: str) -> None:
    delegated_first, victim_id, after, start = CASES[name]
    lab = Lab(tmp_path, device="embedded")
    lab.start()
    try:
        if delegated_first:
            _delegate(lab)
        victim = lab.dms1 if victim_id == DMS1 else lab.dms2
        lab.relaunch(victim, {CRASH_ENV: str(after)})
        start(lab)
        assert victim.process is not None
        assert victim.process.wait(timeout=60) == -9, "the hook did not fire"
        assert "test hook: killed after commit" in lab.tail(victim, 50)
        lab.relaunch(victim)  # a normal start: reload, re-arm, resume
        _settled(lab.dms1)
        _settled(lab.dms2)
        _settled(lab.dms1)  # a late message from DMS-2 may have reopened nothing: checked again
        one, two = _delegations(lab.dms1), _delegations(lab.dms2)
        assert one == two, (one, two)  # both sides agree
        tree = "\n".join(lab.tree())
        if one:
            assert DMS2 in tree
        else:
            assert DMS2 not in tree  # rolled back, or revoked: no trace
        if delegated_first:
            assert one == []  # a revocation always ends with the delegation gone
    finally:
        lab.stop()
