"""``dmdelegation device simulate`` as a process of its own, managed by a `DMSessionServer` on
127.0.0.1 through package #0 on its ``--notify`` endpoint: it keeps its tree and its nonces
across a restart, stops cleanly on SIGTERM and opens sessions on SIGUSR1."""

from __future__ import annotations

import signal

from twisted.trial.unittest import TestCase

from dmdelegation.dm.client_session import AtomicDMClientSession
from dmdelegation.dm.devices import MemoryDeviceList
from dmdelegation.dm.notification import build_package0
from dmdelegation.lab.device.dump import dump_lines
from dmdelegation.lab.device.state import DeviceState
from dmdelegation.lab.devlab import free_port
from dmdelegation.tree import URI, Status, Value

from ..dm.harness import DEVICE, Endpoint, dm_device
from ..web.certs import temp_dir
from .harness import NOTIFY_TYPE, DeviceProcess, HTTPNotifier, device_file, http, start_device
from .test_state import LOCKED, init


class DeviceProcessTests(TestCase):
    timeout = 60

    def setUp(self) -> None:
        self.root = temp_dir(self)
        self.notify_port = free_port()
        self.notifier = HTTPNotifier(f"http://127.0.0.1:{self.notify_port}/notify")
        self.endpoint = Endpoint(
            "dms1.operator.example", MemoryDeviceList([dm_device()]), notifier=self.notifier
        )
        self.addCleanup(self.endpoint.stop)
        self.state = self.root / "device"
        init(self.root, self.state, device_file(self.endpoint.url, acl=LOCKED))
        self.session = self.endpoint.server.session_for(DEVICE)

    def start(self, *args: str) -> DeviceProcess:
        process = start_device(
            self.state,
            "--notify",
            f"tcp:{self.notify_port}:interface=127.0.0.1",
            "--every",
            "3600",
            *args,
        )
        self.addCleanup(process.stop)
        return process

    async def test_tree_and_nonces_survive_a_restart(self) -> None:
        process = self.start()
        await process.ready
        band = URI.parse("./Vendor/Radio/Band")
        replaced = await self.session.replace(band, Value.text("lte"))
        assert replaced.status is Status.OK
        await process.line("session with dms1.operator.example: 1 commands, ended ok")
        assert await process.stop() == 0  # SIGTERM: a clean stop
        stored = DeviceState.open(self.state, read_only=True)
        nonces = stored.nonces.all()
        before = dump_lines(stored.records())
        stored.close()
        assert set(nonces) == {"dms1.operator.example"}
        assert nonces["dms1.operator.example"].server  # the nonce the device issued
        assert '"lte"' in "\n".join(before)

        again = self.start()
        await again.ready
        # the server digests package #0 with the nonce the device issued in the first session:
        # a device that had lost it would refuse the notification (401)
        got = await self.session.get(band)
        assert got.status is Status.OK
        assert got.node is not None
        assert got.node.value == Value.text("lte")
        assert self.notifier.codes == [202, 202]
        assert await again.stop() == 0
        stored = DeviceState.open(self.state, read_only=True)
        self.addCleanup(stored.close)
        assert dump_lines(stored.records()) == before

    async def test_a_server_without_rights_gets_425(self) -> None:
        process = self.start()
        await process.ready
        refused = await self.session.replace(URI.parse("./Vendor/Locked/Key"), Value.text("x"))
        assert refused.status is Status.PERMISSION_DENIED
        await process.line("ended ok")
        stored = DeviceState.open(self.state, read_only=True)
        self.addCleanup(stored.close)
        node = stored.tree.node(URI.parse("./Vendor/Locked/Key"))
        assert node is not None
        assert node.value == Value.text("k")

    async def test_sigusr1_opens_a_session_at_once(self) -> None:
        process = self.start()
        await process.ready
        assert process.transport is not None
        process.transport.signalProcess(signal.SIGUSR1)
        await process.line("session with dms1.operator.example: 0 commands, ended ok")
        assert self.notifier.codes == []

    async def test_a_bad_package0_is_refused_and_logged(self) -> None:
        process = self.start()
        await process.ready
        url = self.notifier.url
        kind: dict[bytes | str, bytes | str] = {"Content-Type": NOTIFY_TYPE}
        text: dict[bytes | str, bytes | str] = {"Content-Type": "text/plain"}
        garbage = await http().post(url, data=b"\x00" * 10, headers=kind)
        await garbage.content()
        wrong_type = await http().post(url, data=b"x", headers=text)
        await wrong_type.content()
        forged = build_package0("dms1.operator.example", "not-the-secret", b"", 7)
        bad = await http().post(url, data=forged, headers=kind)
        await bad.content()
        assert (garbage.code, wrong_type.code, bad.code) == (400, 400, 401)
        await process.line("notification refused", 3)
        assert b"not-the-secret" not in process.output

    async def test_wbxml_and_a_device_without_atomic(self) -> None:
        process = self.start("--codec", "wbxml", "--no-atomic")
        await process.ready
        band = URI.parse("./Vendor/Radio/Band")
        assert (await self.session.replace(band, Value.text("3g"))).status is Status.OK
        writer = self.session
        assert isinstance(writer, AtomicDMClientSession)
        top = URI.parse("./Vendor/Radio/New")
        refused = await writer.add_subtree(top, [((), Value.interior())])
        assert refused.status is Status.COMMAND_FAILED  # the device answered Atomic 406
        assert await process.stop() == 0
        stored = DeviceState.open(self.state, read_only=True)
        self.addCleanup(stored.close)
        assert stored.tree.node(top) is None
        node = stored.tree.node(band)
        assert node is not None
        assert node.value == Value.text("3g")
