"""Two real daemons as separate processes, with generated certificates, on 127.0.0.1: a
delegation and a revocation end to end through the ``dmdelegation`` command."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dmdelegation.lab.devlab import DEVICE, DMS1, DMS2, SUBTREE, Lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("lab"), device="embedded")  # DMS-2 reads the embedded store
    lab.start()
    yield lab
    lab.stop()


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_dmacc_delegation_and_asked_revocation(lab: Lab) -> None:
    out = _ok(lab.dms1.cli("delegate", DEVICE, "--to", DMS2, "--subtree", SUBTREE, "--wait"))
    assert [line.strip() for line in out.splitlines() if line.startswith("  ")] == [
        "-> DELEGATION_REQ",
        "<- DELEGATION_RESP",
        "<- BOOTSTRAP_CONFIRMED",
        "-> DELEGATION_PREPARED",
        "<- DELEGATION_CONFIRMED",
    ]
    assert "delegated" in out.splitlines()[-1]
    one, two = lab.dms1.status(), lab.dms2.status()
    assert [(d["peer"], d["subtree"]) for d in one["delegations"]] == [(DMS2, SUBTREE)]
    assert [(d["peer"], d["subtree"]) for d in two["delegations"]] == [(DMS1, SUBTREE)]
    named = [line for line in lab.tree() if DMS2 in line.split("ACL:")[-1]]
    assert named
    assert all(line.startswith(SUBTREE) for line in named)

    out = _ok(lab.dms1.cli("revoke", DEVICE, "--subtree", SUBTREE, "--mode", "asked", "--wait"))
    assert "revoked" in out.splitlines()[-1]
    assert lab.dms1.status()["delegations"] == [] == lab.dms2.status()["delegations"]
    assert not any(DMS2 in line for line in lab.tree())


def test_bootstrap_url_delegation_requested_by_dms2_and_given_back(lab: Lab) -> None:
    _ok(
        lab.dms2.cli(
            "request",
            DEVICE,
            "--from",
            DMS1,
            "--method",
            "bootstrap-url",
            "--wait",
            "--subtree",
            SUBTREE,
        )
    )
    assert [d["peer"] for d in lab.dms1.status()["delegations"]] == [DMS2]
    out = _ok(lab.dms2.cli("give-back", DEVICE, "--subtree", SUBTREE, "--wait"))
    assert "revoked" in out.splitlines()[-1]
    assert lab.dms1.status()["delegations"] == [] == lab.dms2.status()["delegations"]
    assert not any(DMS2 in line for line in lab.tree())


def test_a_refused_command_exits_non_zero_with_the_reason(lab: Lab) -> None:
    result = lab.dms1.cli("revoke", DEVICE, "--subtree", SUBTREE, "--mode", "asked")
    assert result.returncode == 1
    assert "refused (409)" in result.stderr
    assert "not delegated" in result.stderr
    # Refused locally, before a message is sent or a session recorded, as --dry-run refuses it.
    sessions = _ok(lab.dms1.cli("sessions"))
    for args, line in [
        (("--to", "nobody.example"), "refused (404): nobody.example is not a configured peer"),
        (("--to", DMS2, "--subtree", "./Vendor/Nowhere"), f"no node ./Vendor/Nowhere on {DEVICE}"),
    ]:
        for dry in ((), ("--dry-run",)):
            result = lab.dms1.cli("delegate", DEVICE, *args, *dry, "--wait")
            assert result.returncode == 1
            assert result.stdout == ""
            (said,) = result.stderr.splitlines()
            assert said.startswith("dmdelegation delegate: refused (404): ")
            assert said.endswith(line)
    result = lab.dms1.cli("delegate", "IMEI:000000000000000", "--to", DMS2, "--wait")
    assert result.returncode == 1
    (said,) = result.stderr.splitlines()
    assert said.startswith("dmdelegation delegate: refused (404): ")
    assert "IMEI:000000000000000" in said
    assert lab.dms1.status()["open_sessions"] == []
    assert _ok(lab.dms1.cli("sessions")) == sessions


def test_a_bad_configuration_stops_the_start_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('server_id = "x"\nstate_dir = "s"\n')
    twistd = Path(sys.executable).with_name("twistd")
    result = subprocess.run(
        [str(twistd), "--nodaemon", "--pidfile=", "dmdelegation", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["dmdelegation: tls: required"]
    assert "Usage" not in result.stdout + result.stderr
