"""The files of the lab `dmdelegation.lab.devlab` starts: the names of its two servers, its
device and the subtree delegated, the device's initial state, DMS-1's and DMS-2's device lists and
``[dm]`` sections, and each daemon's configuration (`_config`). `devlab` re-exports them.
"""

from __future__ import annotations

from pathlib import Path

DMS1 = "dms1.operator.example"
DMS2 = "dms2.enterprise.example"
DEVICE = "IMEI:490154203237518"
SUBTREE = "./Vendor/Enterprise"

DEVICE_FILE = f"""\
[devinfo]
DevId = "{DEVICE}"
Man = "Acme"
Mod = "Phone 3"

[owner]
ServerID = "{DMS1}"
Name = "Operator DM"

[[owner.AppAddr]]
Addr = "https://{DMS1}/dm"

[[owner.AppAuth]]
AAuthLevel = "SRVCRED"
AAuthType = "HMAC"
AAuthName = "{DMS1}"
AAuthSecret = "operator-server-secret"

[[owner.AppAuth]]
AAuthLevel = "CLCRED"
AAuthType = "HMAC"
AAuthName = "{DEVICE}"
AAuthSecret = "operator-client-secret"

[nodes]
"./Vendor/Enterprise/VPN/Server" = "vpn.enterprise.example"
"./Vendor/Enterprise/VPN/Port" = 443
"./Vendor/Enterprise/Mail/Enabled" = true
"./Vendor/Radio/Band" = "auto"
"./BootConfig" = {{}}
"""


DEVICE_LIST = f"""\
[[device]]
DevId = "{DEVICE}"
atomic = true
{{notify}}
[device.client]
AAuthType = "HMAC"
AAuthName = "{DEVICE}"
AAuthSecret = "operator-client-secret"

[device.server]
AAuthType = "HMAC"
AAuthName = "{DMS1}"
AAuthSecret = "operator-server-secret"
"""

DEVICE_EVERY = "0.5"  # seconds between the device's own sessions (until package #0 reaches it)


def _device_list(notify_url: str) -> str:
    """DMS-1's device list: the lab's device, with the credentials of its owner account, and
    where package #0 wakes it."""
    return DEVICE_LIST.format(notify=f'notify = "{notify_url}"\n')


def _wake_list(notify_url: str) -> str:
    """DMS-2's device list: no credentials (the device is admitted once enrolled for a
    delegation), only where package #0 wakes it."""
    return f'[[device]]\nDevId = "{DEVICE}"\nnotify = "{notify_url}"\n'


def _dm_section(port: int, devices: str) -> str:
    """A ``[dm]`` section listening on ``port``; ``devices`` the device list's file name."""
    lines = [
        "[dm]",
        f'listen = ["tcp:{port}:interface=127.0.0.1"]',
        f'url = "http://127.0.0.1:{port}/dm"',
        'path = "/dm"',
        f'devices = "{devices}"',
    ]
    return "\n".join(lines) + "\n"


def device_id(i: int) -> str:
    return DEVICE if i == 0 else f"IMEI:{i:015d}"


def _config(
    server_id: str,
    peer: str,
    port: int,
    peer_port: int,
    admin_port: int,
    clients: Path | None,
    bootstrap_url: str = "",
) -> str:
    we_delegate = server_id == DMS1
    return f"""\
server_id = "{server_id}"
state_dir = "{server_id}-state"

[tls]
certificate = "pki/{server_id}.crt"
key = "pki/{server_id}.key"
ca = ["pki/ca.crt"]

[delegation]
listen = ["tcp:{port}:interface=127.0.0.1"]
path = "/delegation"

[admin]
listen = "tcp:{admin_port}:interface=127.0.0.1"

[dms2]
dm_url = "https://{server_id}/dm"
bootstrap_url = "{bootstrap_url or f"https://bootstrap.{server_id}/bs"}"

[timeouts]
peer = 20
client_bootstrap = 20
termination = 5
revoked = 30
delivery = 15
request = 10
local = 20

{"" if clients is None else f'[store]{chr(10)}clients = "{clients}"{chr(10)}'}
[[peers]]
server_id = "{peer}"
url = "https://127.0.0.1:{peer_port}/delegation"
name = "{peer}"
we_delegate = {str(we_delegate).lower()}
accept = true
subtrees = ["{SUBTREE}"]
device_groups = ["lab"]
allow_full = true
max_open_processes = 100000

[device_groups]
lab = ["{DEVICE}", "IMEI:0*"]
"""
