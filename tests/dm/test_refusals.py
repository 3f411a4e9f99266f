"""Done-when: the session layer refuses malformed SyncML, wrong credentials, replayed nonces
and oversized messages with the SyncML status a device expects, and nothing changes: no
session opens or moves on, no nonce is issued, the queued operation stays queued and unfired,
and a log line says why."""

from __future__ import annotations

from typing import Any

from attrs import evolve
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from dmdelegation.dm import auth, wbxml, xml_codec
from dmdelegation.dm import message as sm
from dmdelegation.dm.devices import MemoryDeviceList
from dmdelegation.dm.pending import OutcomeUnknown
from dmdelegation.protocol import AuthType
from dmdelegation.tree import URI

from .harness import DEVICE, DMS1, Endpoint, dm_device
from .raw import digest, hmac, opening, post

MAX = 4096


@implementer(ILogObserver)
class LogLines(list[str]):
    def __call__(self, event: LogEvent) -> None:
        if "log_format" in event:
            self.append(formatEvent(event))


class Refusals(TestCase):
    auth_type = AuthType.DIGEST

    def setUp(self) -> None:
        self.devices = MemoryDeviceList([dm_device(self.auth_type)])
        self.clock = Clock()
        self.endpoint = Endpoint(DMS1, self.devices, max_msg_size=MAX, clock=self.clock)
        self.addCleanup(self.endpoint.stop)
        self.server = self.endpoint.server
        self.url = self.endpoint.url
        self.queued = self.server.session_for(DEVICE).get(URI.parse("./Vendor"))
        self.lines = LogLines()
        globalLogPublisher.addObserver(self.lines)
        self.addCleanup(globalLogPublisher.removeObserver, self.lines)
        self.before = self.state()

    def state(self) -> tuple[Any, ...]:
        return (
            self.server.queued(DEVICE),
            self.queued.called,
            dict(self.server.sessions),
            self.devices.device(DEVICE),
        )

    def assert_nothing_changed(self) -> None:
        assert self.state() == self.before
        assert any("refused" in line for line in self.lines), self.lines

    def nonce(self) -> bytes:
        device = self.devices.device(DEVICE)
        assert device is not None
        return device.client.nonce

    # Malformed.

    async def test_not_xml(self) -> None:
        answer = await post(self.url, b"<SyncML><SyncHdr>")
        assert answer.code == 400
        assert answer.header_status().code == 400
        self.assert_nothing_changed()

    async def test_a_dtd_is_refused(self) -> None:
        body = xml_codec.encode(opening(self.url, cred=digest(self.nonce())))
        body = body.replace(
            b"<SyncML",
            b'<!DOCTYPE SyncML [<!ENTITY x SYSTEM "file:///etc/passwd">]><SyncML',
            1,
        )
        answer = await post(self.url, body)
        assert (answer.code, answer.header_status().code) == (400, 400)
        self.assert_nothing_changed()

    async def test_missing_session_id(self) -> None:
        body = xml_codec.encode(opening(self.url, cred=digest(self.nonce())))
        body = body.replace(b"<SessionID>1</SessionID>", b"")
        answer = await post(self.url, body)
        assert (answer.code, answer.header_status().code) == (400, 400)
        self.assert_nothing_changed()

    async def test_status_that_is_not_a_number(self) -> None:
        message = opening(self.url, cred=digest(self.nonce()))
        body = xml_codec.encode(
            evolve(message, body=(*message.body, sm.Status("3", "1", "1", "Get", 200)))
        ).replace(b"<Data>200</Data>", b"<Data>OK</Data>")
        answer = await post(self.url, body)
        assert (answer.code, answer.header_status().code) == (400, 400)
        self.assert_nothing_changed()

    async def test_truncated_wbxml(self) -> None:
        body = wbxml.encode(opening(self.url, cred=digest(self.nonce())))
        answer = await post(self.url, body[:-7], content_type=wbxml.CONTENT_TYPE)
        assert answer.code == 400
        assert answer.header_status("wbxml").code == 400
        self.assert_nothing_changed()

    async def test_wbxml_entity_is_refused(self) -> None:
        body = wbxml.encode(opening(self.url, cred=digest(self.nonce())))
        # replace the first inline string of the body by an entity token
        at = body.index(b"\x03", 6)
        answer = await post(
            self.url, body[:at] + b"\x02\x41" + body[at:], content_type=wbxml.CONTENT_TYPE
        )
        assert answer.header_status("wbxml").code == 400
        self.assert_nothing_changed()

    async def test_no_alert_opening_a_session(self) -> None:
        message = opening(self.url, cred=digest(self.nonce()))
        answer = await post(self.url, xml_codec.encode(evolve(message, body=message.body[1:])))
        assert answer.code == 200
        assert answer.header_status().code == 400
        self.assert_nothing_changed()

    async def test_another_dm_version(self) -> None:
        message = opening(self.url, cred=digest(self.nonce()))
        message = evolve(message, header=evolve(message.header, ver_proto="DM/1.1"))
        answer = await post(self.url, xml_codec.encode(message))
        assert answer.header_status().code == 505
        self.assert_nothing_changed()

    async def test_wrong_content_type(self) -> None:
        body = xml_codec.encode(opening(self.url, cred=digest(self.nonce())))
        answer = await post(self.url, body, content_type="application/xml")
        assert answer.code == 415
        self.assert_nothing_changed()

    # Oversized.

    async def test_oversized_message_gets_413_with_its_header(self) -> None:
        message = opening(self.url, cred=digest(self.nonce()), padding="x" * MAX)
        answer = await post(self.url, xml_codec.encode(message))
        status = answer.header_status()
        assert status.code == 413
        assert (status.msg_ref, answer.message().header.session_id) == ("1", "1")
        self.assert_nothing_changed()

    async def test_far_oversized_message_is_cut_while_it_arrives(self) -> None:
        message = opening(self.url, cred=digest(self.nonce()), padding="x" * 8 * MAX)
        answer = await post(self.url, xml_codec.encode(message))
        assert answer.code == 413
        assert self.state() == self.before

    # Credentials.

    async def test_unknown_device(self) -> None:
        message = opening(self.url, cred=digest(self.nonce()), source="IMEI:000000000000000")
        answer = await post(self.url, xml_codec.encode(message))
        status = answer.header_status()
        assert (status.code, status.chal) == (401, None)
        self.assert_nothing_changed()

    async def test_wrong_secret(self) -> None:
        message = opening(self.url, cred=digest(self.nonce(), secret="guess"))
        answer = await post(self.url, xml_codec.encode(message))
        status = answer.header_status()
        assert status.code == 401
        assert status.chal == sm.Chal(type=auth.MD5_TYPE, next_nonce=self.nonce())
        self.assert_nothing_changed()
        assert not any("guess" in line for line in self.lines)

    async def test_missing_credentials(self) -> None:
        answer = await post(self.url, xml_codec.encode(opening(self.url)))
        status = answer.header_status()
        assert status.code == 407
        assert status.chal is not None
        assert status.chal.next_nonce == self.nonce()
        self.assert_nothing_changed()

    async def test_replayed_nonce(self) -> None:
        """A whole session, then its first message again: its nonce was used."""
        self.server.drop_queued(DEVICE)
        self.failureResultOf(self.queued)
        first = xml_codec.encode(opening(self.url, cred=digest(self.nonce())))
        answer = await post(self.url, first)
        status = answer.header_status()
        assert status.code == 212
        assert answer.message().final
        assert not answer.message().commands
        assert self.server.sessions == {}  # nothing to do: the session ended
        self.queued = self.server.session_for(DEVICE).get(URI.parse("./Vendor"))
        self.before = self.state()
        assert status.chal is not None
        assert status.chal.next_nonce == self.nonce()
        replay = await post(self.url, first)
        status = replay.header_status()
        assert status.code == 401
        assert status.chal is not None
        assert status.chal.next_nonce == self.nonce()
        self.assert_nothing_changed()

    async def test_replayed_message_in_a_session(self) -> None:
        first = xml_codec.encode(opening(self.url, cred=digest(self.nonce())))
        answer = await post(self.url, first)
        assert answer.header_status().code == 212
        (get,) = answer.message().commands
        session = self.server.sessions[DEVICE]
        self.before = self.state()
        moved = (session.client_msg_id, session.server_msg_id, dict(session.in_flight))
        again = await post(self.url, first)  # same session, same MsgID
        assert again.header_status().code == 400
        self.assert_nothing_changed()
        assert (session.client_msg_id, session.server_msg_id, dict(session.in_flight)) == moved
        assert not self.queued.called
        assert get.items[0].target == "./Vendor"
        # The device never answers: when the session expires, the Get's outcome is unknown.
        self.clock.advance(self.server.session_timeout)
        self.failureResultOf(self.queued, OutcomeUnknown)
        assert self.server.sessions == {}


