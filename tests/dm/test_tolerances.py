"""Done-when: the session layer survives what real DM Clients send (docs/dm-sessions.md,
"Tolerances for real DM Clients"). Every test posts hand-made messages, so that it shows exactly
what such a client puts on the wire."""

from __future__ import annotations

import base64

from attrs import evolve
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from dmdelegation.dm import auth, wbxml, xml_codec
from dmdelegation.dm import message as sm
from dmdelegation.dm.devices import MemoryDeviceList
from dmdelegation.dm.pending import OutcomeUnknown
from dmdelegation.dm.server import MAX_AUTH_RESENDS
from dmdelegation.protocol import AuthType
from dmdelegation.tree import URI, Status

from .harness import DEVICE, DMS1, SERVER_SECRET, Endpoint, dm_device
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

    # Commands refused for our credentials.

    def hdr(self, reply: sm.Message) -> sm.Status:
        (status,) = [s for s in reply.statuses if s.cmd == sm.SYNCHDR]
        return status

    async def answer_401(self, reply: sm.Message, msg_id: str, device_nonce: bytes) -> sm.Message:
        """The device's answer when our credentials fail with its nonce: SyncHdr 401 with its
        new nonce in <Chal>, and every command refused 401."""
        chal = self.hdr(reply).chal
        assert chal is not None
        body: list[sm.BodyElement] = [
            sm.Status(
                "1",
                reply.header.msg_id,
                "0",
                sm.SYNCHDR,
                401,
                chal=sm.Chal(type=auth.MD5_TYPE, next_nonce=device_nonce),
            )
        ]
        for i, command in enumerate(reply.commands):
            body.append(
                sm.Status(str(i + 2), reply.header.msg_id, command.cmd_id, command.name, 401)
            )
        header = sm.Header(
            session_id="1",
            msg_id=msg_id,
            target=self.url,
            source=DEVICE,
            cred=digest(chal.next_nonce),
        )
        answer = await post(self.url, xml_codec.encode(sm.Message(header, tuple(body))))
        return answer.message()

    async def test_commands_refused_for_our_credentials_are_sent_again(self) -> None:
        read = self.server.session_for(DEVICE).get(URI.parse("./Vendor"))
        first = await post(self.url, xml_codec.encode(opening(self.url, cred=digest(self.nonce()))))
        reply = first.message()
        assert reply.header.cred is not None
        (get,) = reply.commands
        # The device's nonce for us changed: it refuses our credentials and the Get.
        reply = await self.answer_401(reply, "2", b"the device's new nonce")
        assert reply.header.cred == sm.Cred(
            type=auth.MD5_TYPE,
            data=auth.md5_digest(DMS1, SERVER_SECRET, b"the device's new nonce"),
        )
        (again,) = reply.commands
        assert (again.name, again.items) == ("Get", get.items)
        assert not read.called
        chal = self.hdr(reply).chal
        assert chal is not None
        header = sm.Header(
            session_id="1", msg_id="3", target=self.url, source=DEVICE, cred=digest(chal.next_nonce)
        )
        body = (
            sm.Status("1", reply.header.msg_id, "0", sm.SYNCHDR, 212),
            sm.Status("2", reply.header.msg_id, again.cmd_id, "Get", 200),
            sm.Results(
                "3",
                reply.header.msg_id,
                again.cmd_id,
                (sm.Item(source="./Vendor", meta=sm.Meta(format="node"), data="Radio"),),
            ),
        )
        last = (await post(self.url, xml_codec.encode(sm.Message(header, body)))).message()
        assert last.final
        assert not last.commands
        got = self.successResultOf(read)
        assert (got.status, got.node and got.node.children) == (Status.OK, ("Radio",))
        assert self.server.sessions == {}

    async def test_commands_are_sent_again_a_bounded_number_of_times(self) -> None:
        read = self.server.session_for(DEVICE).get(URI.parse("./Vendor"))
        first = await post(self.url, xml_codec.encode(opening(self.url, cred=digest(self.nonce()))))
        reply = first.message()
        sent = len(reply.commands)
        msg_id = 2
        while reply.commands:
            reply = await self.answer_401(reply, str(msg_id), b"nonce %d" % msg_id)
            sent += len(reply.commands)
            msg_id += 1
            assert msg_id < 10
        assert sent == 1 + MAX_AUTH_RESENDS
        assert self.successResultOf(read).status is Status.COMMAND_FAILED
        assert self.server.sessions == {}
        assert self.server.queued(DEVICE) == 0

    # Session ids.

    async def test_a_client_numbering_every_session_1_opens_a_new_one(self) -> None:
        """The device left session 1 open (it was cut off) and opens its next session, again
        with SessionID 1 and MsgID 1: a new session, the old one's command outcome unknown."""
        read = self.server.session_for(DEVICE).get(URI.parse("./Vendor"))
        first = await post(self.url, xml_codec.encode(opening(self.url, cred=digest(self.nonce()))))
        assert self.hdr(first.message()).code == 212
        old = self.server.sessions[DEVICE]
        self.server.session_for(DEVICE).get(URI.parse("./Vendor/Radio"))
        again = await post(self.url, xml_codec.encode(opening(self.url, cred=digest(self.nonce()))))
        reply = again.message()
        assert self.hdr(reply).code == 212
        assert reply.header.session_id == "1"
        assert reply.header.msg_id == "1"
        (get,) = reply.commands
        assert get.items[0].target == "./Vendor/Radio"
        new = self.server.sessions[DEVICE]
        assert new is not old
        assert new.client_msg_id == 1
        self.failureResultOf(read, OutcomeUnknown)

    # Nonces.

    async def test_a_nonce_in_cdata_is_taken_as_raw_bytes(self) -> None:
        """A client that puts its nonce for us, raw, in a CDATA section (here one that would
        also read as base64): the server digests with those bytes."""
        read = self.server.session_for(DEVICE).get(URI.parse("./Vendor"))
        reply = (
            await post(self.url, xml_codec.encode(opening(self.url, cred=digest(self.nonce()))))
        ).message()
        (get,) = reply.commands
        chal = self.hdr(reply).chal
        assert chal is not None
        raw = b"Zm9vYmFyYmF6cXV4"  # also valid base64 ("foobarbazqux")
        header = sm.Header(
            session_id="1", msg_id="2", target=self.url, source=DEVICE, cred=digest(chal.next_nonce)
        )
        body = (
            sm.Status(
                "1",
                "1",
                "0",
                sm.SYNCHDR,
                212,
                chal=sm.Chal(type=auth.MD5_TYPE, next_nonce=b"<placeholder>"),
            ),
            sm.Status("2", "1", get.cmd_id, "Get", 404),
        )
        data = xml_codec.encode(sm.Message(header, body))
        placeholder = base64.b64encode(b"<placeholder>")
        data = data.replace(placeholder, b"<![CDATA[" + raw + b"]]>")
        answer = await post(self.url, data)
        assert self.hdr(answer.message()).code == 212
        device = self.devices.device(DEVICE)
        assert device is not None
        assert device.server.nonce == raw
        assert self.successResultOf(read).status is Status.NOT_FOUND


