"""The lab of ``make demo`` with its device as a process of its own: three processes, no file
shared; DMS-1 reaches the device through its ``[dm]`` endpoint with the credentials of the
device's owner account, and the lab reads the device through ``device dump``/``device show``."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator

import pytest

from dmdelegation.lab.devlab import DMS1, DMS2, Lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("lab"))
    lab.start()
    yield lab
    lab.stop()


def test_three_processes_and_nothing_shared(lab: Lab) -> None:
    assert lab.sim is not None
    assert lab.sim.process is not None
    assert lab.sim.process.poll() is None
    one = tomllib.loads(lab.dms1.config.read_text())
    two = tomllib.loads(lab.dms2.config.read_text())
    assert one["dm"]["url"].endswith("/dm")
    assert "listen" in two["dm"]
    for config in (lab.dms1.config, lab.dms2.config):
        assert str(lab.sim.state) not in config.read_text()
        assert "device" + "/" not in config.read_text()
    assert lab.dump("./DMAcc/1/AppAddr/1/Addr") == [
        f'./DMAcc/1/AppAddr/1/Addr\tchr\ttext/plain\t-\t"{one["dm"]["url"]}"'
    ]
    # the device's own sessions with DMS-1 authenticate both ways against the real daemon
    assert lab.sim.wait_for(f"session with {DMS1}: 0 commands, ended ok")
    assert DMS2 not in "\n".join(lab.tree("./DMAcc"))