class HMACRefusals(Refusals):
    auth_type = AuthType.HMAC

    async def _post_hmac(self, message: sm.Message, secret: str | None = None) -> Any:
        body = xml_codec.encode(message)
        headers = {} if secret is None else hmac(body, self.nonce(), secret)
        return await post(self.url, body, headers=headers)

    async def test_wrong_secret(self) -> None:
        answer = await self._post_hmac(opening(self.url), secret="guess")
        status = answer.header_status()
        assert status.code == 401
        assert status.chal == sm.Chal(type=auth.HMAC_TYPE, next_nonce=self.nonce())
        self.assert_nothing_changed()

    async def test_missing_credentials(self) -> None:
        answer = await self._post_hmac(opening(self.url))
        assert answer.header_status().code == 407
        self.assert_nothing_changed()

    async def test_mac_of_another_body(self) -> None:
        body = xml_codec.encode(opening(self.url))
        other = xml_codec.encode(opening(self.url, session_id="2"))
        from .harness import CLIENT_SECRET

        answer = await post(self.url, body, headers=hmac(other, self.nonce(), CLIENT_SECRET))
        assert answer.header_status().code == 401
        self.assert_nothing_changed()

    async def test_replayed_nonce(self) -> None:
        from .harness import CLIENT_SECRET

        self.server.drop_queued(DEVICE)
        self.failureResultOf(self.queued)
        first = xml_codec.encode(opening(self.url))
        headers = hmac(first, self.nonce(), CLIENT_SECRET)
        answer = await post(self.url, first, headers=headers)
        assert answer.header_status().code == 212
        assert self.server.sessions == {}
        self.queued = self.server.session_for(DEVICE).get(URI.parse("./Vendor"))
        self.before = self.state()
        replay = await post(self.url, first, headers=headers)
        status = replay.header_status()
        assert status.code == 401
        assert status.chal is not None
        assert status.chal.next_nonce == self.nonce()
        self.assert_nothing_changed()

    async def test_replayed_message_in_a_session(self) -> None:
        from .harness import CLIENT_SECRET

        first = xml_codec.encode(opening(self.url))
        headers = hmac(first, self.nonce(), CLIENT_SECRET)
        answer = await post(self.url, first, headers=headers)
        assert answer.header_status().code == 212
        self.before = self.state()
        again = await post(self.url, first, headers=headers)
        assert again.header_status().code == 400
        self.assert_nothing_changed()
        self.clock.advance(self.server.session_timeout)
        self.failureResultOf(self.queued, OutcomeUnknown)
