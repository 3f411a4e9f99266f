"""The whole daemon process under attack on 127.0.0.1 (``daemon.py``): its memory under a
trailer flood, its connection cap, the modes of its state files, its admin API's guards."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import stat
from pathlib import Path

import pytest

from dmdelegation.protocol import CONTENT_TYPE

from .daemon import daemon

MiB = 1024 * 1024
FLOOD = 96 * MiB  # trailer lines sent after the request's last chunk
GROWTH = 24 * MiB  # the most the daemon's resident set may grow under it


def _trailer_flood(sock: ssl.SSLSocket) -> int:
    """Send a chunked POST whose body ends in endless trailer lines; the bytes the daemon took
    before it cut the connection (``FLOOD`` if it never did)."""
    head = (
        b"POST /delegation HTTP/1.1\r\nHost: dms1\r\n"
        b"Content-Type: " + CONTENT_TYPE.encode() + b"\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n"
    )
    sock.sendall(head)
    line = b"X-Trailer: " + b"a" * 1000 + b"\r\n"
    block = line * 64
    sent = 0
    try:
        while sent < FLOOD:
            sock.sendall(block)
            sent += len(block)
    except (OSError, ssl.SSLError):
        pass
    return sent


def _answer_until_closed(sock: ssl.SSLSocket) -> tuple[bytes, bool]:
    """What the daemon answered, and whether it closed the connection within the socket's
    timeout (False: still open)."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        return received, False
    except (OSError, ssl.SSLError):
        pass
    return received, True


def test_a_parser_refusal_ends_the_connection_and_frees_its_memory(tmp_path: Path) -> None:
    """A trailer flood on the TLS port: Twisted's parser answers 400, and the connection is
    then aborted within a few seconds (the site's deadline is 30); what comes after the refusal
    is never buffered: the daemon's RSS grows by less than GROWTH while FLOOD bytes are sent
    (without the change: by all of them, about 100 MiB, until the deadline)."""
    with daemon(tmp_path) as running:
        before = running.rss()
        with running.tls(timeout=10) as sock:
            sent = _trailer_flood(sock)
            sock.settimeout(5)
            answer, closed = _answer_until_closed(sock)
        grown = running.rss() - before
        assert grown < GROWTH, f"resident set grew by {grown / MiB:.0f} MiB ({sent} bytes sent)"
        assert closed, "the connection was still open 5 s after the refusal"
        assert answer.startswith(b"HTTP/1.1 400 ")
        assert "400 malformed HTTP" in running.log()


def test_connections_beyond_the_listener_cap_are_closed_at_once(tmp_path: Path) -> None:
    """With ``max_connections = 8``, eight idle connections hold the listener full: a ninth is
    closed as soon as it is accepted (no handshake), the admin API still answers, and once the
    idle ones are gone a new connection is served."""
    with daemon(tmp_path, extra="max_connections = 8") as running:
        idle = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(8)]
        try:
            with pytest.raises((ssl.SSLError, OSError)), running.tls(timeout=5) as sock:
                sock.recv(1)
            assert "connections open, the limit" in running.log()
            health = http.client.HTTPConnection("127.0.0.1", running.admin_port, timeout=5)
            health.request("GET", "/health")
            assert health.getresponse().status == 200
        finally:
            for s in idle:
                s.close()
        running.wait_for("below the limit again")
        with running.tls(timeout=5) as sock:
            sock.sendall(b"GET /delegation HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 405")


def test_state_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """Started under umask 0 with the JSON log on, every SQLite file (and its -wal/-shm) and
    the log are mode 0600, the state directory 0700."""
    with daemon(tmp_path, umask=0, tables='[log]\njson = "events.json"'):
        pass
    state = tmp_path / "state"
    made = [*state.iterdir(), tmp_path / "events.json"]
    assert {"sessions.sqlite3", "journals.sqlite3", "clients.sqlite3"} <= {p.name for p in made}
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for path in made:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def _admin(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("POST", "/delegate", body, headers)
    answer = connection.getresponse()
    return answer.status, json.loads(answer.read() or b"{}")
