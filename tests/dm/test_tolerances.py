"""Done-when: the session layer survives what real DM Clients send (docs/dm-sessions.md,
"Tolerances for real DM Clients"). Every test posts hand-made messages, so that it shows exactly
what such a client puts on the wire."""

from __future__ import annotations

from attrs import evolve
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from dmdelegation.dm import wbxml, xml_codec
from dmdelegation.dm import message as sm
from dmdelegation.dm.devices import MemoryDeviceList
from dmdelegation.protocol import AuthType
from dmdelegation.tree import URI

from .harness import DEVICE, DMS1, Endpoint, dm_device
from .raw import digest, opening, post


class Tolerances(TestCase):
    def setUp(self) -> None:
        self.devices = MemoryDeviceList([dm_device(AuthType.DIGEST)])
        self.clock = Clock()
        self.endpoint = Endpoint(DMS1, self.devices, clock=self.clock)
        self.addCleanup(self.endpoint.stop)
        self.server = self.endpoint.server
        self.url = self.endpoint.url

    def nonce(self) -> bytes:
        device = self.devices.device(DEVICE)
        assert device is not None
        return device.client.nonce

    # DevInfo.

    async def test_devinfo_items_may_name_their_node_in_source(self) -> None:
        """OMA DM 1.2 Representation's example of package #1: DevInfo items carry <Source>."""
        message = opening(self.url, cred=digest(self.nonce()))
        alert, replace = message.commands
        items = tuple(evolve(i, source=i.target, target=None) for i in replace.items)
        message = evolve(message, body=(alert, evolve(replace, items=items)))
        self.server.session_for(DEVICE).get(URI.parse("./Vendor"))  # keeps the session open
        answer = await post(self.url, xml_codec.encode(message))
        (status,) = [s for s in answer.message().statuses if s.cmd == "Replace"]
        assert status.code == 200
        session = self.server.sessions[DEVICE]
        assert session.devinfo == {"DevId": DEVICE, "Man": "Acme", "Mod": "Phone 3"}

    async def test_a_devid_in_source_other_than_the_header_is_still_400(self) -> None:
        message = opening(self.url, cred=digest(self.nonce()), devid="IMEI:000000000000000")
        alert, replace = message.commands
        items = tuple(evolve(i, source=i.target, target=None) for i in replace.items)
        message = evolve(message, body=(alert, evolve(replace, items=items)))
        answer = await post(self.url, xml_codec.encode(message))
        (status,) = [s for s in answer.message().statuses if s.cmd == "Replace"]
        assert status.code == 400

    # Media types.

    async def test_the_syncml_media_types_real_clients_send(self) -> None:
        for kind, codec in (
            ("application/vnd.syncml.dm+xml; charset=utf-8", xml_codec),
            ("application/vnd.syncml+xml", xml_codec),
            ("Application/Vnd.SyncML+XML ; charset=UTF-8", xml_codec),
            ("application/vnd.syncml.dm+wbxml", wbxml),
            ("application/vnd.syncml+wbxml", wbxml),
        ):
            body = codec.encode(opening(self.url, cred=digest(self.nonce())))
            answer = await post(self.url, body, content_type=kind)
            assert answer.code == 200, kind
            assert answer.headers["content-type"] == kind.split(";")[0].strip().lower(), kind
            reply = codec.decode(answer.body, 1 << 20)
            (status,) = [s for s in reply.statuses if s.cmd == sm.SYNCHDR]
            assert status.code == 212, kind

    async def test_other_media_types_are_still_refused(self) -> None:
        body = xml_codec.encode(opening(self.url, cred=digest(self.nonce())))
        for kind in ("application/xml", "text/xml", "application/vnd.syncml.ds+xml"):
            answer = await post(self.url, body, content_type=kind)
            assert answer.code == 415, kind
        assert self.server.sessions == {}
        assert self.nonce() == b""  # no nonce was issued
