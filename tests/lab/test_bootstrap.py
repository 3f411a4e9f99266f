"""The device's side of the lab bootstrap exchange, against a small bootstrap server of the test's
own on 127.0.0.1 that speaks the contract (docs/dm-sessions.md): the device bootstraps from a
BootstrapURL of its ``./BootConfig`` once, adds the account without an ACL check, answers a
status per Add, and records the URL only when every Add succeeded; a 404 ends the exchange and
it tries again on its next round."""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import gatherResults
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from dmdelegation.client.provisioning import load_provision
from dmdelegation.dm import message as sm
from dmdelegation.dm import xml_codec
from dmdelegation.dm.values import item_for
from dmdelegation.lab.device.runner import DeviceRunner
from dmdelegation.lab.device.simulator import SimulatedDevice
from dmdelegation.lab.device.state import DeviceState
from dmdelegation.protocol import AddrType, AppAddr, AppAuth, AuthLevel, AuthType, DMAcc
from dmdelegation.tree import URI, Value
from dmdelegation.tree.acl import ACL
from dmdelegation.tree.dmacc import dmacc_nodes
from dmdelegation.tree.storage import StoredNode

from ..dm.harness import DEVICE, DMS2
from ..web.certs import temp_dir
from .harness import device_file

ACCOUNT = DMAcc(
    server_id=DMS2,
    app_addrs=(AppAddr(addr="http://127.0.0.1:1/dm", addr_type=AddrType.URI),),
    app_auths=(
        AppAuth(level=AuthLevel.SERVER, type=AuthType.HMAC, name=DMS2, secret="s2-server"),
        AppAuth(level=AuthLevel.CLIENT, type=AuthType.HMAC, name=DEVICE, secret="s2-client"),
    ),
)


class BootstrapServer(Resource):
    """Answers message 1 with Adds creating ``./DMAcc/<name>``, message 2 with a status."""

    isLeaf = True

    def __init__(self, name: str = "dms2", code: int = 200) -> None:
        super().__init__()
        self.name = name
        self.code = code
        self.received: list[sm.Message] = []

    def render_POST(self, request: Request) -> bytes:
        if self.code != 200:
            request.setResponseCode(self.code)
            return b""
        assert request.getHeader("content-type") == xml_codec.CONTENT_TYPE
        assert request.content is not None
        message = xml_codec.decode(request.content.read(), 1 << 20)
        self.received.append(message)
        body: list[sm.BodyElement] = [
            sm.Status(
                cmd_id="1",
                msg_ref=message.header.msg_id,
                cmd_ref="0",
                cmd=sm.SYNCHDR,
                code=200,
            )
        ]
        if message.header.msg_id == "1":
            for command in message.commands:
                body.append(
                    sm.Status(
                        cmd_id=str(len(body) + 1),
                        msg_ref="1",
                        cmd_ref=command.cmd_id,
                        cmd=command.name,
                        code=200,
                    )
                )
            for path, value in dmacc_nodes(ACCOUNT):
                uri = URI.parse(f"./DMAcc/{self.name}").child(*path)
                body.append(
                    sm.Command(name="Add", cmd_id=str(len(body) + 1), items=(item_for(uri, value),))
                )
        reply = sm.Message(
            sm.Header(
                session_id=message.header.session_id,
                msg_id=message.header.msg_id,
                target=DEVICE,
                source=message.header.target,
            ),
            tuple(body),
            final=True,
        )
        request.setHeader("content-type", xml_codec.CONTENT_TYPE)
        return xml_codec.encode(reply)


class BootstrapTests(TestCase):
    def setUp(self) -> None:
        self.root = temp_dir(self)
        self.server = BootstrapServer()
        tcp: Any = reactor
        port = tcp.listenTCP(0, Site(self.server), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.url = f"http://127.0.0.1:{port.getHost().port}/bs"
        path = self.root / "device.toml"
        path.write_text(device_file("http://127.0.0.1:1/dm"))
        self.state = DeviceState.create(self.root / "state", load_provision(path))
        self.addCleanup(self.state.close)
        self.device = SimulatedDevice(
            devinfo=self.state.devinfo(), tree=self.state.tree, nonce_store=self.state.nonces
        )
        self.clock = Clock()
        self.runner = DeviceRunner(self.state, self.device, self.clock, 10)

    def boot_config(self, url: str) -> None:
        """What DMS-1 writes in a delegation: ``./BootConfig/<X>`` with DMS-2's URL."""
        tree = self.state.tree
        top = URI.parse("./BootConfig/1")
        tree.insert(top, StoredNode(Value.interior(), ACL()))
        tree.insert(top.child("ServerID"), StoredNode(Value.text(DMS2), ACL()))
        tree.insert(top.child("BootstrapURL"), StoredNode(Value.text(url), ACL()))

    async def rounds(self) -> None:
        """One round of the schedule, and the bootstraps it began."""
        self.clock.advance(10)
        await gatherResults(list(self.runner.bootstrapping.values()))

    async def test_the_device_bootstraps_once_from_its_boot_config(self) -> None:
        self.runner.start()
        self.addCleanup(self.runner.stop)
        await self.rounds()
        assert self.server.received == []  # nothing in ./BootConfig yet
        self.boot_config(self.url)
        await self.rounds()
        first, second = self.server.received
        assert (first.header.msg_id, first.header.target, first.header.source) == (
            "1",
            self.url,
            DEVICE,
        )
        assert first.header.cred is None
        assert [(c.name, c.data) for c in first.commands] == [
            ("Alert", "1201"),
            ("Replace", None),
        ]
        assert {i.source for i in first.commands[1].items} >= {"./DevInfo/DevId"}
        adds = len(dmacc_nodes(ACCOUNT))
        assert second.header.msg_id == "2"
        assert [s.code for s in second.statuses] == [200] * (1 + adds)
        account = self.device.account(DMS2)
        assert account == ACCOUNT
        node = self.state.tree.node(URI.parse("./DMAcc/dms2"))
        assert node is not None
        assert node.acl.is_empty  # inherits
        assert self.state.bootstrapped(self.url)
        assert DMS2 in self.runner.servers()
        await self.rounds()
        assert len(self.server.received) == 2  # never again

    async def test_a_404_ends_it_and_the_next_round_tries_again(self) -> None:
        self.server.code = 404
        self.boot_config(self.url)
        self.runner.start()
        self.addCleanup(self.runner.stop)
        await self.rounds()
        assert not self.state.bootstrapped(self.url)
        assert self.state.tree.node(URI.parse("./DMAcc/dms2")) is None
        self.server.code = 200
        await self.rounds()
        assert self.state.bootstrapped(self.url)

    async def test_a_refused_add_leaves_the_url_to_do(self) -> None:
        self.server.name = "1"  # ./DMAcc/1 is the owner's: its Add is refused (418)
        self.boot_config(self.url)
        self.runner.check_bootstrap()
        await gatherResults(list(self.runner.bootstrapping.values()))
        second = self.server.received[1]
        assert second.statuses[1].code == 418
        assert not self.state.bootstrapped(self.url)
