"""A cap on the connections one listener holds open at once.

Without it, a client that opens idle TCP connections (each waiting for its TLS handshake or
request until the timeout) uses up the process's file descriptors, and then the admin API and
the peers' own handshakes fail with EMFILE. :class:`ConnectionCap` wraps a listener's factory:
a connection beyond ``cap`` is closed as soon as it is accepted (before any TLS), and the
listener logs once when it becomes full and once, with the count refused, when it has room
again.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IAddress, IProtocolFactory
from twisted.logger import Logger
from twisted.protocols.policies import WrappingFactory


def _client(addr: object) -> str:
    host, port = getattr(addr, "host", None), getattr(addr, "port", None)
    return str(addr) if host is None else f"{host}:{port}"


log = Logger(namespace="dmdelegation.web")


class ConnectionCap(WrappingFactory):
    """``wrapped``, holding at most ``cap`` connections open at once (``name`` for the log)."""

    def __init__(self, wrapped: IProtocolFactory, cap: int, name: str) -> None:
        super().__init__(wrapped)
        self.cap = cap
        self.name = name
        self.refused = 0  # connections closed since the listener became full

    def buildProtocol(self, addr: IAddress | None) -> Any:
        if len(self.protocols) >= self.cap:
            if self.refused == 0:
                log.warn(
                    "{name}: {cap} connections open, the limit: new connections are closed "
                    "(first from {client})",
                    name=self.name,
                    cap=self.cap,
                    client=_client(addr),
                )
            self.refused += 1
            return None
        return super().buildProtocol(addr)

    def unregisterProtocol(self, p: Any) -> None:
        super().unregisterProtocol(p)
        if self.refused and len(self.protocols) < self.cap:
            log.info(
                "{name}: below the limit again; {n} connections were closed meanwhile",
                name=self.name,
                n=self.refused,
            )
            self.refused = 0
