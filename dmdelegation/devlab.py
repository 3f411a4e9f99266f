"""Two real daemons on 127.0.0.1 with a development PKI and one embedded device: what
``make demo`` shows and what the two-daemon tests drive.

Both daemons share the embedded client store file, which stands for the one DM Client both
servers manage (SQLite WAL allows the two processes at once).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import tomllib
from pathlib import Path
from typing import Any

from attrs import define, field

from dmdelegation import pki
from dmdelegation.client.provisioning import parse_provision
from dmdelegation.client.store import ClientTreeStore

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


def device_id(i: int) -> str:
    return DEVICE if i == 0 else f"IMEI:{i:015d}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _config(
    server_id: str, peer: str, port: int, peer_port: int, admin_port: int, clients: Path
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
bootstrap_url = "https://bootstrap.{server_id}/bs"

[timeouts]
peer = 20
client_bootstrap = 20
termination = 5
revoked = 30
delivery = 15
request = 10
local = 20

[store]
clients = "{clients}"

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


@define
class Daemon:
    server_id: str
    config: Path
    admin: str
    log: Path
    process: subprocess.Popen[bytes] | None = None
    ready: threading.Event = field(factory=threading.Event)

    def cli(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run ``dmdelegation ARGS --config <this daemon's file>``."""
        command = [sys.executable, "-m", "dmdelegation.cli", *args, "--config", str(self.config)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {result.stderr.strip()}")
        return result

    def status(self) -> Any:
        return json.loads(self.cli("status", "--json", check=True).stdout)


@define
class Lab:
    """A directory with a PKI, two configurations and a provisioned device."""

    root: Path
    devices: int = 1  # DEVICE, then IMEI:000000000000001 ... for benchmarks
    dms1: Daemon = field(init=False)
    dms2: Daemon = field(init=False)

    def __attrs_post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        pki.init(self.root / "pki", [DMS1, DMS2])
        clients = self.root / "clients.sqlite3"
        p1, p2, a1, a2 = (free_port() for _ in range(4))
        daemons = {}
        for server_id, peer, port, peer_port, admin in (
            (DMS1, DMS2, p1, p2, a1),
            (DMS2, DMS1, p2, p1, a2),
        ):
            path = self.root / f"{server_id}.toml"
            path.write_text(_config(server_id, peer, port, peer_port, admin, clients))
            daemons[server_id] = Daemon(
                server_id, path, f"tcp:{admin}:interface=127.0.0.1", self.root / f"{server_id}.log"
            )
        self.dms1, self.dms2 = daemons[DMS1], daemons[DMS2]
        device = self.root / "device.toml"
        device.write_text(DEVICE_FILE)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "dmdelegation.cli",
                "tree",
                "provision",
                "--store",
                str(clients),
                str(device),
            ],
            check=True,
            capture_output=True,
        )
        if self.devices > 1:
            store = ClientTreeStore(clients)
            for i in range(1, self.devices):
                text = DEVICE_FILE.replace(DEVICE, device_id(i))
                store.provision(parse_provision(tomllib.loads(text)))
            store.close()

    def start(self, timeout: float = 30) -> None:
        """Start both daemons; returns once each has logged that its admin API is up (its log
        is read as it is written: no polling)."""
        for daemon in (self.dms1, self.dms2):
            self.launch(daemon)
        for daemon in (self.dms1, self.dms2):
            started = daemon.ready.wait(timeout)
            assert daemon.process is not None
            if not started or daemon.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"{daemon.server_id} did not start:\n{self.tail(daemon)}")

    def launch(self, daemon: Daemon, env: dict[str, str] | None = None) -> None:
        twistd = Path(sys.executable).with_name("twistd")
        daemon.ready = threading.Event()
        daemon.process = subprocess.Popen(
            [
                str(twistd),
                *(
                    [f"--profile={daemon.log}.prof", "--profiler=cprofile", "--savestats"]
                    if os.environ.get("DMDELEGATION_PROFILE") == daemon.server_id
                    else []
                ),
                "--nodaemon",
                "--pidfile=",
                "--logfile=-",
                "dmdelegation",
                "--config",
                str(daemon.config),
            ],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        threading.Thread(target=self._copy_log, args=(daemon,), daemon=True).start()

    def relaunch(
        self, daemon: Daemon, env: dict[str, str] | None = None, timeout: float = 30
    ) -> None:
        """Stop ``daemon`` if it runs (SIGTERM), start it again (with ``env`` added), and wait
        until it serves."""
        if daemon.process is not None and daemon.process.poll() is None:
            daemon.process.send_signal(signal.SIGTERM)
            daemon.process.wait(timeout=15)
        self.launch(daemon, env)
        started = daemon.ready.wait(timeout)
        assert daemon.process is not None
        if not started or daemon.process.poll() is not None:
            raise RuntimeError(f"{daemon.server_id} did not start:\n{self.tail(daemon)}")

    @staticmethod
    def _copy_log(daemon: Daemon) -> None:
        assert daemon.process is not None
        assert daemon.process.stdout is not None
        with open(daemon.log, "ab") as log:
            for line in daemon.process.stdout:
                log.write(line)
                log.flush()
                if b"admin API on" in line:
                    daemon.ready.set()
        daemon.ready.set()  # the process ended: whoever waits finds out

    def tail(self, daemon: Daemon, lines: int = 20) -> str:
        try:
            return "\n".join(daemon.log.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        for daemon in (self.dms1, self.dms2):
            if daemon.process is not None and daemon.process.poll() is None:
                daemon.process.send_signal(signal.SIGTERM)
        for daemon in (self.dms1, self.dms2):
            if daemon.process is not None:
                try:
                    daemon.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    daemon.process.kill()
                    daemon.process.wait()

    def tree(self, uri: str = ".") -> list[str]:
        """The device's tree as ``dmdelegation tree show`` prints it (secrets masked)."""
        store = str(self.root / "clients.sqlite3")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "dmdelegation.cli",
                "tree",
                "show",
                "--store",
                store,
                DEVICE,
                uri,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.splitlines()
