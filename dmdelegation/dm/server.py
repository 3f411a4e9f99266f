"""The DM server side of OMA DM 1.2 sessions: one `DMSessionServer` per ServerID, holding the
queue of tree operations of every device, the open sessions, and the message handling that the
web resource calls.

A client message goes through, in this order, each refusal changing nothing (no session is
created or advanced, no nonce is issued, no queued operation moves, and a log line says why):

1. size (413) and codec (400; 415 for another character set);
2. the back-off of its DevId (417, with ``Retry-After``): after repeated wrong credentials,
   messages are refused without their credentials being checked (`dmdelegation.dm.backoff`);
3. the SyncML and DM versions (505);
4. the session: a new one must open with Alert 1200 or 1201 (400), a known one must carry the
   next MsgID (400: a replayed or reordered message). A message with MsgID 1 and Alert 1200 or
   1201 opens a new session even when it reuses the SessionID of the open one;
5. authentication with the device's client credentials, on every message: HMAC in the
   ``x-syncml-hmac`` header, or the MD5 digest in ``<Cred>`` with the nonce of our previous
   answer's ``<Chal>``; missing 407, wrong 401 (a replayed nonce is a wrong one), each with a
   ``<Chal>`` repeating the nonce the device must use. A DevId that is not in the device list
   is answered exactly as a device with wrong (or missing) credentials;
6. then the body: Status and Results answering our commands fire their operations' Deferreds
   (with the device's status codes; commands the device refused 401 or 407 because it refused
   our credentials are sent again, `MAX_AUTH_RESENDS` times at most), Alert, DevInfo's Replace;
   anything else is answered 406.

The answer carries 212 and the next nonce, and the queued operations that fit the client's
MaxMsgSize; Final when they all did. A reply with nothing to send ends the session.

The server holds the queues, the sessions and their lifecycle; its parts are module functions it
calls: `dmdelegation.dm.admission` (steps 3 to 5: versions, session, MsgID, credentials),
`dmdelegation.dm.inbound` (step 6: the body) and `dmdelegation.dm.replies` (the codecs, the
answer with the queued operations, the refusals).
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from dmdelegation.client.interfaces import IDMClientSession
from dmdelegation.dm import message as sm
from dmdelegation.dm import replies
from dmdelegation.dm.admission import Refusal, admit, authenticate, stand_in
from dmdelegation.dm.backoff import AuthBackoff
from dmdelegation.dm.client_session import AtomicDMClientSession, DMClientSession
from dmdelegation.dm.devices import Credentials, DMDevice, IDeviceList, INotificationTransport
from dmdelegation.dm.inbound import MAX_AUTH_RESENDS, take_body
from dmdelegation.dm.notification import build_package0
from dmdelegation.dm.pending import OutcomeUnknown, Pending
from dmdelegation.dm.replies import (
    CONTENT_TYPES,
    MAX_SERVER_AUTH_FAILURES,
    MessageTooLarge,
    Reply,
)
from dmdelegation.dm.session import DMSession, Event, IllegalInput, Phase
from dmdelegation.protocol.dmacc import AuthType

__all__ = [
    "CONTENT_TYPES",
    "DEFAULT_MAX_MSG_SIZE",
    "MAX_AUTH_RESENDS",
    "MAX_SERVER_AUTH_FAILURES",
    "SESSION_TIMEOUT",
    "DMSessionServer",
    "MessageTooLarge",
    "Reply",
]

log = Logger()

DEFAULT_MAX_MSG_SIZE = 64 * 1024
SESSION_TIMEOUT = 300.0


class DMSessionServer:
    """DM sessions of ``server_id`` with the devices of ``devices``, reached at ``url``."""

    def __init__(
        self,
        server_id: str,
        url: str,
        devices: IDeviceList,
        clock: IReactorTime,
        *,
        notifier: INotificationTransport | None = None,
        max_msg_size: int = DEFAULT_MAX_MSG_SIZE,
        session_timeout: float = SESSION_TIMEOUT,
        linger: float = 0.0,
        unknown_auth: AuthType = AuthType.HMAC,
    ) -> None:
        self.server_id = server_id
        self.url = url
        self.devices = devices
        self.clock = clock
        self.notifier = notifier
        self.max_msg_size = max_msg_size
        self.session_timeout = session_timeout
        self.linger = linger
        self.unknown_auth = unknown_auth
        """The authentication asked of a DevId that is not a device when its message shows none
        (the type most of the devices use: then a message without credentials does not tell a
        device of another type from an unknown DevId either)."""
        self.queues: dict[str, deque[Pending]] = {}
        self.sessions: dict[str, DMSession] = {}  # by device
        self._notified: set[str] = set()
        self._admitting: set[str] = set()  # devices whose message is being authenticated
        self.backoff = AuthBackoff(clock)
        self._stand_in_key = secrets.token_bytes(32)  # for DevIds that are not devices
        self.devinfo_seen: Callable[[str, dict[str, str]], None] | None = None
        """Told the DevInfo an authenticated device sent (``Man``, ``Mod``...), if set."""

    # The tree operations' side.

    def session_for(self, device_id: str) -> IDMClientSession:
        """The `IDMClientSession` of this server on a device of the device list."""
        device = self.devices.device(device_id)
        if device is None:
            raise LookupError(f"{device_id!r} is not in the DM device list")
        cls = AtomicDMClientSession if device.atomic else DMClientSession
        return cls(self, device_id, self.server_id)

    def enqueue(self, device_id: str, pending: Pending) -> None:
        queue = self.queues.setdefault(device_id, deque())
        queue.append(pending)
        pending.on_cancel = lambda p: self._cancelled(device_id, p)
        session = self.sessions.get(device_id)
        if session is None:
            self._notify(device_id)
        elif session.work is not None:
            work, session.work = session.work, None
            work.callback(None)

    def _cancelled(self, device_id: str, pending: Pending) -> None:
        queue = self.queues.get(device_id)
        if queue is not None and pending in queue:
            queue.remove(pending)

    def drop_queued(self, device_id: str) -> int:
        """Fail every operation queued (not yet sent) for the device; how many there were."""
        queue = self.queues.pop(device_id, deque())
        for pending in queue:
            pending.deferred.errback(OutcomeUnknown(f"{pending.label}: dropped, never sent"))
        return len(queue)

    def queued(self, device_id: str) -> int:
        return len(self.queues.get(device_id, ()))

    def notify(self, device_id: str, session_id: int | None = None) -> Deferred[None]:
        """Send package #0 to the device now (through the host's transport)."""
        device = self.devices.device(device_id)
        if device is None or self.notifier is None:
            raise LookupError(f"no notification transport or no device {device_id!r}")
        number = secrets.randbelow(0x10000) if session_id is None else session_id
        # the server identifier is our ServerID; the password and nonce our SRVCRED's
        package = build_package0(self.server_id, device.server.secret, device.server.nonce, number)
        log.info("notifying {device_id} (session {number:04X})", device_id=device_id, number=number)
        return self.notifier.notify(device_id, package)

    def _notify(self, device_id: str) -> None:
        if self.notifier is None or device_id in self._notified:
            return
        self._notified.add(device_id)

        def failed(f: Any) -> None:
            self._notified.discard(device_id)
            log.warn(
                "notification of {device_id} failed: {error}",
                device_id=device_id,
                error=f.getErrorMessage(),
            )

        try:
            self.notify(device_id).addErrback(failed)
        except LookupError:
            self._notified.discard(device_id)

    # The endpoint's side.

    def handle(self, body: bytes, content_type: str, hmac_header: str | None) -> Deferred[Reply]:
        """The answer to one HTTP POST of a client."""
        return Deferred.fromCoroutine(self._handle(body, content_type, hmac_header))

    async def _handle(self, body: bytes, content_type: str, hmac_header: str | None) -> Reply:
        decode, encode = replies.CODECS[content_type]
        try:  # an oversized message is read (up to twice the limit) only to answer it
            message = decode(body, self.max_msg_size * 2)
        except sm.MalformedMessage as e:
            log.info("DM message refused ({status}): {reason}", status=e.status, reason=str(e))
            return replies.bare_refusal(e.status, self.url, encode, content_type)
        header = message.header
        source = header.source
        try:
            if len(body) > self.max_msg_size:
                raise Refusal(413, f"{len(body)} bytes exceed MaxMsgSize {self.max_msg_size}")
            wait = self.backoff.remaining(source)
            if wait > 0:
                raise Refusal(
                    417, f"after wrong credentials, backing off {wait:.0f} s more", None, wait
                )
            if source in self._admitting:
                raise Refusal(400, "another message of this device is being authenticated")
            device, session, new = admit(message, self.devices, self.sessions)
            self._admitting.add(source)
            try:
                creds = self._credentials(device, message, hmac_header)
                issued = await authenticate(
                    self.devices, self.backoff, device, creds, message, body, hmac_header
                )
            finally:
                self._admitting.discard(source)
        except Refusal as e:
            log.info(
                "DM message {msg_id} of session {session_id} from {device_id} refused "
                "({status}): {reason}",
                msg_id=header.msg_id,
                session_id=header.session_id,
                device_id=header.source,
                status=e.code,
                reason=e.reason,
            )
            return replies.refusal(message, e, self.url, encode, content_type)
        assert device is not None  # a DevId that is not a device is never authenticated
        if new:
            old = self.sessions.get(device.device_id)
            if old is not None:
                self._end(old, Event.SUPERSEDE, "superseded by a new session")
            session = DMSession(device=device, session_id=header.session_id, client_msg_id=0)
            self.sessions[device.device_id] = session
            self._notified.discard(device.device_id)
            log.info(
                "DM session {session_id} opened by {device_id}",
                session_id=header.session_id,
                device_id=device.device_id,
            )
        assert session is not None
        if session.timer is not None and session.timer.active():
            session.timer.cancel()
        session.timer = None
        session.fire(Event.MESSAGE)
        session.client_msg_id = int(header.msg_id)
        if header.max_msg_size is not None:
            session.client_max_msg_size = header.max_msg_size
        try:
            statuses = await take_body(
                session,
                message,
                issued,
                devices=self.devices,
                queues=self.queues,
                devinfo_seen=self.devinfo_seen,
            )
            if self.linger > 0 and not session.client_package_open:
                await self._linger(session)
            return self._answer(session, statuses, encode, content_type)
        except Exception:
            self._end(session, Event.FAIL, "the server failed answering it")
            raise

    async def _linger(self, session: DMSession) -> None:
        """With nothing queued, wait up to ``linger`` seconds for the next operation (a host
        whose journal writes are asynchronous queues it a little after the last answer)."""
        if self.queues.get(session.device_id):
            return
        work: Deferred[None] = Deferred()
        session.work = work

        def expire() -> None:
            if not work.called:
                work.callback(None)

        timer = self.clock.callLater(self.linger, expire)
        await work
        session.work = None
        if timer.active():
            timer.cancel()

    def _credentials(
        self, device: DMDevice | None, message: sm.Message, hmac_header: str | None
    ) -> Credentials:
        """The client credentials to check: the device's, or stand-ins for a DevId that is not
        a device (`dmdelegation.dm.admission.stand_in`)."""
        if device is not None:
            return device.client
        return stand_in(self._stand_in_key, self.unknown_auth, message, hmac_header)

    def _answer(
        self,
        session: DMSession,
        statuses: list[sm.Status | sm.Command],
        encode: replies.Encode,
        content_type: str,
    ) -> Reply:
        """Our next message of the session; the session ends when nothing is left to send or
        hear, or when the device keeps refusing our credentials."""
        answer = replies.answer(
            session,
            statuses,
            self.queues.get(session.device_id, deque()),
            source=self.url,
            max_msg_size=self.max_msg_size,
            encode=encode,
        )
        nothing_left = not answer.sent and answer.final and not session.in_flight
        if nothing_left or session.server_auth_failures >= MAX_SERVER_AUTH_FAILURES:
            self._end(session, Event.FINISH, "nothing left to do")
        else:
            session.fire(Event.CONTINUE)
            session.timer = self.clock.callLater(self.session_timeout, self._expire, session)
        return Reply(200, content_type, answer.data, answer.headers)

    def _expire(self, session: DMSession) -> None:
        session.timer = None
        self._end(session, Event.EXPIRE, "the client did not continue")

    def _end(self, session: DMSession, event: Event, why: str) -> None:
        if session.timer is not None and session.timer.active():
            session.timer.cancel()
        session.timer = None
        try:
            session.fire(event)
        except IllegalInput:
            session.phase = Phase.ENDED
        if self.sessions.get(session.device_id) is session:
            del self.sessions[session.device_id]
        lost = session.pending()
        session.in_flight.clear()
        for pending in lost:
            pending.lose(f"session {session.session_id} ended: {why}")
        log.info(
            "DM session {session_id} with {device_id} ended: {why}",
            session_id=session.session_id,
            device_id=session.device_id,
            why=why,
        )
        if self.queues.get(session.device_id):
            self._notify(session.device_id)
