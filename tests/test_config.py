"""The configuration file: the example parses; each fault is one line naming its key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from dmdelegation.daemon.config import ConfigError, load, parse

EXAMPLE = Path(__file__).parents[1] / "deploy" / "dmdelegation.example.toml"


def _files(tmp_path: Path) -> dict[str, Any]:
    for name in ("me.crt", "me.key", "ca.crt"):
        (tmp_path / name).write_text("x")
    data = tomllib.loads(EXAMPLE.read_text())
    data["tls"] = {"certificate": "me.crt", "key": "me.key", "ca": ["ca.crt"]}
    data["state_dir"] = "state"
    return data


def test_the_example_parses(tmp_path: Path) -> None:
    config = parse(_files(tmp_path), tmp_path)
    assert config.server_id == "dms1.operator.example"
    assert config.state_dir == tmp_path / "state"
    assert config.tls.ca == (tmp_path / "ca.crt",)
    (peer,) = config.peers
    assert (peer.server_id, peer.name, peer.allow_full) == (
        "dms2.enterprise.example",
        "dms2.enterprise.example",
        False,
    )
    assert config.timeouts.termination == 600
    assert config.peer("dms2.enterprise.example") is peer


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    target: Any = data
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    if value is None:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        ("server_id", None, "server_id: required"),
        ("server_id", 42, "server_id: expected a string"),
        ("server_id", " ", "server_id: must not be empty"),
        ("tls.certificate", "missing.crt", "tls.certificate:"),
        ("tls.ca", [], "tls.ca:"),
        ("tls.ca", ["missing.crt"], "tls.ca[0]:"),
        ("delegation.listen", [], "delegation.listen:"),
        ("delegation.path", "delegation", "delegation.path:"),
        ("delegation.max_body", 10, "delegation.max_body:"),
        ("delegation.max_body", "big", "delegation.max_body: expected an integer"),
        ("admin.listen", "tcp:8440", "admin.listen:"),
        ("dms2.dm_url", "http://plain.example/dm", "dms2.dm_url:"),
        ("timeouts.peer", -1, "timeouts.peer: must be positive"),
        ("timeouts.eternity", 5, "timeouts.eternity: unknown key"),
        ("store.durability", "sometimes", "store.durability:"),
        ("peers.0.url", "ftp://x", "peers[0].url:"),
        ("peers.0.pin_sha256", "abc", "peers[0].pin_sha256:"),
        ("peers.0.subtrees", ["Vendor"], "peers[0].subtrees:"),
        ("peers.0.we_delegate", "yes", "peers[0].we_delegate: expected true or false"),
        ("peers.0.colour", "blue", "peers[0].colour: unknown key"),
        ("peers.0.server_id", "dms1.operator.example", "peers[0].server_id:"),
        ("surprise", 1, "surprise: unknown key"),
        ("admin.listen", "tcp:8440:interface=127.0.0.1:interface=0.0.0.0", "admin.listen:"),
        ("peers.0.device_groups", ["nowhere"], "peers[0].device_groups: 'nowhere'"),
        ("peers.0.subtrees", [], "peers[0].subtrees: accept = true grants nothing"),
        ("peers.0.device_groups", [], "peers[0].devices: accept = true grants no device"),
        ("peers.0.max_open_processes", 0, "peers[0].max_open_processes: must be at least 1"),
        ("delegation.max_connections", 0, "delegation.max_connections: must be at least 1"),
        ("store.retention_days", 0, "store.retention_days: must be positive"),
    ],
)
def test_each_fault_names_its_key(tmp_path: Path, path: str, value: Any, named: str) -> None:
    data = _files(tmp_path)
    _set(data, path, value)
    with pytest.raises(ConfigError) as e:
        parse(data, tmp_path)
    assert str(e.value).startswith(named), str(e.value)
    assert "\n" not in str(e.value)


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        load(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("server_id = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(bad)


def test_two_peers_at_one_address_or_with_one_pin_are_refused(tmp_path: Path) -> None:
    data = _files(tmp_path)
    twin = dict(data["peers"][0], server_id="twin.example")
    data["peers"].append(twin)
    with pytest.raises(ConfigError, match=r"^peers\[1\]\.url: same host and port as peers\[0\]"):
        parse(data, tmp_path)
    pin = "ab" * 32
    data["peers"][0]["pin_sha256"] = pin
    data["peers"][1] = dict(twin, url="https://twin.example/delegation", pin_sha256=pin)
    with pytest.raises(ConfigError, match=r"^peers\[1\]\.pin_sha256: same pin as peers\[0\]"):
        parse(data, tmp_path)


def test_transition_logging_is_off_unless_asked(tmp_path: Path) -> None:
    data = _files(tmp_path)
    data.pop("log", None)
    assert parse(data, tmp_path).log_transitions is False
    data["log"] = {"transitions": True}
    assert parse(data, tmp_path).log_transitions is True
    data["log"] = {"transitions": "yes"}
    with pytest.raises(ConfigError, match=r"^log\.transitions: expected true or false"):
        parse(data, tmp_path)


def test_a_peer_without_grants_is_granted_nothing(tmp_path: Path) -> None:
    data = _files(tmp_path)
    data["peers"][0] = {
        "server_id": "dms2.enterprise.example",
        "url": "https://dms2.enterprise.example:8443/delegation",
    }
    (peer,) = parse(data, tmp_path).peers
    assert (peer.accept, peer.subtrees, peer.devices, peer.device_groups, peer.allow_full) == (
        False,
        (),
        (),
        (),
        False,
    )
