"""A throw-away cluster left behind by a killed run is stopped and deleted by the next one;
the clusters of live runs are left alone."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dmdelegation.store.throwaway import (
    PREFIX,
    NoPostgres,
    ThrowawayPostgres,
    find_binaries,
    reap_abandoned,
)

# Starts a cluster, says where, then waits for its stdin to close (it is killed first).
ABANDONING = """
import sys
from dmdelegation.store.throwaway import ThrowawayPostgres
server = ThrowawayPostgres().start()
print(server.dir, flush=True)
sys.stdin.read()
"""


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie left for an init that does not reap is not running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _binaries() -> Path:
    try:
        return find_binaries()
    except NoPostgres as e:  # make test installs it (.ci/postgresql.sh)
        pytest.fail(str(e))


@pytest.fixture
def parent() -> Iterator[Path]:
    """A temporary directory the cluster's user (``postgres`` when we are root) can enter."""
    directory = Path(tempfile.mkdtemp(prefix="dmdpg-test-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_a_killed_runs_cluster_is_stopped_and_deleted_by_the_next(
    parent: Path, postgres: ThrowawayPostgres
) -> None:
    tmp_path = parent
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    child = subprocess.Popen(
        [sys.executable, "-c", ABANDONING],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert child.stdout is not None
    directory = Path(child.stdout.readline().strip())
    postmaster = int((directory / "data" / "postmaster.pid").read_text().split()[0])
    assert directory.name.startswith(PREFIX)
    assert _running(postmaster)

    assert reap_abandoned(_binaries(), str(tmp_path)) == []  # its owner is alive: left alone
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert directory.exists()  # abandoned, still running

    assert reap_abandoned(_binaries(), str(tmp_path)) == [directory]
    assert not directory.exists()
    assert not _running(postmaster)  # pg_ctl stop waits for the server to be gone
    assert postgres.dir.exists()  # this run's own cluster is not touched (another directory)
