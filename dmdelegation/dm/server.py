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
"""

from __future__ import annotations

import math
import secrets
from collections import deque
from collections.abc import Callable
from typing import Any

from attrs import evolve, frozen
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from dmdelegation.client.interfaces import IDMClientSession
from dmdelegation.dm import auth, wbxml, xml_codec
from dmdelegation.dm import message as sm
from dmdelegation.dm.backoff import AuthBackoff
from dmdelegation.dm.client_session import AtomicDMClientSession, DMClientSession
from dmdelegation.dm.devices import Credentials, DMDevice, IDeviceList, INotificationTransport
from dmdelegation.dm.notification import build_package0
from dmdelegation.dm.pending import OutcomeUnknown, Pending
from dmdelegation.dm.session import DMSession, Event, IllegalInput, Phase
from dmdelegation.protocol.dmacc import AuthLevel, AuthType

log = Logger()

DEFAULT_MAX_MSG_SIZE = 64 * 1024
SESSION_TIMEOUT = 300.0
MAX_SERVER_AUTH_FAILURES = 3
MAX_AUTH_RESENDS = MAX_SERVER_AUTH_FAILURES - 1
"""A command the device refused for our credentials (401, 407) is sent again this many times
at most; then the device's status is its answer."""


@frozen
class Reply:
    code: int  # HTTP status
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class MessageTooLarge(Exception):
    """A single command does not fit the device's MaxMsgSize."""


_XML = (xml_codec.decode, xml_codec.encode)
_WBXML = (wbxml.decode, wbxml.encode)
_CODECS: dict[str, tuple[Callable[[bytes, int], sm.Message], Callable[[sm.Message], bytes]]] = {
    xml_codec.CONTENT_TYPE: _XML,
    "application/vnd.syncml+xml": _XML,  # the SyncML (DS) type, which some DM clients send
    wbxml.CONTENT_TYPE: _WBXML,
    "application/vnd.syncml+wbxml": _WBXML,
}
CONTENT_TYPES = tuple(_CODECS)
"""The media types a client may post (parameters such as ``charset`` aside); the answer is in
the type the client used."""


