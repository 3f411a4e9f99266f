"""The ``[dm]`` section: parsed and checked like the rest of the configuration; the daemon then
serves the DM session endpoint and reaches the devices of its device list through it."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.http_headers import Headers

from dmdelegation.daemon.config import ConfigError, parse
from dmdelegation.daemon.service import DelegationService
from dmdelegation.dm import auth, xml_codec
from dmdelegation.dm.client_session import DMClientSession
from dmdelegation.dm.device_file import DeviceListError, StoredDeviceList, parse_devices
from dmdelegation.dm.interop import DMClientChanges
from dmdelegation.lab import pki
from dmdelegation.lab.devlab import DMS1, DMS2, SUBTREE, _config
from dmdelegation.protocol import AuthLevel, AuthType

from ..test_config import _files
from ..web.certs import temp_dir
from .harness import CLIENT_SECRET, DEVICE, SERVER_SECRET
from .raw import opening, post

DEVICES = f"""\
[[device]]
DevId = "{DEVICE}"
atomic = false

[device.client]
AAuthType = "DIGEST"
AAuthName = "{DEVICE}"
AAuthSecret = "{CLIENT_SECRET}"

[device.server]
AAuthType = "DIGEST"
AAuthName = "{DMS1}"
AAuthSecret = "{SERVER_SECRET}"
"""


def _dm(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    (tmp_path / "devices.toml").write_text(DEVICES)
    data = _files(tmp_path)
    data["dm"] = {
        "listen": ["tcp:8080:interface=127.0.0.1"],
        "url": "https://dm.operator.example/dm",
        "devices": "devices.toml",
    } | overrides
    return data


def test_dm_section_parses(tmp_path: Path) -> None:
    config = parse(_dm(tmp_path, max_msg_size=4096), tmp_path)
    assert config.dm is not None
    assert (config.dm.path, config.dm.max_msg_size, config.dm.session_timeout) == (
        "/dm",
        4096,
        300.0,
    )
    assert config.dm.devices == tmp_path / "devices.toml"
    assert parse(_files(tmp_path), tmp_path).dm is None


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("listen", [], "dm.listen:"),
        ("url", "ftp://x/dm", "dm.url:"),
        ("devices", "absent.toml", "dm.devices:"),
        ("path", "dm", "dm.path:"),
        ("max_msg_size", 100, "dm.max_msg_size:"),
        ("session_timeout", 0, "dm.session_timeout:"),
        ("colour", "blue", "dm.colour: unknown key"),
    ],
)
def test_dm_section_faults_name_their_key(
    tmp_path: Path, key: str, value: object, named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        parse(_dm(tmp_path, **{key: value}), tmp_path)


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda d: d["device"][0].pop("DevId"), r"device\[0\]\.DevId"),
        (lambda d: d["device"][0]["client"].update(AAuthType="BASIC"), "client.AAuthType"),
        (lambda d: d["device"][0]["server"].update(Colour="x"), "server.Colour: unknown"),
        (lambda d: d["device"][0].update(atomic="yes"), "atomic"),
        (lambda d: d["device"].append(d["device"][0]), r"device\[1\]\.DevId: .* twice"),
        (lambda d: d["device"][0]["client"].update(AAuthSecret=""), "AAuthSecret"),
    ],
)
def test_device_list_faults_name_their_key(edit: Any, named: str) -> None:
    data = tomllib.loads(DEVICES)
    edit(data)
    with pytest.raises(DeviceListError, match=named) as caught:
        parse_devices(data)
    assert CLIENT_SECRET not in str(caught.value)
    assert SERVER_SECRET not in str(caught.value)


def test_nonces_survive_a_restart(tmp_path: Path) -> None:
    devices = parse_devices(tomllib.loads(DEVICES))
    (device,) = devices
    assert (device.client.auth_type, device.atomic) == (AuthType.DIGEST, False)
    stored = StoredDeviceList(devices, tmp_path / "nonces.sqlite3")
    stored.save_nonce(DEVICE, AuthLevel.CLIENT, b"client nonce")
    stored.save_nonce(DEVICE, AuthLevel.SERVER, b"server nonce")
    stored.close()
    again = StoredDeviceList(devices, tmp_path / "nonces.sqlite3")
    got = again.device(DEVICE)
    again.close()
    assert got is not None
    assert (got.client.nonce, got.server.nonce) == (b"client nonce", b"server nonce")
    assert repr(got).count("client nonce") == 0


class Daemon(TestCase):
    async def test_the_daemon_serves_the_endpoint_and_uses_it(self) -> None:
        tmp = temp_dir(self).resolve()
        pki.init(tmp / "pki", [DMS1, DMS2])
        (tmp / "devices.toml").write_text(DEVICES)
        text = _config(DMS1, DMS2, 0, 1, 0, tmp / "clients.sqlite3") + (
            '\n[dm]\nlisten = ["tcp:0:interface=127.0.0.1"]\n'
            'url = "http://127.0.0.1/dm"\ndevices = "devices.toml"\n'
        )
        data = tomllib.loads(text)
        service = DelegationService(parse(data, tmp), reactor)
        service.privilegedStartService()
        self.addCleanup(service.stopService)
        assert isinstance(service.engine.client_changes, DMClientChanges)
        changes: Any = service.engine.client_changes.inner
        assert type(changes.session_for(DEVICE)) is DMClientSession  # atomic = false
        with pytest.raises(LookupError):  # not in the DM list: the embedded store's device
            changes.session_for("IMEI:other")
        port = service.ports[-1].getHost().port  # type: ignore[attr-defined]
        url = f"http://127.0.0.1:{port}/dm"
        # the device's digest with its first nonce (none yet)
        answer = await post(url, xml_codec.encode(opening(url, cred=auth_cred())))
        status = answer.header_status()
        assert status.code == 212
        assert status.chal is not None
        assert (tmp / f"{DMS1}-state" / "dm-nonces.sqlite3").exists()
        assert service.dm is not None
        saved = service.dm.devices.device(DEVICE)
        assert saved is not None
        assert saved.client.nonce == status.chal.next_nonce


def auth_cred() -> Any:
    from dmdelegation.dm import message as sm

    return sm.Cred(type=auth.MD5_TYPE, data=auth.md5_digest(DEVICE, CLIENT_SECRET, b""))


def test_the_example_device_list_parses() -> None:
    example = Path(__file__).parents[2] / "deploy" / "dm-devices.example.toml"
    (device,) = parse_devices(tomllib.loads(example.read_text()))
    assert device.client.auth_type is AuthType.HMAC


def test_a_pure_dms2_needs_no_device_list(tmp_path: Path) -> None:
    data = _dm(tmp_path)
    del data["dm"]["devices"]
    config = parse(data, tmp_path)
    assert config.dm is not None
    assert config.dm.devices is None


class DaemonAsDMS2(TestCase):
    """The daemon's wiring of DMS-2 over DM sessions (the flows themselves: test_dms2.py)."""

    def _start(self, devices: str | None, server_id: str = DMS2) -> tuple[Any, Path]:
        tmp = temp_dir(self).resolve()
        pki.init(tmp / "pki", [DMS1, DMS2])
        peer = DMS1 if server_id == DMS2 else DMS2
        text = _config(server_id, peer, 0, 1, 0, tmp / "clients.sqlite3") + (
            '\n[dm]\nlisten = ["tcp:0:interface=127.0.0.1"]\nurl = "http://127.0.0.1/dm"\n'
        )
        if devices is not None:
            (tmp / "devices.toml").write_text(devices)
            text += 'devices = "devices.toml"\n'
        service = DelegationService(parse(tomllib.loads(text), tmp), reactor)
        service.privilegedStartService()
        self.addCleanup(service.stopService)
        return service, tmp

    async def test_dms2_duties_enrolments_and_bootstrap_on_the_dm_listener(self) -> None:
        from dmdelegation.daemon.dm_endpoint import RoutedDelegatedServer
        from dmdelegation.dm.delegated import DMDelegatedServer
        from dmdelegation.dm.enrolment import ENROLMENT_FILE, DeviceLists

        service, tmp = self._start(None)  # a pure DMS-2: no device list
        delegated = service.engine.delegated
        assert isinstance(delegated, RoutedDelegatedServer)
        assert isinstance(delegated.dm, DMDelegatedServer)
        assert service.dm is not None
        assert isinstance(service.dm.server.devices, DeviceLists)
        assert delegated.dm.tokens is service.dm.enrolment
        assert (tmp / f"{DMS2}-state" / ENROLMENT_FILE).exists()
        port = service.ports[-1].getHost().port
        url = f"http://127.0.0.1:{port}/bs/not-a-token"
        answer = await post(url, xml_codec.encode(opening(url)))
        assert answer.header_status().code == 401
        assert answer.message().commands == ()
        # the DM session endpoint is still at its path
        dm_url = f"http://127.0.0.1:{port}/dm"
        answer = await post(dm_url, xml_codec.encode(opening(dm_url)))
        # nobody enrolled yet: answered as a device without credentials would be
        assert answer.header_status().code == 407

    async def test_dms1_refuses_requests_for_devices_it_does_not_manage(self) -> None:
        from dmdelegation.engine.model import Role

        service, _ = self._start(DEVICES, server_id=DMS1)
        policy = service.engine.policy
        asked = type("R", (), {"dm_tree_uri": SUBTREE, "is_delegation_full": False})
        # the peer's device scope holds both (the lab's group: IMEI:0*); only one is ours
        unknown = "IMEI:000000000000999"
        for device, expected in ((DEVICE, (True, 200)), (unknown, (False, 404))):
            question: Any = asked()  # the fields of a DELEGATION_REQ the policy reads
            question.device_id = device
            decision = self.successResultOf(policy.decide(Role.DMS1, DMS2, question))
            assert (decision.accept, decision.reason_code) == expected

    async def test_a_dry_run_of_a_dm_device_through_the_admin_api(self) -> None:
        import json

        import treq

        from .harness import SUBTREE

        service, _ = self._start(DEVICES, server_id=DMS1)
        admin = service.ports[1].getHost().port
        body = {"device": DEVICE, "to": DMS2, "subtree": SUBTREE, "dry_run": True}
        response = await treq.post(
            f"http://127.0.0.1:{admin}/delegate",
            data=json.dumps(body).encode(),
            headers=Headers({"Content-Type": ["application/json"]}),
            persistent=False,
        )
        answer = json.loads(await response.content())
        assert response.code == 200, answer
        assert answer["dry_run"] is True
        assert answer["changes"]["added"] == ["./DMAcc/2"]
        assert any("not read for a dry run" in note for note in answer["notes"])


def test_an_http_bootstrap_url_only_with_the_dm_listener(tmp_path: Path) -> None:
    data = _dm(tmp_path)
    data["dms2"]["bootstrap_url"] = "http://127.0.0.1:8080/bs"
    config = parse(data, tmp_path)
    assert config.delegated.bootstrap_url == "http://127.0.0.1:8080/bs"
    del data["dm"]
    with pytest.raises(ConfigError, match=r"dms2\.bootstrap_url: expected an https://"):
        parse(data, tmp_path)
