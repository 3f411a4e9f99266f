"""The whole daemon process under attack on 127.0.0.1 (``daemon.py``): its memory under a
trailer flood, its connection cap, the modes of its state files, its admin API's guards."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import ssl
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dmdelegation.protocol import CONTENT_TYPE, DelegationResponse, decode
from tests.web.certs import PEER, US
from tests.web.serving import post

from .daemon import daemon
from .server import DEVICE, request_from

JSON_TYPE = {"Content-Type": "application/json"}


@pytest.fixture(autouse=True)
def _no_sigpipe() -> Iterator[None]:
    """Writing to a connection the daemon cut must raise, not kill the test process (the
    command's entry point, run in-process by other tests, restores SIGPIPE's default)."""
    previous = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    yield
    signal.signal(signal.SIGPIPE, previous)


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
        running.wait_for("400 malformed HTTP")


def test_connections_beyond_the_listener_cap_are_closed_at_once(tmp_path: Path) -> None:
    """With ``max_connections = 8``, eight idle connections hold the listener full: a ninth is
    closed as soon as it is accepted (no handshake), the admin API still answers, and once the
    idle ones are gone a new connection is served."""
    with daemon(tmp_path, extra="max_connections = 8") as running:
        idle = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(8)]
        try:
            with pytest.raises((ssl.SSLError, OSError)), running.tls(timeout=5) as sock:
                sock.recv(1)
            running.wait_for("connections open, the limit")  # its log line, as it is printed
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


def _call(
    port: int, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, dict[str, object]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request(method, path, body, headers)
    answer = connection.getresponse()
    return answer.status, json.loads(answer.read() or b"{}")


def test_the_admin_api_cannot_be_driven_from_a_web_page(tmp_path: Path) -> None:
    """What a page in a local browser can send (a ``text/plain`` POST, with its Origin; or a
    rebound host name) is refused and starts nothing; the command's own request (JSON, no
    Origin, a loopback Host) is served."""
    order = json.dumps({"device": DEVICE, "to": PEER, "subtree": ".", "full": True}).encode()
    with daemon(tmp_path) as running:
        port = running.admin_port
        page = {"Origin": "https://evil.example", "Content-Type": "text/plain"}
        assert _call(port, "POST", "/delegate", order, page)[0] == 403
        plain = {"Content-Type": "text/plain"}
        assert _call(port, "POST", "/delegate", order, plain)[0] == 415
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        assert _call(port, "POST", "/delegate", order, form)[0] == 415
        # a form body is refused unread (never parsed, not even a malformed one)
        multipart = {"Content-Type": "multipart/form-data; boundary=x"}
        assert _call(port, "POST", "/delegate", b"--y\r\nnot a part", multipart)[0] == 415
        rebound = {"Host": f"evil.example:{port}", "Content-Type": "application/json"}
        assert _call(port, "POST", "/delegate", order, rebound)[0] == 403
        fetched = {"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}
        assert _call(port, "POST", "/delegate", order, fetched)[0] == 403
        assert _call(port, "GET", "/sessions", None, {"Origin": "null"})[0] == 403
        status, listed = _call(port, "GET", "/sessions", None, {})
        assert (status, listed) == (200, {"sessions": []})
        status, _ = _call(port, "POST", "/abort", b'{"session": "x"}', JSON_TYPE)
        assert status == 404  # served: the engine's own refusal of an unknown session


def test_the_admin_api_asks_for_its_token_and_the_command_sends_it(tmp_path: Path) -> None:
    """With ``admin.token_file``, a request without the bearer token (or with another) is
    refused 401; the ``dmdelegation`` command reads the token through the configuration."""
    (tmp_path / "admin.token").write_text("c0rrect-h0rse\n")
    with daemon(tmp_path, admin='token_file = "admin.token"') as running:
        port = running.admin_port
        assert _call(port, "GET", "/health", None, {})[0] == 401
        wrong = {"Authorization": "Bearer guessed"}
        assert _call(port, "GET", "/health", None, wrong)[0] == 401
        right = {"Authorization": "Bearer c0rrect-h0rse"}
        assert _call(port, "GET", "/health", None, right)[0] == 200
        command = [sys.executable, "-m", "dmdelegation.cli", "status", "--json"]
        done = subprocess.run(
            [*command, "--config", str(tmp_path / "dmdelegation.toml")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["server_id"] == US
        assert "c0rrect-h0rse" not in running.log()


def test_a_fresh_configuration_lets_a_peer_do_nothing(tmp_path: Path) -> None:
    """A ``[[peers]]`` with no grant: the peer's DELEGATION_REQ, for a subtree or the whole
    device, is answered not acknowledged (403), and nothing is delegated."""
    with daemon(tmp_path) as running:
        for n, changes in enumerate([{}, {"dm_tree_uri": ".", "is_delegation_full": True}]):
            request = request_from(PEER, f"fresh{n:011d}" + "f" * 16, **changes)
            with running.tls() as sock:
                sock.sendall(post(bytes(request.encode())))
                answer, _ = _answer_until_closed(sock)
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 "), answer[:200]
            assert decode(body) == DelegationResponse(
                reason_code=403, is_acknowledged=False, session_id=request.session_id
            )
        status, found = _call(running.admin_port, "GET", "/status", None, {})
        assert (status, found["delegations"]) == (200, [])


def test_a_parser_refusal_on_the_admin_api_ends_the_connection(tmp_path: Path) -> None:
    """The admin API's listener refuses malformed HTTP as the delegation interface does: the
    400, then the connection closed, whatever the client keeps sending."""
    with daemon(tmp_path) as running:
        with socket.create_connection(("127.0.0.1", running.admin_port), timeout=5) as sock:
            sock.sendall(
                b"POST /delegate HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: x\r\n\r\n"
            )
            received = b""
            try:
                for _ in range(2000):
                    sock.sendall(b"X" * 4096)
            except OSError:
                pass
            try:
                while chunk := sock.recv(65536):
                    received += chunk
            except TimeoutError:
                raise AssertionError(
                    "the admin connection was still open 5 s after its 400"
                ) from None
            except OSError:
                pass
        assert received.startswith(b"HTTP/1.1 400 ")
