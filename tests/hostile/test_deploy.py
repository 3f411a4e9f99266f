"""The shipped deployment files hold what the hostile tests rely on: the systemd unit sets a
file descriptor limit and no hardening that breaks TLS; the example configuration grants one
peer one subtree on one device group, and nothing more."""

from __future__ import annotations

import configparser
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from dmdelegation.daemon.config import ConfigError, parse

DEPLOY = Path(__file__).parents[2] / "deploy"


def _unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "dmdelegation.service")
    return unit


def test_the_unit_sets_a_descriptor_limit_and_no_write_execute_ban() -> None:
    """``MemoryDenyWriteExecute`` makes every handshake fail (pyOpenSSL's callbacks are cffi
    closures in writable, executable memory); ``LimitNOFILE`` bounds what the connection caps
    leave to the rest."""
    service = _unit()["Service"]
    assert "MemoryDenyWriteExecute" not in service
    assert int(service["LimitNOFILE"]) >= 4096
    assert service["UMask"] == "0077"


def test_the_unit_header_says_how_to_install_config_and_tls_files() -> None:
    header = (DEPLOY / "dmdelegation.service").read_text().split("[Unit]")[0]
    assert "/etc/dmdelegation/dmdelegation.toml" in header
    assert "/etc/dmdelegation/tls/" in header


def test_the_example_grants_one_peer_one_subtree_on_one_device_group(tmp_path: Path) -> None:
    for name in ("me.crt", "me.key", "ca.crt"):
        (tmp_path / name).write_text("x")
    data = tomllib.loads((DEPLOY / "dmdelegation.example.toml").read_text())
    data["tls"] = {"certificate": "me.crt", "key": "me.key", "ca": ["ca.crt"]}
    config = parse(data, tmp_path)
    (peer,) = config.peers
    assert (peer.accept, peer.subtrees, peer.devices, peer.allow_full) == (
        True,
        ("./Vendor/Enterprise",),
        (),
        False,
    )
    (group,) = peer.device_groups
    assert config.device_groups[group]


@pytest.mark.parametrize(
    "endpoint",
    [
        "tcp:8440:interface=127.0.0.1:interface=0.0.0.0",
        "tcp:8440:interface=0.0.0.0:x=interface=127.0.0.1",
        "tcp:8440",
        "tcp:8440:interface=127.0.0.1.evil.example",
        "ssl:8440:interface=127.0.0.1",
    ],
)
def test_the_admin_endpoint_is_parsed_not_searched(tmp_path: Path, endpoint: str) -> None:
    for name in ("me.crt", "me.key", "ca.crt"):
        (tmp_path / name).write_text("x")
    data = tomllib.loads((DEPLOY / "dmdelegation.example.toml").read_text())
    data["tls"] = {"certificate": "me.crt", "key": "me.key", "ca": ["ca.crt"]}
    data["admin"]["listen"] = endpoint
    with pytest.raises(ConfigError, match=r"^admin\.listen: "):
        parse(data, tmp_path)


MDWE_PROBE = """
import ctypes, sys
if ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, REFUSE_EXEC_GAIN
    sys.exit(3)
from OpenSSL import SSL
try:
    SSL.Context(SSL.TLS_METHOD).set_verify(SSL.VERIFY_PEER, lambda *a: True)
except MemoryError:
    sys.exit(0)
sys.exit(1)
"""


def test_why_the_unit_has_no_memory_deny_write_execute() -> None:
    """Under the kernel's memory-deny-write-execute (``PR_SET_MDWE``, what systemd 253 and
    later use for ``MemoryDenyWriteExecute=yes``), pyOpenSSL cannot install the verification
    callback every mutual-TLS handshake of the daemon needs."""
    done = subprocess.run([sys.executable, "-c", MDWE_PROBE], capture_output=True, timeout=60)
    if done.returncode == 3:
        pytest.skip("this kernel has no PR_SET_MDWE")
    assert done.returncode == 0, done.stderr.decode()