class _Refusal(Exception):
    def __init__(
        self, code: int, reason: str, chal: sm.Chal | None = None, retry_after: float = 0.0
    ) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.chal = chal
        self.retry_after = retry_after


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
        decode, encode = _CODECS[content_type]
        try:  # an oversized message is read (up to twice the limit) only to answer it
            message = decode(body, self.max_msg_size * 2)
        except sm.MalformedMessage as e:
            log.info("DM message refused ({status}): {reason}", status=e.status, reason=str(e))
            return self._bare_refusal(e.status, encode, content_type)
        header = message.header
        source = header.source
        try:
            if len(body) > self.max_msg_size:
                raise _Refusal(413, f"{len(body)} bytes exceed MaxMsgSize {self.max_msg_size}")
            wait = self.backoff.remaining(source)
            if wait > 0:
                raise _Refusal(
                    417, f"after wrong credentials, backing off {wait:.0f} s more", None, wait
                )
            if source in self._admitting:
                raise _Refusal(400, "another message of this device is being authenticated")
            device, session, new = self._admit(message)
            self._admitting.add(source)
            try:
                issued = await self._authenticate(device, message, body, hmac_header)
            finally:
                self._admitting.discard(source)
        except _Refusal as e:
            log.info(
                "DM message {msg_id} of session {session_id} from {device_id} refused "
                "({status}): {reason}",
                msg_id=header.msg_id,
                session_id=header.session_id,
                device_id=header.source,
                status=e.code,
                reason=e.reason,
            )
            return self._refusal(message, e, encode, content_type)
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
            statuses = await self._take_body(session, message, issued)
            if self.linger > 0 and not session.client_package_open:
                await self._linger(session)
            return self._answer(session, message, statuses, encode, content_type)
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

    # Admission and authentication.

    def _admit(self, message: sm.Message) -> tuple[DMDevice | None, DMSession | None, bool]:
        """The device (None for a DevId that is not one: it is refused by `_authenticate`, as a
        device with wrong credentials is), its session, and whether the message opens one."""
        header = message.header
        if header.ver_dtd != sm.VER_DTD or header.ver_proto != sm.VER_PROTO:
            raise _Refusal(505, f"version {header.ver_dtd}/{header.ver_proto} not supported")
        if not header.msg_id.isdigit() or len(header.msg_id) > 9:
            raise _Refusal(400, "MsgID is not a number")
        device = self.devices.device(header.source)
        session = None if device is None else self.sessions.get(device.device_id)
        alerts = [c.data for c in message.commands if c.name == "Alert"]
        opens = any(a in (sm.ALERT_SERVER_INITIATED, sm.ALERT_CLIENT_INITIATED) for a in alerts)
        # A client that numbers every session 1 opens a new one with MsgID 1 and its Alert.
        reopens = opens and int(header.msg_id) == 1
        if session is not None and session.session_id == header.session_id and not reopens:
            if session.phase is not Phase.WAITING:
                raise _Refusal(400, "a message of this session is being answered already")
            if int(header.msg_id) != session.client_msg_id + 1:
                raise _Refusal(400, f"MsgID {header.msg_id} is not the next of the session")
            return device, session, False
        if not opens:
            raise _Refusal(400, "no session open: Alert 1200 or 1201 expected")
        return device, None, True

    def _stand_in(self, source: str, message: sm.Message, hmac_header: str | None) -> Credentials:
        """Credentials for a DevId that is not a device, which no message can match: of the type
        its message shows, with a nonce of the usual length that is the same every time."""
        if hmac_header is not None:
            kind = AuthType.HMAC
        elif message.header.cred is not None:
            kind = AuthType.DIGEST
        else:
            kind = self.unknown_auth
        nonce = auth.stand_in_nonce(self._stand_in_key, source)
        return Credentials(kind, source, self._stand_in_key.hex(), nonce)

    async def _authenticate(
        self,
        device: DMDevice | None,
        message: sm.Message,
        body: bytes,
        hmac_header: str | None,
    ) -> sm.Chal:
        """Check the client's credentials, on every message of a session; the challenge (with a
        new nonce, saved) to send in our SyncHdr Status. A DevId that is not a device is refused
        exactly as a device whose credentials are wrong (or missing)."""
        source = message.header.source
        creds = self._stand_in(source, message, hmac_header) if device is None else device.client
        if creds.auth_type not in auth.SUPPORTED:
            raise _Refusal(401, f"authentication type {creds.auth_type} not supported")
        kind = auth.chal_type(creds.auth_type)
        chal = sm.Chal(type=kind, next_nonce=creds.nonce)
        if creds.auth_type is AuthType.HMAC:
            parsed = None if hmac_header is None else auth.parse_hmac_header(hmac_header)
            if parsed is None:
                raise _Refusal(407, "no valid x-syncml-hmac header", chal)
            expected = auth.hmac_mac(creds.name, creds.secret, creds.nonce, body)
            right = parsed.username == creds.name and auth.same(parsed.mac, expected)
            wrong = "wrong HMAC (credentials or nonce)"
        else:
            cred = message.header.cred
            if cred is None:
                raise _Refusal(407, "no credentials", chal)
            expected = auth.md5_digest(creds.name, creds.secret, creds.nonce)
            right = cred.type == auth.MD5_TYPE and auth.same(cred.data, expected)
            wrong = "wrong digest (credentials or nonce)"
        if device is None or not right:
            delay = self.backoff.failed(source)
            reason = wrong if device is not None else "not a device of the DM device list"
            if delay:
                reason += f"; backing off {delay:.0f} s"
            raise _Refusal(401, reason, chal)
        self.backoff.succeeded(source)
        nonce = secrets.token_bytes(auth.NONCE_SIZE)
        await self.devices.save_nonce(device.device_id, AuthLevel.CLIENT, nonce)
        return sm.Chal(type=kind, next_nonce=nonce)

    # The body.

    async def _take_body(
        self, session: DMSession, message: sm.Message, issued: sm.Chal
    ) -> list[sm.Status | sm.Command]:
        header = message.header
        msg_ref = header.msg_id
        out: list[sm.Status | sm.Command] = [
            sm.Status(
                cmd_id="",
                msg_ref=msg_ref,
                cmd_ref="0",
                cmd=sm.SYNCHDR,
                code=212,
                target_ref=header.target,
                source_ref=header.source,
                chal=issued,
            )
        ]
        touched: list[Pending] = []
        for element in message.body:
            if isinstance(element, sm.Status):
                if element.cmd == sm.SYNCHDR:
                    await self._server_auth_status(session, element)
                    continue
                pending = session.in_flight.get((element.msg_ref, element.cmd_ref))
                if pending is not None:
                    pending.answer.statuses[element.cmd_ref] = element
                    touched.append(pending)
            elif isinstance(element, sm.Results):
                pending = session.in_flight.get((element.msg_ref, element.cmd_ref))
                if pending is not None:
                    pending.answer.results.append(element)
                    touched.append(pending)
                out.append(self._status(msg_ref, element.cmd_id, "Results", 200))
            else:
                out.append(self._command(session, msg_ref, element))
        session.client_package_open = not message.final
        done = [p for p in session.pending() if p.complete]
        lost = [p for p in session.pending() if not p.complete] if message.final else []
        for key in [k for k, p in session.in_flight.items() if p in done or p in lost]:
            del session.in_flight[key]
        for pending in lost:
            pending.lose("the device's package ended without its answer")
        resend = [
            p
            for p in done
            if p.refused_for_credentials and p.auth_resends < MAX_AUTH_RESENDS and not p.abandoned
        ]
        if resend:
            self._send_again(session, resend)
        for pending in done:  # their callbacks may queue the next operations
            if pending not in resend:
                pending.settle()
        return out

    def _send_again(self, session: DMSession, refused: list[Pending]) -> None:
        """The device refused these commands for our credentials (its nonce for us changed, say):
        they go first in the queue, to be sent again with our credentials anew."""
        session.send_server_cred = True
        queue = self.queues.setdefault(session.device_id, deque())
        for pending in reversed(refused):
            pending.rewind()
            queue.appendleft(pending)
        log.info(
            "{device_id} refused {count} command(s) for our credentials: sending them again",
            device_id=session.device_id,
            count=len(refused),
        )

    def _status(self, msg_ref: str, cmd_ref: str, cmd: str, code: int, **kw: Any) -> sm.Status:
        return sm.Status(cmd_id="", msg_ref=msg_ref, cmd_ref=cmd_ref, cmd=cmd, code=code, **kw)

    def _command(self, session: DMSession, msg_ref: str, command: sm.Command) -> sm.Status:
        if command.name == "Alert":
            if command.data == sm.ALERT_SESSION_ABORT:
                session.client_package_open = False
            return self._status(msg_ref, command.cmd_id, "Alert", 200)
        # DevInfo's items name their node in <Source> (the OMA DM 1.2 representation's
        # example) or in <Target> (many clients): either is read.
        uris = [i.target or i.source or "" for i in command.items]
        if command.name == "Replace" and all(u.startswith("./DevInfo/") for u in uris):
            for uri, item in zip(uris, command.items, strict=True):
                if isinstance(item.data, str):
                    session.devinfo[uri.rsplit("/", 1)[1]] = item.data
            dev_id = session.devinfo.get("DevId")
            code = 200 if dev_id in (None, session.device_id) else 400
            if code == 200 and self.devinfo_seen is not None:
                try:
                    self.devinfo_seen(session.device_id, dict(session.devinfo))
                except Exception:  # kept for DELEGATION_REQ only: the session goes on
                    log.failure("keeping the DevInfo of {device_id}", device_id=session.device_id)
            return self._status(msg_ref, command.cmd_id, "Replace", code)
        return self._status(msg_ref, command.cmd_id, command.name, 406)

    async def _server_auth_status(self, session: DMSession, status: sm.Status) -> None:
        """The client's verdict on our credentials; its challenge carries its next nonce."""
        if status.chal is not None:
            await self.devices.save_nonce(
                session.device_id, AuthLevel.SERVER, status.chal.next_nonce
            )
            device = self.devices.device(session.device_id)
            if device is not None:
                session.device = device
        if status.code in (200, 212):
            session.server_auth_failures = 0
            return
        session.server_auth_failures += 1
        session.send_server_cred = True
        log.warn(
            "{device_id} refused our credentials ({code})",
            device_id=session.device_id,
            code=status.code,
        )

    # The answer.

    def _answer(
        self,
        session: DMSession,
        message: sm.Message,
        statuses: list[sm.Status | sm.Command],
        encode: Callable[[sm.Message], bytes],
        content_type: str,
    ) -> Reply:
        number = [0]

        def next_id() -> str:
            number[0] += 1
            return str(number[0])

        msg_id = session.next_msg_id()
        body: list[sm.BodyElement] = []
        for element in statuses:
            body.append(evolve(element, cmd_id=next_id()))
        device = session.device
        cred = None
        if device.server.auth_type is AuthType.DIGEST and session.send_server_cred:
            cred = sm.Cred(
                type=auth.MD5_TYPE,
                data=auth.md5_digest(device.server.name, device.server.secret, device.server.nonce),
            )
            session.send_server_cred = False
        header = sm.Header(
            session_id=session.session_id,
            msg_id=msg_id,
            target=session.device_id,
            source=self.url,
            cred=cred,
            max_msg_size=self.max_msg_size,
        )
        limit = session.client_max_msg_size or self.max_msg_size
        final = True
        sent: list[Pending] = []
        if session.server_auth_failures >= MAX_SERVER_AUTH_FAILURES:
            log.warn("{device_id} keeps refusing our credentials", device_id=session.device_id)
        elif session.client_package_open:
            body.append(sm.Command(name="Alert", cmd_id=next_id(), data=sm.ALERT_NEXT_MESSAGE))
            final = False
        else:
            queue = self.queues.get(session.device_id, deque())
            while queue:
                pending = queue[0]
                saved = number[0]
                command = pending.numbered(next_id)
                candidate = sm.Message(header, (*body, command), final=True)
                try:
                    size = len(encode(candidate))
                except ValueError:  # a character the codec cannot carry (XML: controls)
                    number[0] = saved
                    queue.popleft()
                    pending.deferred.errback(
                        ValueError(f"{pending.label}: a value this codec cannot carry")
                    )
                    continue
                if size > limit:
                    number[0] = saved
                    if not sent:
                        queue.popleft()
                        pending.deferred.errback(
                            MessageTooLarge(f"{pending.label} exceeds the device's MaxMsgSize")
                        )
                        continue
                    final = False
                    break
                queue.popleft()
                body.append(command)
                sent.append(pending)
        for pending in sent:
            pending.sent_in = msg_id
            for cmd_id in pending.ids.values():
                session.in_flight[(msg_id, cmd_id)] = pending
        reply = sm.Message(header, tuple(body), final=final)
        data = encode(reply)
        headers: tuple[tuple[str, str], ...] = ()
        if device.server.auth_type is AuthType.HMAC:
            value = auth.hmac_header(
                device.server.name, device.server.secret, device.server.nonce, data
            )
            headers = ((auth.HMAC_HEADER, value),)
        nothing_left = not sent and final and not session.in_flight
        if nothing_left or session.server_auth_failures >= MAX_SERVER_AUTH_FAILURES:
            self._end(session, Event.FINISH, "nothing left to do")
        else:
            session.fire(Event.CONTINUE)
            session.timer = self.clock.callLater(self.session_timeout, self._expire, session)
        return Reply(200, content_type, data, headers)

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

    # Refusals.

    def _refusal(
        self,
        message: sm.Message,
        refusal: _Refusal,
        encode: Callable[[sm.Message], bytes],
        content_type: str,
    ) -> Reply:
        header = message.header
        reply = sm.Message(
            sm.Header(
                session_id=header.session_id,
                msg_id="1",
                target=header.source,
                source=self.url,
            ),
            (
                sm.Status(
                    cmd_id="1",
                    msg_ref=header.msg_id,
                    cmd_ref="0",
                    cmd=sm.SYNCHDR,
                    code=refusal.code,
                    target_ref=header.target,
                    source_ref=header.source,
                    chal=refusal.chal,
                ),
            ),
            final=True,
        )
        headers: tuple[tuple[str, str], ...] = ()
        if refusal.retry_after > 0:
            headers = (("retry-after", str(math.ceil(refusal.retry_after))),)
        return Reply(200, content_type, encode(reply), headers)

    def _bare_refusal(
        self, code: int, encode: Callable[[sm.Message], bytes], content_type: str
    ) -> Reply:
        """The answer to a message whose header could not be read: the status alone."""
        reply = sm.Message(
            sm.Header(session_id="0", msg_id="1", target="unknown", source=self.url),
            (sm.Status(cmd_id="1", msg_ref="0", cmd_ref="0", cmd=sm.SYNCHDR, code=code),),
            final=True,
        )
        return Reply(code, content_type, encode(reply))
