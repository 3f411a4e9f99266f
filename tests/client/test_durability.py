"""How durable a commit is: a parameter of both stores, ``"normal"`` unless told otherwise; with
either setting, what was committed survives the death of the process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dmdelegation.client import ClientTreeStore, SQLiteJournalStore, StepState
from dmdelegation.client.database import Durability, open_database
from dmdelegation.client.testing import fired
from dmdelegation.tree import URI, Value
from dmdelegation.tree.journal import AddStep

from .helpers import DEVICE, OWNER, PROVISION

SYNCHRONOUS = {"normal": 1, "full": 2}


def _synchronous(store: ClientTreeStore | SQLiteJournalStore) -> int:
    value: int = store._conn.execute("PRAGMA synchronous").fetchone()[0]
    return value


def test_normal_is_the_default(tmp_path: Path) -> None:
    trees = ClientTreeStore(tmp_path / "c.sqlite3")
    journals = SQLiteJournalStore(tmp_path / "c.sqlite3")
    try:
        assert trees.durability == journals.durability == "normal"
        assert _synchronous(trees) == _synchronous(journals) == SYNCHRONOUS["normal"]
    finally:
        trees.close()
        journals.close()


@pytest.mark.parametrize("durability", ["normal", "full"])
def test_durability_sets_how_commits_are_synced(tmp_path: Path, durability: Durability) -> None:
    trees = ClientTreeStore(tmp_path / "c.sqlite3", durability=durability)
    journals = SQLiteJournalStore(tmp_path / "c.sqlite3", durability=durability)
    try:
        assert _synchronous(trees) == _synchronous(journals) == SYNCHRONOUS[durability]
        mode = trees._conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    finally:
        trees.close()
        journals.close()


def test_an_unknown_durability_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'sometimes'"):
        open_database(tmp_path / "c.sqlite3", durability="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="normal, full"):
        SQLiteJournalStore(tmp_path / "c.sqlite3", durability="FULL")  # type: ignore[arg-type]


KILLED = textwrap.dedent(
    """
    import os, signal, sys
    from dmdelegation.client import ClientTreeStore, SQLiteJournalStore, StepState
    from dmdelegation.client.testing import fired
    from dmdelegation.tree import URI, Value
    from dmdelegation.tree.journal import AddStep

    path, durability, device, server = sys.argv[1:]
    trees = ClientTreeStore(path, durability=durability)
    journals = SQLiteJournalStore(path, durability=durability)
    journal = journals.open("killed", device, server)
    seq = fired(journal.append(AddStep(URI.parse("./Vendor/New"))))
    fired(trees.session(device, server).add(URI.parse("./Vendor/New"), Value.text("x")))
    fired(journal.mark(seq, StepState.APPLIED))
    fired(journal.append(AddStep(URI.parse("./Vendor/Next"))))
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.parametrize("durability", ["normal", "full"])
def test_what_was_committed_survives_the_death_of_the_process(
    tmp_path: Path, durability: Durability
) -> None:
    """The daemon killed right after sending a command: the journal and the tree are on disk
    as they were at that instant (the last step pending, its outcome unknown)."""
    path = tmp_path / "c.sqlite3"
    setup = ClientTreeStore(path)
    setup.provision(PROVISION)
    setup.close()
    killed = subprocess.run(
        [sys.executable, "-c", KILLED, str(path), durability, DEVICE, OWNER],
        capture_output=True,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr.decode()
    trees = ClientTreeStore(path)
    journals = SQLiteJournalStore(path)
    try:
        assert journals.journal_ids() == ["killed"]
        entries = fired(journals.open("killed", DEVICE, OWNER).entries())
        assert [(e.seq, e.step, e.state) for e in entries] == [
            (1, AddStep(URI.parse("./Vendor/New")), StepState.APPLIED),
            (2, AddStep(URI.parse("./Vendor/Next")), StepState.PENDING),
        ]
        node = trees.storage(DEVICE).node(URI.parse("./Vendor/New"))
        assert node is not None
        assert node.value == Value.text("x")
    finally:
        trees.close()
        journals.close()
