"""The crash suite in full (``make reliability``): every persisted step of every process of the
table, on either side. For k = 1, 2, ... the daemon under test kills itself (SIGKILL, test hook
``DMDELEGATION_CRASH_AFTER=k``) right after its k-th commit since it started; it is started
again, and both daemons must end agreeing, with no session open and the device holding the
delegation or no trace of it. The loop for a process ends at the first k that the process
never reaches."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dmdelegation.lab.devlab import DEVICE, DMS1, DMS2, SUBTREE, Daemon, Lab
from dmdelegation.store.crash_hook import CRASH_ENV
from tests.daemon.test_crash import _delegate, _delegations, _settled

PROCESSES: dict[str, tuple[bool, str, tuple[str, ...]]] = {
    # name: (delegated first?, initiator, command)
    "dmacc-by-dms1": (False, DMS1, ("delegate", DEVICE, "--to", DMS2, "--subtree", SUBTREE)),
    "dmacc-by-dms2": (False, DMS2, ("request", DEVICE, "--from", DMS1, "--subtree", SUBTREE)),
    "bootstrap-url-by-dms1": (
        False,
        DMS1,
        ("delegate", DEVICE, "--to", DMS2, "--subtree", SUBTREE, "--method", "bootstrap-url"),
    ),
    "bootstrap-url-by-dms2": (
        False,
        DMS2,
        ("request", DEVICE, "--from", DMS1, "--subtree", SUBTREE, "--method", "bootstrap-url"),
    ),
    "asked-revocation": (True, DMS1, ("revoke", DEVICE, "--subtree", SUBTREE, "--mode", "asked")),
    "requested-revocation": (True, DMS2, ("give-back", DEVICE, "--subtree", SUBTREE)),
    "forced-revocation": (True, DMS1, ("revoke", DEVICE, "--subtree", SUBTREE, "--mode", "forced")),
}
MAX_STEPS = 12


def _daemon(lab: Lab, server_id: str) -> Daemon:
    return lab.dms1 if server_id == DMS1 else lab.dms2


_LAST: dict[str, str] = {}  # what the last run's command printed, and the victim's log


def _one(tmp: Path, name: str, victim_id: str, k: int) -> bool:
    """Kill after commit k; True if the process reached it (so k + 1 is worth trying)."""
    delegated_first, initiator_id, command = PROCESSES[name]
    lab = Lab(tmp, device="embedded")
    lab.start()
    try:
        if delegated_first:
            _delegate(lab)
        victim = _daemon(lab, victim_id)
        lab.relaunch(victim, {CRASH_ENV: str(k)})
        ran = _daemon(lab, initiator_id).cli(*command, "--wait", "--timeout", "60")
        assert victim.process is not None
        try:
            victim.process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            fired = False
            _LAST["run"] = (
                f"command exited {ran.returncode}\nstdout: {ran.stdout[-1500:]}\n"
                f"stderr: {ran.stderr[-1500:]}\nvictim's log:\n{lab.tail(victim, 40)}"
            )
        else:
            fired = True
            assert "test hook: killed after commit" in lab.tail(victim, 80)
            lab.relaunch(victim)
        _settled(lab.dms1)
        _settled(lab.dms2)
        _settled(lab.dms1)
        one, two = _delegations(lab.dms1), _delegations(lab.dms2)
        assert one == two, (name, victim_id, k, one, two)
        tree = "\n".join(lab.tree())
        assert (DMS2 in tree) is bool(one), (name, victim_id, k)
        if delegated_first:
            assert one == [], (name, victim_id, k)
        return fired
    finally:
        lab.stop()


@pytest.mark.parametrize("victim_id", [DMS1, DMS2])
@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_every_persisted_step(tmp_path: Path, name: str, victim_id: str) -> None:
    for k in range(1, MAX_STEPS + 1):
        if not _one(tmp_path / f"k{k}", name, victim_id, k):
            # The initiator commits at least once.
            assert k > 1 or PROCESSES[name][1] != victim_id, _LAST.get("run", "")
            return
    raise AssertionError(f"{name}: more than {MAX_STEPS} commits on {victim_id}")
