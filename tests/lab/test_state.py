"""``dmdelegation device init``, ``dump`` and ``show``: the state directory a provisioning file
makes (0700, every file 0600 whatever the umask), refused when one is there, and the stored tree
printed canonically (secrets as their SHA-256) or readably (secrets masked)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from dmdelegation.cli import main
from dmdelegation.lab.device.state import DeviceState
from dmdelegation.tree import URI, Value

from ..dm.harness import CLIENT_SECRET, SERVER_SECRET
from .harness import device_file

LOCKED = '"./Vendor/Locked" = "Get=dms1.operator.example"'


def init(root: Path, state: Path, text: str) -> None:
    path = root / "device.toml"
    path.write_text(text)
    assert main(["device", "init", "--state", str(state), str(path)]) == 0


def test_init_makes_private_files_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        init(tmp_path, tmp_path / "state", device_file("http://127.0.0.1:1/dm", acl=LOCKED))
        state = DeviceState.open(tmp_path / "state")
        state.tree.set_value(URI.parse("./Vendor/Radio/Band"), Value.text("lte"))  # -wal, -shm
        files = sorted(p.name for p in (tmp_path / "state").iterdir())
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "state").iterdir()}
        state.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    assert "device.sqlite3-wal" in files
    assert modes == dict.fromkeys(files, 0o600)


def test_init_refuses_an_existing_device_and_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    init(tmp_path, state, device_file("http://127.0.0.1:1/dm"))
    before = (state / "device.sqlite3").read_bytes()
    path = tmp_path / "other.toml"
    path.write_text(device_file("http://127.0.0.1:2/dm"))
    assert main(["device", "init", "--state", str(state), str(path)]) == 1
    assert "a device is there already" in capsys.readouterr().err
    assert (state / "device.sqlite3").read_bytes() == before
    path.write_text('[devinfo]\nDevId = "x"\n')
    assert main(["device", "init", "--state", str(tmp_path / "new"), str(path)]) == 1
    assert "[devinfo].Man" in capsys.readouterr().err
    assert not (tmp_path / "new" / "device.sqlite3").exists()


def test_dump_is_canonical_and_never_shows_a_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("a", "b"):
        init(tmp_path, tmp_path / name, device_file("http://127.0.0.1:1/dm", acl=LOCKED))
    capsys.readouterr()
    dumps = []
    for name in ("a", "b"):
        assert main(["device", "dump", "--state", str(tmp_path / name)]) == 0
        dumps.append(capsys.readouterr().out)
    assert dumps[0] == dumps[1]
    lines = dumps[0].splitlines()
    assert lines == sorted(lines, key=lambda line: line.split("\t")[0])
    assert "./Vendor/Locked\tnode\t-\tGet=dms1.operator.example\t-" in lines
    assert './Vendor/Radio/Band\tchr\ttext/plain\t-\t"auto"' in lines
    digest = hashlib.sha256(CLIENT_SECRET.encode()).hexdigest()
    assert f"./DMAcc/1/AppAuth/2/AAuthSecret\tchr\ttext/plain\t-\tsha256:{digest}" in lines
    assert CLIENT_SECRET not in dumps[0]
    assert SERVER_SECRET not in dumps[0]

    changed = DeviceState.open(tmp_path / "b")
    changed.tree.set_value(URI.parse("./Vendor/Radio/Band"), Value.text("lte"))
    changed.close()
    assert main(["device", "dump", "--state", str(tmp_path / "b"), "./Vendor"]) == 0
    below = capsys.readouterr().out
    assert below.splitlines() == [
        line.replace('"auto"', '"lte"') for line in lines if line.startswith("./Vendor")
    ]


def test_show_masks_secrets_and_names_a_missing_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(tmp_path, tmp_path / "s", device_file("http://127.0.0.1:1/dm"))
    capsys.readouterr()
    assert main(["device", "show", "--state", str(tmp_path / "s"), "./DMAcc"]) == 0
    out = capsys.readouterr().out
    assert "./DMAcc/1/AppAuth/1/AAuthSecret [chr] = ********" in out
    assert SERVER_SECRET not in out
    assert main(["device", "show", "--state", str(tmp_path / "s"), "./Nothing"]) == 1
    assert "no node ./Nothing" in capsys.readouterr().err
    assert main(["device", "dump", "--state", str(tmp_path / "none")]) == 1
    assert "no device there" in capsys.readouterr().err


def test_simulate_refuses_bad_arguments_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["device", "simulate", "--state", str(tmp_path / "none")]) == 1
    assert "no device there" in capsys.readouterr().err
    init(tmp_path, tmp_path / "s", device_file("http://127.0.0.1:1/dm"))
    state = str(tmp_path / "s")
    assert main(["device", "simulate", "--state", state, "--notify", "bogus:1"]) == 1
    assert "--notify 'bogus:1'" in capsys.readouterr().err
    assert main(["device", "simulate", "--state", state, "--every", "-1"]) == 1
    assert "--every: must not be negative" in capsys.readouterr().err
