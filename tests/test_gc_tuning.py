"""The daemon tunes the garbage collector once running; a library host's process is left alone."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactor

from dmdelegation.daemon import gc_tuning, tap
from dmdelegation.daemon.service import DelegationService
from dmdelegation.lab import pki
from dmdelegation.lab.devlab import DMS1, DMS2, _config


@pytest.fixture(autouse=True)
def collector() -> Iterator[None]:
    """Whatever a test does to the collector is undone."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_tuning_waits_for_the_reactor_to_run() -> None:
    reactor = MemoryReactor()
    threshold = gc.get_threshold()
    gc_tuning.tune_for_daemon(reactor)
    assert gc.get_threshold() == threshold
    assert gc.get_freeze_count() == 0
    reactor.run()
    assert gc.get_threshold() == gc_tuning.THRESHOLD
    assert gc.get_freeze_count() > 0


def test_a_reactor_that_never_runs_changes_nothing() -> None:
    threshold = gc.get_threshold()
    gc_tuning.tune_for_daemon(Clock())
    assert gc.get_threshold() == threshold


def _options(tmp_path: Path) -> tap.Options:
    pki.init(tmp_path / "pki", [DMS1, DMS2])
    config = tmp_path / "dms1.toml"
    config.write_text(_config(DMS1, DMS2, 18443, 18444, 18440, tmp_path / "clients.sqlite3"))
    options = tap.Options()
    options.parseOptions(["--config", str(config)])
    return options


def test_the_twistd_plugin_tunes_its_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reactors: list[object] = []
    monkeypatch.setattr("dmdelegation.daemon.gc_tuning.tune_for_daemon", reactors.append)
    clock = Clock()
    tap.makeService(_options(tmp_path), reactor=clock)
    assert reactors == [clock]


def test_the_service_used_as_a_library_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reactors: list[object] = []
    monkeypatch.setattr("dmdelegation.daemon.gc_tuning.tune_for_daemon", reactors.append)
    DelegationService(_options(tmp_path).loaded, Clock())
    assert reactors == []
