"""The daemon's DM session endpoint under attack, over its real listener: a DevId that is not a
device is answered exactly as a device with wrong credentials (no oracle of which devices
exist), and repeated failures back off (refused without checking credentials)."""

from __future__ import annotations

import http.client
import re
from pathlib import Path

from dmdelegation.dm import auth, backoff, xml_codec
from dmdelegation.dm import message as sm
from dmdelegation.lab.devlab import free_port
from tests.dm.raw import opening

from .daemon import daemon

DEVICE = "IMEI:490154203237518"
STRANGER = "IMEI:000000000000000"
DEVICES = f"""\
[[device]]
DevId = "{DEVICE}"

[device.client]
AAuthType = "HMAC"
AAuthName = "{DEVICE}"
AAuthSecret = "the-device-secret"

[device.server]
AAuthType = "HMAC"
AAuthName = "us"
AAuthSecret = "the-server-secret"
"""


def _post(port: int, dev_id: str) -> tuple[int, dict[str, str], bytes]:
    url = f"http://127.0.0.1:{port}/dm"
    body = xml_codec.encode(opening(url, source=dev_id, devid=dev_id))
    headers = {
        "Content-Type": xml_codec.CONTENT_TYPE,
        auth.HMAC_HEADER: auth.hmac_header(dev_id, "a-guess", b"0" * auth.NONCE_SIZE, body),
    }
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/dm", body=body, headers=headers)
        response = connection.getresponse()
        got = {k.lower(): v for k, v in response.getheaders() if k.lower() != "date"}
        return response.status, got, response.read()
    finally:
        connection.close()


def _status(body: bytes) -> sm.Status:
    message = xml_codec.decode(body, 1 << 20)
    (status,) = [s for s in message.statuses if s.cmd == sm.SYNCHDR]
    return status


def _blank(body: bytes, dev_id: str) -> bytes:
    body = body.replace(dev_id.encode(), b"DEVID")
    return re.sub(rb"(<NextNonce[^>]*>)[^<]*(</NextNonce>)", rb"\1\2", body)


def test_an_unknown_device_looks_like_wrong_credentials_and_failures_back_off(
    tmp_path: Path,
) -> None:
    port = free_port()
    (tmp_path / "devices.toml").write_text(DEVICES)
    tables = (
        f'[dm]\nlisten = ["tcp:{port}:interface=127.0.0.1"]\n'
        f'url = "http://127.0.0.1:{port}/dm"\ndevices = "devices.toml"\n'
    )
    with daemon(tmp_path, tables=tables) as running:
        running.wait_for("DM session endpoint on")
        known, unknown = _post(port, DEVICE), _post(port, STRANGER)
        assert _status(known[2]).code == _status(unknown[2]).code == 401
        assert known[0] == unknown[0] == 200
        assert known[1].keys() == unknown[1].keys()
        assert _blank(known[2], DEVICE) == _blank(unknown[2], STRANGER)
        for _ in range(backoff.FREE_FAILURES - 1):
            assert _status(_post(port, STRANGER)[2]).code == 401
        # the failures of a DevId are counted: then it waits, credentials unread
        code, headers, body = _post(port, STRANGER)
        assert (code, _status(body).code) == (200, 417)
        assert headers["retry-after"] == str(int(backoff.FIRST_DELAY))
        # another DevId is not held off by the stranger's failures
        assert _status(_post(port, DEVICE)[2]).code == 401
        assert "the-device-secret" not in running.log()