def _status_with_nonce(text: bytes, fmt: bytes = b"<Format>b64</Format>") -> bytes:
    return (
        b'<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD>'
        b"<VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>2</MsgID>"
        b"<Target><LocURI>http://dm</LocURI></Target><Source><LocURI>dev</LocURI></Source>"
        b"</SyncHdr><SyncBody><Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef>"
        b'<Cmd>SyncHdr</Cmd><Chal><Meta><Type xmlns="syncml:metinf">syncml:auth-md5</Type>'
        + fmt.replace(b"<Format>", b'<Format xmlns="syncml:metinf">')
        + b'<NextNonce xmlns="syncml:metinf">'
        + text
        + b"</NextNonce></Meta></Chal><Data>401</Data></Status><Final/></SyncBody></SyncML>"
    )


def _nonce_read(data: bytes) -> bytes:
    (status,) = xml_codec.decode(data, 1 << 16).statuses
    assert status.chal is not None
    return status.chal.next_nonce


def test_nonces_are_base64_and_raw_ones_are_tolerated() -> None:
    assert _nonce_read(_status_with_nonce(b"bm9uY2U=")) == b"nonce"  # the spec's b64
    assert _nonce_read(_status_with_nonce(b"bm9uY2U=", b"")) == b"nonce"  # no Format
    assert _nonce_read(_status_with_nonce(b"<![CDATA[bm9uY2U=]]>")) == b"bm9uY2U="
    assert _nonce_read(_status_with_nonce(b"<![CDATA[n0nce:1;]]>")) == b"n0nce:1;"
    assert _nonce_read(_status_with_nonce(b"n0nce:1;")) == b"n0nce:1;"  # not base64: raw
    # What we send is base64, with Format b64.
    chal = sm.Chal(type=auth.MD5_TYPE, next_nonce=b"\x00\xffnonce")
    status = sm.Status("1", "1", "0", sm.SYNCHDR, 212, chal=chal)
    message = sm.Message(sm.Header(session_id="1", msg_id="1", target="d", source="s"), (status,))
    sent = xml_codec.encode(message)
    assert b'<Format xmlns="syncml:metinf">b64</Format>' in sent
    assert base64.b64encode(b"\x00\xffnonce") in sent
    assert xml_codec.decode(sent, 1 << 16) == message
    assert wbxml.decode(wbxml.encode(message), 1 << 16) == message
