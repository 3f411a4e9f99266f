"""Two real daemons on 127.0.0.1 with a development PKI and one device: what ``make demo``
shows and what the two-daemon tests drive.

The device is either a process of its own (``Lab(device="process")``, the default: ``dmdelegation
device simulate`` over its own state directory, which DMS-1 manages through its ``[dm]`` DM
session endpoint, and DMS-2 through its own; three processes with no file shared), or the
embedded one (``device="embedded"``): both daemons share the embedded client store file, which
stands for the one DM Client both servers manage (SQLite WAL allows the two processes at once).
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

from dmdelegation.client.provisioning import parse_provision
from dmdelegation.client.store import ClientTreeStore
from dmdelegation.lab import pki
from dmdelegation.lab.device.dump import dump_lines
from dmdelegation.lab.devlab_files import (
    DEVICE,
    DEVICE_EVERY,
    DEVICE_FILE,
    DMS1,
    DMS2,
    SUBTREE,
    _config,
    _device_list,
    _dm_section,
    _wake_list,
    device_id,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
class DeviceProcess:
    """``dmdelegation device simulate`` over the lab's device state."""

    state: Path
    notify_port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    ready: threading.Event = field(factory=threading.Event)
    output: list[bytes] = field(factory=list)
    written: threading.Condition = field(factory=threading.Condition)

    def wait_for(self, text: str, timeout: float = 30) -> bool:
        """Whether ``text`` appears in the device's log within ``timeout`` seconds (woken by each
        line the log copier writes: no polling)."""
        want = text.encode()
        with self.written:
            return self.written.wait_for(lambda: any(want in line for line in self.output), timeout)

    def cli(self, *args: str) -> list[str]:
        """``dmdelegation device ARGS --state <the device's state>``: its output lines."""
        command = [sys.executable, "-m", "dmdelegation.cli", "device", *args[:1]]
        command += ["--state", str(self.state), *args[1:]]
        result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
        return result.stdout.splitlines()


