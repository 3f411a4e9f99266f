"""Load: 500 concurrent mutual-TLS connections and 20 000 messages from a second process
against a real daemon. Every message is answered; afterwards the daemon's memory is back within
10 % of what it was before the load, and no file descriptor is left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dmdelegation.lab.devlab import DMS2, Lab

CONNECTIONS = 500
MESSAGES = 20_000


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _port(lab: Lab) -> int:
    text = lab.dms1.config.read_text()
    return int(text.split('listen = ["tcp:')[1].split(":")[0])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("load"), device="embedded")
    lab.start()
    yield lab
    lab.stop()


def _load(lab: Lab, connections: int, messages: int) -> dict[str, int]:
    pki = lab.root / "pki"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.load.loadgen",
            "127.0.0.1",
            str(_port(lab)),
            str(pki / "ca.crt"),
            str(pki / f"{DMS2}.crt"),
            str(pki / f"{DMS2}.key"),
            str(connections),
            str(messages),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 0, result.stderr[-2000:]
    answered: dict[str, int] = json.loads(result.stdout.strip().splitlines()[-1])
    return answered


def test_load_is_answered_and_leaves_nothing_behind(lab: Lab) -> None:
    assert lab.dms1.process is not None
    pid = lab.dms1.process.pid
    _load(lab, 20, 200)  # warm up: the code paths, the TLS contexts, SQLite's files and caches
    rss, fds = _rss(pid), _fds(pid)
    for _ in range(2):  # and a second time: nothing accumulates either
        answered = _load(lab, CONNECTIONS, MESSAGES)
        assert answered == {"404": MESSAGES}  # every message answered: an unknown session
        assert _fds(pid) == fds, "file descriptors left behind"
        # a round trip with the daemon (not a wait): what it does after the last connection
        # closes (give the burst's memory back) is done by the time it answers
        assert lab.dms1.cli("status").returncode == 0
        after = _rss(pid)
        assert after <= rss * 1.10, f"memory grew from {rss} to {after} bytes"
    assert lab.dms1.cli("status").returncode == 0  # and it still serves
