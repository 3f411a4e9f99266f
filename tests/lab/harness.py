"""The simulated device's tests: its provisioning file (the owner account points at a DM session
endpoint of the tests on 127.0.0.1), a notification transport that posts package #0 to the
device's ``/notify`` over HTTP, and the device process run with ``python -m dmdelegation.cli``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import treq.client
from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import ProcessProtocol
from zope.interface import implementer

from dmdelegation.dm.devices import INotificationTransport

from ..dm.harness import CLIENT_SECRET, DEVICE, DMS1, SERVER_SECRET

NOTIFY_TYPE = "application/vnd.syncml.notification"


def device_file(url: str, *, acl: str = "") -> str:
    """A provisioning file whose owner (DMS1, HMAC both ways) is reached at ``url``."""
    return f"""\
[devinfo]
DevId = "{DEVICE}"
Man = "Acme"
Mod = "Phone 3"

[owner]
ServerID = "{DMS1}"
Name = "Operator DM"

[[owner.AppAddr]]
Addr = "{url}"

[[owner.AppAuth]]
AAuthLevel = "SRVCRED"
AAuthType = "HMAC"
AAuthName = "{DMS1}"
AAuthSecret = "{SERVER_SECRET}"

[[owner.AppAuth]]
AAuthLevel = "CLCRED"
AAuthType = "HMAC"
AAuthName = "{DEVICE}"
AAuthSecret = "{CLIENT_SECRET}"

[nodes]
"./Vendor/Radio/Band" = "auto"
"./Vendor/Locked/Key" = "k"
"./BootConfig" = {{}}

[acl]
{acl}
"""


def http() -> treq.client.HTTPClient:
    """A treq client that keeps no connection open (the reactor is clean after each test)."""
    from twisted.web.client import Agent, HTTPConnectionPool

    pool = HTTPConnectionPool(reactor, persistent=False)
    return treq.client.HTTPClient(Agent(reactor, pool=pool))


@implementer(INotificationTransport)
class HTTPNotifier:
    """Posts package #0 to the device's notification endpoint; keeps the HTTP codes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.codes: list[int] = []

    def notify(self, device_id: str, package0: bytes) -> Deferred[None]:
        async def post() -> None:
            headers: dict[bytes | str, bytes | str] = {"Content-Type": NOTIFY_TYPE}
            response = await http().post(self.url, data=package0, headers=headers)
            await response.content()
            self.codes.append(response.code)

        return Deferred.fromCoroutine(post())


class DeviceProcess(ProcessProtocol):
    """``dmdelegation device simulate`` as a child process; ``ready`` fires on its ready line,
    ``lines`` waits for a log line, ``ended`` fires with the exit status."""

    def __init__(self) -> None:
        self.output = b""
        self.ready: Deferred[None] = Deferred()
        self.ended: Deferred[int] = Deferred()
        self.waiting: list[tuple[bytes, Deferred[None]]] = []

    def outReceived(self, data: bytes) -> None:
        self.output += data
        if not self.ready.called and b" ready" in self.output:
            self.ready.callback(None)
        for want, d in list(self.waiting):
            if self.output.count(want) and not d.called:
                self.waiting.remove((want, d))
                d.callback(None)

    errReceived = outReceived

    def line(self, text: str, count: int = 1) -> Deferred[None]:
        """Fires once ``text`` has appeared ``count`` times in the output."""
        want = text.encode()
        if self.output.count(want) >= count:
            return succeed(None)
        d: Deferred[None] = Deferred()

        def check(_: None) -> Deferred[None] | None:
            if self.output.count(want) >= count:
                return None
            return self.line(text, count)

        self.waiting.append((want, d))
        return d.addCallback(check)

    def processEnded(self, reason: Any) -> None:
        code = reason.value.exitCode
        if not self.ready.called:
            self.ready.errback(RuntimeError(self.output.decode(errors="replace")))
        self.ended.callback(code if code is not None else -1)

    def stop(self) -> Deferred[int]:
        if not self.ended.called:
            assert self.transport is not None
            self.transport.signalProcess("TERM")
        return self.ended


def start_device(state: Path, *args: str) -> DeviceProcess:
    process = DeviceProcess()
    argv = [sys.executable, "-m", "dmdelegation.cli", "device", "simulate", "--state"]
    spawner: Any = reactor
    spawner.spawnProcess(
        process,
        sys.executable,
        [*argv, str(state), *args],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return process
