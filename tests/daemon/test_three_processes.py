"""Two daemons and one simulated device, three processes that share no file: the device is
reached only over OMA DM sessions (HTTP on 127.0.0.1), the daemons speak mutual TLS. Every
process of the specification a DM device can go through, and after each revocation the device's
stored tree is byte-identical to what it was before the delegation."""

from __future__ import annotations

import subprocess
import tomllib
from collections.abc import Iterator

import pytest

from dmdelegation.lab.devlab import DEVICE, DMS1, DMS2, SUBTREE, Lab

INSIDE = f"{SUBTREE}/VPN/Server"
OUTSIDE = "./Vendor/Radio/Band"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("three"))
    lab.start()
    yield lab
    lab.stop()


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _in_force(lab: Lab) -> list[tuple[str, str]]:
    one, two = lab.dms1.status(), lab.dms2.status()
    assert not one["open_sessions"]
    assert not two["open_sessions"]
    return [(d["peer"], d["subtree"]) for d in one["delegations"] + two["delegations"]]


def test_nothing_is_shared(lab: Lab) -> None:
    assert lab.sim is not None
    for daemon in (lab.dms1, lab.dms2):
        config = tomllib.loads(daemon.config.read_text())
        assert "clients" not in config.get("store", {}) or "clients.sqlite3" not in str(
            config["store"]["clients"]
        )
        assert str(lab.sim.state) not in daemon.config.read_text()
    assert not (lab.root / "clients.sqlite3").exists()


def _dms2_acts(lab: Lab) -> None:
    """DMS-2, through its own DM session with the device: inside the subtree it is obeyed,
    outside it the device answers 425 and changes nothing."""
    out = _ok(lab.dms2.cli("dm", "get", DEVICE, INSIDE))
    assert out.splitlines()[0] == f"get {INSIDE} on {DEVICE}: 200"
    refused = lab.dms2.cli("dm", "replace", DEVICE, OUTSIDE, "lte")
    assert refused.returncode == 1
    assert refused.stdout.splitlines()[0] == f"replace {OUTSIDE} on {DEVICE}: 425"
    assert f'{OUTSIDE}\tchr\ttext/plain\t-\t"auto"' in lab.dump(OUTSIDE)


@pytest.mark.parametrize(
    ("starter", "method", "revocation"),
    [
        (DMS1, "dmacc", "asked"),
        (DMS2, "dmacc", "requested"),
        (DMS1, "bootstrap-url", "forced"),
        (DMS2, "bootstrap-url", "asked"),
    ],
)
def test_delegation_and_revocation_leave_the_device_as_it_was(
    lab: Lab, starter: str, method: str, revocation: str
) -> None:
    before = lab.dump()
    if starter == DMS1:
        started = lab.dms1.cli(
            "delegate", DEVICE, "--to", DMS2, "--method", method, "--subtree", SUBTREE, "--wait"
        )
    else:
        started = lab.dms2.cli(
            "request", DEVICE, "--from", DMS1, "--method", method, "--subtree", SUBTREE, "--wait"
        )
    assert "delegated" in _ok(started).splitlines()[-1]
    assert sorted(_in_force(lab)) == [(DMS1, SUBTREE), (DMS2, SUBTREE)]
    assert any(DMS2 in line for line in lab.dump("./DMAcc"))
    _dms2_acts(lab)

    if revocation == "requested":
        ended = lab.dms2.cli("give-back", DEVICE, "--subtree", SUBTREE, "--wait")
    else:
        ended = lab.dms1.cli("revoke", DEVICE, "--subtree", SUBTREE, "--mode", revocation, "--wait")
    assert "revoked" in _ok(ended).splitlines()[-1]
    assert _in_force(lab) == []
    assert lab.dump() == before

    # DMS-2 is no longer admitted: its command waits for a session the device never opens
    gone = lab.dms2.cli("dm", "get", DEVICE, INSIDE, "--timeout", "2")
    assert gone.returncode == 1
