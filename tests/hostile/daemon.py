"""The daemon itself, as the systemd unit runs it (``twistd -n dmdelegation --config``), in a
subprocess on 127.0.0.1: for the hostile tests that need the whole process (its resident memory,
its file descriptors, the modes of the files it makes, the admin API as it is configured).

The configuration is written from a fresh template: PEER is configured and granted only what
``grants`` says (nothing by default). Clients are stdlib ``ssl`` sockets presenting the test
PKI's certificates (``tests.web.certs``)."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from attrs import define, field

from dmdelegation.lab import pki
from dmdelegation.lab.devlab import free_port
from tests.web.certs import PEER, US, certs

START_WITHIN = 30.0


def _write_pki(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "us.crt").write_bytes(pki.certificate_pem(certs().us))
    (directory / "us.key").write_bytes(pki.key_pem(certs().us))
    (directory / "ca.crt").write_bytes(pki.certificate_pem(certs().ca))
    (directory / "peer.crt").write_bytes(pki.certificate_pem(certs().peer))
    (directory / "peer.key").write_bytes(pki.key_pem(certs().peer))


@define
class Running:
    """A started daemon: its ports, its process, what it printed."""

    root: Path
    port: int
    admin_port: int
    process: subprocess.Popen[bytes]
    output: list[bytes] = field(factory=list)
    printed: threading.Condition = field(factory=threading.Condition)

    def rss(self) -> int:
        """The process's resident set, in bytes (from /proc)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def wait_for(self, fragment: str, within: float = 10.0) -> None:
        """Wait until the daemon has printed ``fragment`` (its output is read as it comes)."""
        with self.printed:
            found = self.printed.wait_for(lambda: fragment in self.log(), within)
        if not found:
            raise AssertionError(f"{fragment!r} not printed within {within}s:\n{self.log()}")

    def log(self) -> str:
        return b"".join(self.output).decode("utf-8", "replace")

    def tls(self, timeout: float = 5.0) -> ssl.SSLSocket:
        """A mutual-TLS connection to the delegation interface, presenting PEER's certificate."""
        context = ssl.create_default_context(cafile=str(self.root / "pki" / "ca.crt"))
        context.check_hostname = False
        context.load_cert_chain(self.root / "pki" / "peer.crt", self.root / "pki" / "peer.key")
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return context.wrap_socket(raw)


def config_text(
    port: int,
    admin_port: int,
    *,
    grants: str = "",
    extra: str = "",
    admin: str = "",
    tables: str = "",
) -> str:
    return f"""\
server_id = "{US}"
state_dir = "state"

[tls]
certificate = "pki/us.crt"
key = "pki/us.key"
ca = ["pki/ca.crt"]

[delegation]
listen = ["tcp:{port}:interface=127.0.0.1"]
{extra}

[admin]
listen = "tcp:{admin_port}:interface=127.0.0.1"
{admin}

[dms2]
dm_url = "https://{US}/dm"
bootstrap_url = "https://bootstrap.{US}/bs"

[[peers]]
server_id = "{PEER}"
url = "https://127.0.0.1:{free_port()}/delegation"
name = "{PEER}"
we_delegate = true
{grants}

{tables}
"""


def _copy(process: subprocess.Popen[bytes], running: Running, ready: threading.Event) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        with running.printed:
            running.output.append(line)
            running.printed.notify_all()
        if b"admin API on" in line:
            ready.set()
    ready.set()


@contextmanager
def daemon(
    root: Path,
    *,
    grants: str = "",
    extra: str = "",
    admin: str = "",
    tables: str = "",
    umask: int | None = None,
) -> Iterator[Running]:
    """Run the daemon with a fresh configuration in ``root``; stopped (SIGTERM) at the end."""
    _write_pki(root / "pki")
    port, admin_port = free_port(), free_port()
    path = root / "dmdelegation.toml"
    path.write_text(
        config_text(port, admin_port, grants=grants, extra=extra, admin=admin, tables=tables)
    )
    twistd = Path(sys.executable).with_name("twistd")
    previous = os.umask(umask) if umask is not None else None
    try:
        process = subprocess.Popen(
            [
                str(twistd),
                "--nodaemon",
                "--pidfile=",
                "--logfile=-",
                "dmdelegation",
                "--config",
                str(path),
            ],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    finally:
        if previous is not None:
            os.umask(previous)
    running = Running(root, port, admin_port, process)
    ready = threading.Event()
    threading.Thread(target=_copy, args=(process, running, ready), daemon=True).start()
    try:
        if not ready.wait(START_WITHIN) or process.poll() is not None:
            raise AssertionError(f"the daemon did not start:\n{running.log()}")
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
