"""What ``dmdelegation device simulate`` runs: the simulated device over its state directory,
opening DM sessions with the servers its ``./DMAcc`` names, on a schedule, on a package #0 and on
demand, and bootstrapping from the Bootstrap Server URLs its ``./BootConfig`` holds.

At most one session runs with each server; a request for another while one runs (a package #0,
the schedule) is remembered and served when it ends. One log line per session::

    session with SERVER_ID: N commands, ended STATUS

``STATUS`` is ``ok`` or ``failed (REASON)``; N counts the commands the server sent.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from dmdelegation.dm import message as sm
from dmdelegation.lab.device.bootstrap import (
    BootstrapFailed,
    Bootstrapped,
    bootstrap,
    bootstrap_urls,
)
from dmdelegation.lab.device.simulator import SimulatedDevice
from dmdelegation.lab.device.state import DeviceState
from dmdelegation.protocol.dmacc import AddrType
from dmdelegation.tree.dmacc import DMACC_ROOT, read_dmacc

log = Logger(namespace="dmdelegation.device")


class DeviceRunner:
    """The device's sessions and bootstraps, one at a time per server and per URL."""

    def __init__(
        self, state: DeviceState, device: SimulatedDevice, clock: IReactorTime, every: float
    ) -> None:
        self.state = state
        self.device = device
        self.clock = clock
        self.every = every
        self.running: dict[str, Deferred[Any]] = {}  # by server
        self.again: dict[str, tuple[str, str]] = {}  # asked for while one ran: alert, session id
        self.bootstrapping: dict[str, Deferred[Any]] = {}  # by URL
        self._loop: LoopingCall | None = None

    def start(self) -> None:
        if self.every > 0:
            self._loop = LoopingCall(self.tick)
            self._loop.clock = self.clock
            self._loop.start(self.every, now=False)

    def stop(self) -> None:
        """Stop the schedule and cancel what runs (nothing half-applied stays: each command is a
        statement or a transaction of its own)."""
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self.again.clear()
        for d in [*self.running.values(), *self.bootstrapping.values()]:
            d.cancel()

    def servers(self) -> list[str]:
        """The ServerID of every account in ``./DMAcc`` that has a URI address."""
        tree = self.device.tree
        found = []
        for name in tree.children(DMACC_ROOT):
            top = DMACC_ROOT.child(name)
            nodes = {r.uri.segments[2:]: r.value for r in tree.subtree(top)}
            try:
                account = read_dmacc(nodes).account
            except ValueError:
                continue
            if any(a.addr_type is AddrType.URI for a in account.app_addrs):
                found.append(account.server_id)
        return found

    def tick(self) -> None:
        """What the schedule does: a session with each server (unless one runs), then the
        bootstraps still to do."""
        for server_id in self.servers():
            if server_id not in self.running:
                self.open_session(server_id)
        self.check_bootstrap()

    def open_all(self) -> None:
        """A session with every server now (SIGUSR1)."""
        for server_id in self.servers():
            self.open_session(server_id)

    def open_session(
        self, server_id: str, alert: str = sm.ALERT_CLIENT_INITIATED, session_id: str = "1"
    ) -> None:
        if server_id in self.running:
            self.again[server_id] = (alert, session_id)
            return
        d = self.device.connect(server_id, alert=alert, session_id=session_id)
        self.running[server_id] = d

        def ended(result: Any) -> None:
            del self.running[server_id]
            count = self.device.commands_run.get(server_id, 0)
            status = f"failed ({_reason(result)})" if isinstance(result, Failure) else "ok"
            log.info(
                "session with {server_id}: {count} commands, ended {status}",
                server_id=server_id,
                count=count,
                status=status,
            )
            if server_id in self.again:
                alert, session_id = self.again.pop(server_id)
                self.open_session(server_id, alert, session_id)
            self.check_bootstrap()

        d.addBoth(ended)

    # Bootstrap.

    def check_bootstrap(self) -> None:
        for url in bootstrap_urls(self.device.tree):
            if url not in self.bootstrapping and not self.state.bootstrapped(url):
                self._bootstrap(url)

    def _bootstrap(self, url: str) -> None:
        d = Deferred.fromCoroutine(
            bootstrap(self.device.tree, self.device.devinfo, url, self.device._http())
        )
        self.bootstrapping[url] = d

        def done(result: Any) -> None:
            del self.bootstrapping[url]
            if isinstance(result, Bootstrapped):
                if result.complete:
                    self.state.record_bootstrap(url)
                    log.info(
                        "bootstrapped from {url}: {added} nodes added", url=url, added=result.added
                    )
                else:
                    log.warn(
                        "bootstrap from {url}: {refused} Adds refused, tried again later",
                        url=url,
                        refused=result.refused,
                    )
                return
            reason = str(result.value) if result.check(BootstrapFailed) else _reason(result)
            log.warn("bootstrap failed: {reason}; tried again later", reason=reason)

        d.addBoth(done)


def _reason(failure: Failure) -> str:
    return failure.getErrorMessage() or type(failure.value).__name__