@define
class Lab:
    """A directory with a PKI, two configurations and a provisioned device."""

    root: Path
    devices: int = 1  # DEVICE, then IMEI:000000000000001 ... for benchmarks (embedded only)
    device: str = "process"  # or "embedded": the device in the store both daemons share
    dms1: Daemon = field(init=False)
    dms2: Daemon = field(init=False)
    sim: DeviceProcess | None = field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        if self.device not in ("process", "embedded"):
            raise ValueError(f"device must be 'process' or 'embedded', not {self.device!r}")
        if self.device == "process" and self.devices != 1:
            raise ValueError("the device process is one device: use device='embedded'")
        self.root.mkdir(parents=True, exist_ok=True)
        pki.init(self.root / "pki", [DMS1, DMS2])
        clients = self.root / "clients.sqlite3"
        p1, p2, a1, a2, d1, d2, notify = (free_port() for _ in range(7))
        dm: dict[str, str] = {DMS1: "", DMS2: ""}
        bootstrap = {server: f"https://bootstrap.{server}/bs" for server in (DMS1, DMS2)}
        if self.device == "process":
            devices = self.root / "dms1-devices.toml"
            devices.write_text(_device_list(f"http://127.0.0.1:{notify}/notify"))
            devices.chmod(0o600)  # the device's credentials
            dm[DMS1] = _dm_section(d1, "dms1-devices.toml")
            (self.root / "dms2-devices.toml").write_text(
                _wake_list(f"http://127.0.0.1:{notify}/notify")
            )
            # DMS-2's bootstrap server is its DM listener (Bootstrap Server URL approach)
            dm[DMS2] = _dm_section(d2, "dms2-devices.toml")
            bootstrap[DMS2] = f"http://127.0.0.1:{d2}/bs"
        daemons = {}
        for server_id, peer, port, peer_port, admin in (
            (DMS1, DMS2, p1, p2, a1),
            (DMS2, DMS1, p2, p1, a2),
        ):
            path = self.root / f"{server_id}.toml"
            shared = clients if self.device == "embedded" else None  # else each its own
            text = _config(server_id, peer, port, peer_port, admin, shared, bootstrap[server_id])
            path.write_text(text + ("\n" + dm[server_id] if dm[server_id] else ""))
            daemons[server_id] = Daemon(
                server_id, path, f"tcp:{admin}:interface=127.0.0.1", self.root / f"{server_id}.log"
            )
        self.dms1, self.dms2 = daemons[DMS1], daemons[DMS2]
        device = self.root / "device.toml"
        if self.device == "process":
            # the owner account points at DMS-1's DM endpoint
            device.write_text(
                DEVICE_FILE.replace(f"https://{DMS1}/dm", f"http://127.0.0.1:{d1}/dm")
            )
            self.sim = DeviceProcess(self.root / "device", notify, self.root / "device.log")
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "dmdelegation.cli",
                    "device",
                    "init",
                    "--state",
                    str(self.sim.state),
                    str(device),
                ],
                check=True,
                capture_output=True,
            )
            return
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
        if self.sim is not None:
            self.launch_device(self.sim)
        for daemon in (self.dms1, self.dms2):
            started = daemon.ready.wait(timeout)
            assert daemon.process is not None
            if not started or daemon.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"{daemon.server_id} did not start:\n{self.tail(daemon)}")
        if self.sim is not None:
            started = self.sim.ready.wait(timeout)
            assert self.sim.process is not None
            if not started or self.sim.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"the device did not start:\n{self.tail(self.sim)}")

    def launch_device(self, sim: DeviceProcess) -> None:
        sim.ready = threading.Event()
        sim.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dmdelegation.cli",
                "device",
                "simulate",
                "--state",
                str(sim.state),
                "--notify",
                f"tcp:{sim.notify_port}:interface=127.0.0.1",
                "--every",
                DEVICE_EVERY,
            ],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        threading.Thread(target=self._copy_log, args=(sim, b" ready"), daemon=True).start()

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
        threading.Thread(target=self._copy_log, args=(daemon, b"admin API on"), daemon=True).start()

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
    def _copy_log(daemon: Daemon | DeviceProcess, ready: bytes) -> None:
        assert daemon.process is not None
        assert daemon.process.stdout is not None
        with open(daemon.log, "ab") as log:
            for line in daemon.process.stdout:
                log.write(line)
                log.flush()
                if ready in line:
                    daemon.ready.set()
                if isinstance(daemon, DeviceProcess):
                    with daemon.written:
                        daemon.output.append(line)
                        daemon.written.notify_all()
        daemon.ready.set()  # the process ended: whoever waits finds out

    def tail(self, daemon: Daemon | DeviceProcess, lines: int = 20) -> str:
        try:
            return "\n".join(daemon.log.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        processes: list[Daemon | DeviceProcess] = [self.dms1, self.dms2]
        if self.sim is not None:
            processes.append(self.sim)
        for daemon in processes:
            if daemon.process is not None and daemon.process.poll() is None:
                daemon.process.send_signal(signal.SIGTERM)
        for daemon in processes:
            if daemon.process is not None:
                try:
                    daemon.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    daemon.process.kill()
                    daemon.process.wait()

    def tree(self, uri: str = ".") -> list[str]:
        """The device's tree as ``dmdelegation device show`` (or, for the embedded device,
        ``dmdelegation tree show``) prints it (secrets masked)."""
        if self.sim is not None:
            return self.sim.cli("show", uri)
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

    def dump(self, uri: str = ".") -> list[str]:
        """The device's stored tree as ``dmdelegation device dump`` prints it (canonical;
        secrets as their SHA-256); for the embedded device, the same lines from the store."""
        if self.sim is not None:
            return self.sim.cli("dump", uri)
        from dmdelegation.tree.uri import URI

        store = ClientTreeStore(self.root / "clients.sqlite3", read_only=True)
        try:
            return dump_lines(store.records(DEVICE, URI.parse(uri)))
        finally:
            store.close()


# The lab's names, its files' included (the tests and the demo read them here).
__all__ = [
    "DEVICE",
    "DMS1",
    "DMS2",
    "SUBTREE",
    "Daemon",
    "DeviceProcess",
    "Lab",
    "_config",
    "device_id",
    "free_port",
]
