"""Done-when: the session layer refuses malformed SyncML, wrong credentials, replayed nonces
and oversized messages with the SyncML status a device expects, and nothing changes: no
session opens or moves on, no nonce is issued, the queued operation stays queued and unfired,
and a log line says why."""

from __future__ import annotations

import re
from typing import Any

from attrs import evolve
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from dmdelegation.dm import auth, backoff, wbxml, xml_codec
from dmdelegation.dm import message as sm
from dmdelegation.dm.devices import MemoryDeviceList
from dmdelegation.dm.pending import OutcomeUnknown
from dmdelegation.protocol import AuthLevel, AuthType
from dmdelegation.tree import URI, Value

from .harness import DEVICE, DMS1, Endpoint, dm_device
from .raw import digest, hmac, opening, post

MAX = 4096
STRANGER = "IMEI:000000000000000"


def without_ids(body: bytes, dev_id: str) -> bytes:
    """``body`` with the DevId and the nonces it echoes blanked out."""
    body = body.replace(dev_id.encode(), b"DEVID")
    return re.sub(rb"(<NextNonce[^>]*>)[^<]*(</NextNonce>)", rb"\1\2", body)


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
        answer = await self.wrong_credentials(STRANGER)
        status = answer.header_status()
        assert status.code == 401  # as wrong credentials: a challenge with a nonce
        assert status.chal is not None
        assert status.chal.type == auth.chal_type(self.auth_type)
        assert len(status.chal.next_nonce) == auth.NONCE_SIZE
        again = (await self.wrong_credentials(STRANGER)).header_status()
        assert again.chal == status.chal  # the same nonce, as a device's current one
        self.assert_nothing_changed()
        assert self.server.devices.device(STRANGER) is None

    async def wrong_credentials(self, source: str) -> Any:
        message = opening(self.url, cred=digest(self.nonce(), secret="guess"), source=source)
        return await post(self.url, xml_codec.encode(message))

    async def no_credentials(self, source: str) -> Any:
        return await post(self.url, xml_codec.encode(opening(self.url, source=source)))

    async def test_an_unknown_device_is_answered_as_wrong_credentials(self) -> None:
        """No oracle: the answers differ only by the DevId echoed and the nonce offered."""
        self.devices.save_nonce(DEVICE, AuthLevel.CLIENT, b"N" * auth.NONCE_SIZE)
        self.server.unknown_auth = self.auth_type  # what is asked when a message shows none
        self.before = self.state()
        for attempt in (self.wrong_credentials, self.no_credentials):
            known, unknown = await attempt(DEVICE), await attempt(STRANGER)
            assert known.header_status().code == unknown.header_status().code
            assert known.header_status().code in (401, 407)
            assert without_ids(known.body, DEVICE) == without_ids(unknown.body, STRANGER)
            assert known.code == unknown.code
            assert set(known.headers) == set(unknown.headers)
            assert known.headers["content-type"] == unknown.headers["content-type"]
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
        # MsgID 1 with Alert 1201 opens a new session even with the same SessionID (clients
        # number every session 1), but its nonce was used: wrong credentials.
        again = await post(self.url, first)
        assert again.header_status().code == 401
        self.assert_nothing_changed()
        skipped = opening(self.url, msg_id="3", cred=digest(self.nonce()))
        skipped = evolve(skipped, body=skipped.body[1:])  # not the next MsgID of the session
        assert (await post(self.url, xml_codec.encode(skipped))).header_status().code == 400
        self.assert_nothing_changed()
        assert (session.client_msg_id, session.server_msg_id, dict(session.in_flight)) == moved
        assert not self.queued.called
        assert get.items[0].target == "./Vendor"
        # The device never answers: when the session expires, the Get's outcome is unknown.
        self.clock.advance(self.server.session_timeout)
        self.failureResultOf(self.queued, OutcomeUnknown)
        assert self.server.sessions == {}

    # Every message is authenticated.

    async def send(self, message: sm.Message, nonce: bytes, secret: str | None) -> Any:
        """``message`` as the device sends it with ``secret`` (None: no credentials)."""
        cred = None if secret is None else digest(nonce, secret)
        body = xml_codec.encode(evolve(message, header=evolve(message.header, cred=cred)))
        return await post(self.url, body)

    async def test_a_second_client_cannot_answer_for_the_device(self) -> None:
        """The hijack: a second client knows the DevId, the SessionID and the next MsgID, not
        the secret. It gets no queued command, changes nothing, and the device goes on."""
        from .harness import CLIENT_SECRET

        first = await self.send(opening(self.url), self.nonce(), CLIENT_SECRET)
        assert first.header_status().code == 212
        (get,) = first.message().commands
        key = self.server.session_for(DEVICE).replace(
            URI.parse("./Vendor/Enterprise/VPN/Key"), Value.text("s3cret-value")
        )
        session = self.server.sessions[DEVICE]
        self.before = self.state()
        moved = (session.client_msg_id, session.server_msg_id, dict(session.in_flight))
        answer = sm.Message(
            sm.Header(session_id="1", msg_id="2", target=self.url, source=DEVICE),
            (
                sm.Status("1", "1", get.cmd_id, "Get", 200, target_ref="./Vendor"),
                sm.Results(
                    "2",
                    "1",
                    get.cmd_id,
                    (sm.Item(source="./Vendor", meta=sm.Meta(format="node"), data="Radio"),),
                ),
            ),
        )
        for secret, code in ((None, 407), ("guess", 401)):
            hijack = await self.send(answer, self.nonce(), secret)
            assert hijack.header_status().code == code
            assert not hijack.message().commands
            assert b"s3cret-value" not in hijack.body
            self.assert_nothing_changed()
            assert (session.client_msg_id, session.server_msg_id, dict(session.in_flight)) == moved
            assert not key.called
        real = await self.send(answer, self.nonce(), CLIENT_SECRET)
        assert real.header_status().code == 212
        (replace,) = real.message().commands
        assert replace.items[0].target == "./Vendor/Enterprise/VPN/Key"
        got = self.successResultOf(self.queued)
        assert got.node is not None
        assert got.node.children == ("Radio",)
        assert self.server.queued(DEVICE) == 0

    # Back-off.

    async def test_repeated_wrong_credentials_back_off(self) -> None:
        from .harness import CLIENT_SECRET

        for source in (DEVICE, STRANGER):  # known and unknown DevIds alike
            for _ in range(backoff.FREE_FAILURES - 1):
                assert (await self.wrong_credentials(source)).header_status().code == 401
            assert self.server.backoff.remaining(source) == 0
            assert (await self.wrong_credentials(source)).header_status().code == 401
            assert self.server.backoff.remaining(source) == backoff.FIRST_DELAY
        self.assert_nothing_changed()
        # During the back-off even the right credentials are not checked.
        refused = await self.send(opening(self.url), self.nonce(), CLIENT_SECRET)
        status = refused.header_status()
        assert (status.code, status.chal) == (417, None)
        assert refused.headers["retry-after"] == str(int(backoff.FIRST_DELAY))
        assert (await self.wrong_credentials(STRANGER)).header_status().code == 417
        self.assert_nothing_changed()
        self.clock.advance(backoff.FIRST_DELAY - 1)
        assert (await self.wrong_credentials(DEVICE)).header_status().code == 417
        self.clock.advance(1)
        # One more failure after it: twice as long.
        assert (await self.wrong_credentials(DEVICE)).header_status().code == 401
        assert self.server.backoff.remaining(DEVICE) == 2 * backoff.FIRST_DELAY
        self.clock.advance(2 * backoff.FIRST_DELAY)
        self.assert_nothing_changed()
        accepted = await self.send(opening(self.url), self.nonce(), CLIENT_SECRET)
        assert accepted.header_status().code == 212
        # A success forgets the failures: the next wrong one is free again.
        assert self.server.sessions[DEVICE].session_id == "1"
        assert (await self.wrong_credentials(DEVICE)).header_status().code == 401
        assert self.server.backoff.remaining(DEVICE) == 0


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

    async def wrong_credentials(self, source: str) -> Any:
        body = xml_codec.encode(opening(self.url, source=source))
        from .harness import CLIENT_SECRET

        headers = hmac(body, self.nonce(), CLIENT_SECRET + "x")
        return await post(self.url, body, headers=headers)

    async def send(self, message: sm.Message, nonce: bytes, secret: str | None) -> Any:
        body = xml_codec.encode(message)
        return await post(
            self.url, body, headers={} if secret is None else hmac(body, nonce, secret)
        )

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
        assert again.header_status().code == 401  # a new session; its nonce was used
        self.assert_nothing_changed()
        message = opening(self.url, msg_id="3")
        skipped = xml_codec.encode(evolve(message, body=message.body[1:]))
        headers = hmac(skipped, self.nonce(), CLIENT_SECRET)
        assert (await post(self.url, skipped, headers=headers)).header_status().code == 400
        self.assert_nothing_changed()
        self.clock.advance(self.server.session_timeout)
        self.failureResultOf(self.queued, OutcomeUnknown)


def test_the_back_off_is_bounded() -> None:
    clock = Clock()
    table = backoff.AuthBackoff(clock, max_tracked=3)
    delays = [table.failed("dev") for _ in range(12)]
    assert delays[: backoff.FREE_FAILURES - 1] == [0.0] * (backoff.FREE_FAILURES - 1)
    assert delays[backoff.FREE_FAILURES - 1 : backoff.FREE_FAILURES + 1] == [
        backoff.FIRST_DELAY,
        2 * backoff.FIRST_DELAY,
    ]
    assert max(delays) == backoff.MAX_DELAY == delays[-1]
    clock.advance(backoff.MAX_DELAY)
    assert table.remaining("dev") == 0
    clock.advance(backoff.FORGET)
    assert table.failed("dev") == 0.0  # an hour without failure forgets the earlier ones
    for name in ("a", "b", "c", "d"):
        table.failed(name)
    assert len(table) == 3  # the oldest DevId ("dev") was forgotten
    table.succeeded("d")
    assert len(table) == 2
