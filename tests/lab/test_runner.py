"""The device's schedule and its notification endpoint, in process with a `DMSessionServer` on
127.0.0.1 and the schedule's time driven by a `Clock`: one session per server at a time, a
package #0 that comes while one runs is served when it ends, the log line of each session."""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site
from zope.interface import implementer

from dmdelegation.client.provisioning import load_provision
from dmdelegation.dm.client_session import AtomicDMClientSession
from dmdelegation.dm.devices import MemoryDeviceList
from dmdelegation.dm.notification import build_package0
from dmdelegation.dm.resource import DMSessionResource
from dmdelegation.lab.device.notify import notify_root
from dmdelegation.lab.device.runner import DeviceRunner
from dmdelegation.lab.device.simulator import SimulatedDevice
from dmdelegation.lab.device.state import DeviceState
from dmdelegation.tree import URI, Status, Value
from dmdelegation.web.delegation import make_site

from ..dm.harness import CLIENT_SECRET, DEVICE, DMS1, SERVER_SECRET, Endpoint, dm_device
from ..web.certs import temp_dir
from .harness import NOTIFY_TYPE, device_file, http


class Held(Resource):
    """The DM endpoint, holding each message while ``hold`` has not fired."""

    isLeaf = True

    def __init__(self, inner: DMSessionResource) -> None:
        super().__init__()
        self.inner = inner
        self.hold: Deferred[None] | None = None

    def render_POST(self, request: Any) -> int:
        if self.hold is None:
            result: int = self.inner.render_POST(request)  # type: ignore[assignment]
            return result
        self.hold.addCallback(lambda _: self.inner.render_POST(request))
        return NOT_DONE_YET


@implementer(ILogObserver)
class DeviceLines:
    """The device's log lines, as text."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, event: LogEvent) -> None:
        if event.get("log_namespace") == "dmdelegation.device":
            self.lines.append(formatEvent(event))


class RunnerTests(TestCase):
    def setUp(self) -> None:
        self.endpoint = Endpoint(DMS1, MemoryDeviceList([dm_device()]))
        self.addCleanup(self.endpoint.stop)
        self.held = Held(DMSessionResource(self.endpoint.server))
        tcp: Any = reactor
        port = tcp.listenTCP(0, make_site(self.held, "/dm", 1 << 20), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        root = temp_dir(self)
        path = root / "device.toml"
        path.write_text(device_file(f"http://127.0.0.1:{port.getHost().port}/dm"))
        self.state = DeviceState.create(root / "state", load_provision(path))
        self.addCleanup(self.state.close)
        self.device = SimulatedDevice(
            devinfo=self.state.devinfo(), tree=self.state.tree, nonce_store=self.state.nonces
        )
        self.clock = Clock()
        self.runner = DeviceRunner(self.state, self.device, self.clock, 30)
        self.addCleanup(self.runner.stop)
        observer = DeviceLines()
        self.logged = observer.lines
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)

    async def settle(self) -> None:
        while self.runner.running:
            await gatherResults(list(self.runner.running.values()))

    async def test_the_schedule_opens_one_session_per_server_at_a_time(self) -> None:
        self.held.hold = Deferred()
        self.runner.start()
        self.clock.advance(29)
        assert self.runner.running == {}
        self.clock.advance(1)
        first = self.runner.running[DMS1]
        self.clock.advance(30)  # the first session still runs: skipped
        assert self.runner.running == {DMS1: first}
        assert self.runner.again == {}
        self.held.hold.callback(None)
        self.held.hold = None
        await self.settle()
        assert self.logged == [f"session with {DMS1}: 0 commands, ended ok"]
        self.clock.advance(30)
        assert DMS1 in self.runner.running
        await self.settle()
        assert len(self.logged) == 2

    async def test_a_package0_during_a_session_is_served_after_it(self) -> None:
        tcp: Any = reactor
        port = tcp.listenTCP(0, Site(notify_root(self.runner)), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        url = f"http://127.0.0.1:{port.getHost().port}/notify"
        self.held.hold = Deferred()
        self.runner.open_session(DMS1)  # a session of the device's own runs
        package = build_package0(DMS1, SERVER_SECRET, b"", 0x1234)
        headers: dict[bytes | str, bytes | str] = {"Content-Type": NOTIFY_TYPE}
        response = await http().post(url, data=package, headers=headers)
        await response.content()
        assert response.code == 202
        assert self.runner.again == {DMS1: ("1200", "1234")}
        self.held.hold.callback(None)
        self.held.hold = None
        await self.settle()
        assert self.logged[-2:] == [
            f"session with {DMS1}: 0 commands, ended ok",
            f"session with {DMS1}: 0 commands, ended ok",
        ]
        assert not any(CLIENT_SECRET in line or SERVER_SECRET in line for line in self.logged)

    async def test_a_failed_session_is_logged_with_its_reason(self) -> None:
        self.held.hold = Deferred()
        self.runner.open_session(DMS1)
        self.runner.stop()  # cancelled while it waits for the answer
        await self.settle()
        assert len(self.logged) == 1
        assert self.logged[0].startswith(f"session with {DMS1}: 0 commands, ended failed (")

    async def test_the_device_carries_out_what_the_server_queued(self) -> None:
        session = self.endpoint.server.session_for(DEVICE)
        replaced = session.replace(URI.parse("./Vendor/Radio/Band"), Value.text("5g"))
        self.runner.open_session(DMS1)
        assert (await replaced).status is Status.OK
        await self.settle()
        assert self.logged == [f"session with {DMS1}: 1 commands, ended ok"]
        node = self.state.tree.node(URI.parse("./Vendor/Radio/Band"))
        assert node is not None
        assert node.value == Value.text("5g")

    async def test_atomic_is_all_or_nothing_in_the_stored_tree(self) -> None:
        session = self.endpoint.server.session_for(DEVICE)
        assert isinstance(session, AtomicDMClientSession)
        top = URI.parse("./Vendor/Radio/New")
        nodes = [((), Value.interior()), (("A",), Value.text("a")), (("A", "B"), Value.text("b"))]
        refused = session.add_subtree(top, nodes)
        self.runner.open_session(DMS1)
        assert (await refused).status is Status.COMMAND_NOT_ALLOWED  # B under the leaf A
        await self.settle()
        reopened = DeviceState.open(self.state.directory, read_only=True)
        self.addCleanup(reopened.close)
        assert reopened.tree.node(top) is None
        good = session.add_subtree(top, nodes[:2])
        self.runner.open_session(DMS1)
        assert (await good).status is Status.ITEM_ADDED
        await self.settle()
        assert reopened.tree.node(top.child("A")) is not None
