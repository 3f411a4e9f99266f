"""The admin API's client, as the operator's commands use it: the endpoint parsed
(``tcp:PORT[:interface=HOST]`` or ``unix:/path``), JSON sent and read over ``http.client``,
the bearer token sent when the daemon has one, and every failure (daemon out of reach, a
refusal, an answer that is not JSON) raised as :class:`AdminError`.

:func:`client_for` finds the daemon from a command's options: ``--admin ENDPOINT``, else
``--config FILE`` (its ``admin.listen`` and ``admin.token_file``), else ``$DMDELEGATION_ADMIN``,
else ``tcp:8440:interface=127.0.0.1``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
from typing import Any

from dmdelegation.daemon.config import ConfigError, load
from dmdelegation.web.admin_guard import read_token

DEFAULT_ADMIN = "tcp:8440:interface=127.0.0.1"
ADMIN_ENV = "DMDELEGATION_ADMIN"


class AdminError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def _parse_endpoint(endpoint: str) -> tuple[str, str | int]:
    kind, _, rest = endpoint.partition(":")
    if kind == "unix":
        return "unix", rest.split(":")[0]
    if kind == "tcp":
        parts = rest.split(":")
        host = "127.0.0.1"
        for part in parts[1:]:
            if part.startswith("interface="):
                host = part.split("=", 1)[1]
        return host, int(parts[0])
    raise ValueError(
        f"admin endpoint {endpoint!r}: expected tcp:PORT[:interface=HOST] or unix:PATH"
    )


class AdminClient:
    """The admin API's client: JSON bodies sent as ``application/json`` (TOML as
    ``application/toml``), the bearer token if the daemon has one (``admin.token_file``)."""

    def __init__(
        self, endpoint: str, timeout: float = 60, token: bytes | None = None, *, hint: str = ""
    ) -> None:
        self.endpoint = endpoint
        self.hint = hint  # added to "cannot reach": how the endpoint was chosen
        self.timeout = timeout
        self.token = token
        self.where = _parse_endpoint(endpoint)

    def _connection(self) -> http.client.HTTPConnection:
        host, port = self.where
        if host == "unix":
            return _UnixConnection(str(port), self.timeout)
        return http.client.HTTPConnection(host, int(port), timeout=self.timeout)

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None) -> Any:
        connection = self._connection()
        try:
            headers = {}
            if self.token is not None:
                headers["Authorization"] = f"Bearer {self.token.decode('ascii', 'replace')}"
            if raw is not None:
                payload: bytes | None = raw
                headers["Content-Type"] = "application/toml"
            elif method == "POST":
                payload = json.dumps(body or {}).encode()
                headers["Content-Type"] = "application/json"
            else:
                payload = None
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except OSError as e:
            raise AdminError(
                0, f"cannot reach the daemon at {self.endpoint}: {e}{self.hint}"
            ) from None
        finally:
            connection.close()
        try:
            decoded = json.loads(data)
        except ValueError:
            raise AdminError(response.status, data.decode("utf-8", "replace")[:200]) from None
        if response.status != 200:
            raise AdminError(response.status, decoded.get("error", str(decoded)))
        return decoded


def client_for(args: argparse.Namespace) -> AdminClient:
    endpoint = args.admin
    token = None
    if args.config is not None:
        try:
            config = load(args.config)
            if config.admin_token is not None:
                token = read_token(config.admin_token)
        except (ConfigError, OSError, ValueError) as e:
            raise AdminError(0, str(e)) from None
        endpoint = endpoint or config.admin
    if endpoint is None and os.environ.get(ADMIN_ENV) is None:
        return AdminClient(DEFAULT_ADMIN, hint="; no --config FILE or --admin ENDPOINT was given")
    return AdminClient(endpoint or os.environ.get(ADMIN_ENV) or DEFAULT_ADMIN, token=token)
