"""The first hour of a new user: every mistake is one line on stderr and a non-zero exit status,
run as the user runs it (the real command in a subprocess)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dmdelegation.cli import build_parser
from dmdelegation.daemon.config import ConfigError, load
from dmdelegation.lab import pki

DMS1 = "dms1.example"
DMS2 = "dms2.example"
TWISTD = str(Path(sys.executable).with_name("twistd"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _config(tmp: Path, delegation_port: int, *, cert_key: str = "certificate") -> Path:
    pki.init(tmp / "pki", [DMS1, DMS2])
    path = tmp / "dms1.toml"
    path.write_text(
        f"""\
server_id = "{DMS1}"
state_dir = "state"

[tls]
{cert_key} = "pki/{DMS1}.crt"
key = "pki/{DMS1}.key"
ca = ["pki/ca.crt"]

[delegation]
listen = ["tcp:{delegation_port}:interface=127.0.0.1"]

[admin]
listen = "tcp:{_free_port()}:interface=127.0.0.1"

[dms2]
dm_url = "https://{DMS1}/dm"
bootstrap_url = "https://bootstrap.{DMS1}/bs"

[[peers]]
server_id = "{DMS2}"
url = "https://127.0.0.1:{_free_port()}/delegation"
"""
    )
    return path


def _run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DMDELEGATION_ADMIN"}
    return subprocess.run(
        argv, capture_output=True, text=True, check=False, timeout=120, cwd=cwd, env=env
    )


def _cli(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return _run(sys.executable, "-m", "dmdelegation.cli", *argv, cwd=cwd)


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize("daemonize", [False, True])
def test_a_port_in_use_is_one_line(tmp_path: Path, daemonize: bool) -> None:
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = _config(tmp_path, port)
        log = ["--logfile", str(tmp_path / "twistd.log")] if daemonize else ["-n"]
        done = _run(TWISTD, *log, "--pidfile=", "dmdelegation", "--config", str(config))
    assert done.returncode == 1
    assert _one_line(done) == (
        f"dmdelegation: cannot start: delegation.listen 'tcp:{port}:interface=127.0.0.1': "
        "Address already in use"
    )


def test_an_unknown_key_is_named_as_written(tmp_path: Path) -> None:
    config = _config(tmp_path, _free_port(), cert_key="cert")
    done = _run(TWISTD, "-n", "--pidfile=", "dmdelegation", "--config", str(config))
    assert done.returncode == 1
    assert _one_line(done) == "dmdelegation: tls.cert: unknown key (tls.certificate is required)"


def test_a_tls_folder_that_cannot_be_entered_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run as root, a chmod 000 folder can still be entered: the refusal the OS gives another
    # user is given here by the seam the check uses.
    config = _config(tmp_path, _free_port())
    real = Path.exists

    def exists(path: Path, **kw: bool) -> bool:
        if path.parent.name == "pki":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, **kw)

    monkeypatch.setattr(Path, "exists", exists)
    with pytest.raises(ConfigError) as refused:
        load(config)
    crt = (tmp_path / "pki" / f"{DMS1}.crt").resolve()
    assert str(refused.value) == f"tls.certificate: {crt}: Permission denied"


def test_the_command_without_a_config_hints_at_it(tmp_path: Path) -> None:
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 8440)) == 0:
            pytest.skip("something listens on the default admin port")
    done = _cli("status", cwd=tmp_path)
    assert done.returncode == 1
    line = _one_line(done)
    assert line.startswith("dmdelegation status: cannot reach the daemon at tcp:8440:")
    assert line.endswith("; no --config FILE or --admin ENDPOINT was given")


def test_json_alone_starts_nothing(tmp_path: Path) -> None:
    # An admin endpoint nobody listens on: the refusal comes before any attempt to reach it.
    done = _cli("delegate", "DEV", "--to", DMS2, "--json", "--admin", f"tcp:{_free_port()}")
    assert done.returncode == 2
    assert _one_line(done) == "dmdelegation delegate: --json needs --dry-run (it prints the plan)"


def test_version() -> None:
    done = _cli("--version")
    assert done.returncode == 0
    assert done.stdout == "dmdelegation 0.1.0\n"


def test_revoke_shows_its_mode() -> None:
    parser = build_parser()
    assert "--mode asked or --mode forced" in parser.format_help()
    groups = next(a for a in parser._actions if a.dest == "group")
    revoke = groups.choices["revoke"]  # type: ignore[index]
    text = revoke.format_help()
    assert "--mode {asked,forced}" in text
    assert "asked: DMS-2 stops first" in text
