"""DMS-2's bootstrap server for the Bootstrap Server URL approach over DM sessions: the lab
bootstrap contract of docs/dm-sessions.md ("The bootstrap exchange").

The URL DMS-2 gives DMS-1 is ``{[dms2] bootstrap_url}/{token}``; the token is single-use, bound
to the device and the delegation session, and expires with the delegation's ``client_bootstrap``
timeout (`dmdelegation.dm.enrolment`). The device POSTs two SyncML DM 1.2 XML messages there:

1. ``Alert 1201`` and a ``Replace`` of ``./DevInfo`` items (Source = its DevId, no Cred). The
   token must be one of ours, unused, unexpired and issued for that DevId, and the DevInfo's
   DevId (if sent) the same: otherwise SyncHdr Status 401, nothing changes, a log line (never the
   token). Valid: the token is consumed, and the answer carries Status 200 and one ``Add`` per
   node of the account DMS-2 made for the device (``./DMAcc/<name>``, then its leaves).
2. A Status per Add, and Final. If every Add got 200 or 201, the device is enrolled with the
   account's credentials and `DMDelegatedServer.bootstrapped` fires; the answer is the SyncHdr
   Status and Final.
"""

from __future__ import annotations

import re
from typing import Any

from attrs import define, field
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource

from dmdelegation.dm import message as sm
from dmdelegation.dm import xml_codec
from dmdelegation.dm.delegated import DMDelegatedServer
from dmdelegation.dm.devices import DMDevice
from dmdelegation.dm.enrolment import EnrolmentStore
from dmdelegation.dm.resource import media_type
from dmdelegation.dm.server import Reply
from dmdelegation.dm.values import item_for
from dmdelegation.tree import DMACC_ROOT
from dmdelegation.tree.dmacc import dmacc_nodes

log = Logger()

MAX_MESSAGE = 16 * 1024
EXCHANGE_TIMEOUT = 300.0


def account_node_name(server_id: str) -> str:
    """The name of DMS-2's ``./DMAcc/<name>``: its ServerID made a node name, prefixed so that
    it is unlikely to collide with the owner's ``1``, ``2``, ..."""
    return "Delegated_" + re.sub(r"[^A-Za-z0-9_-]", "_", server_id)


@define(eq=False)
class _Exchange:
    device: DMDevice
    session_id: str  # the SyncML SessionID of the device's messages
    adds: tuple[str, ...]  # our Add command ids
    timer: IDelayedCall | None = field(default=None)


class BootstrapServer:
    """The two-message bootstrap exchange of DMS-2 (``delegated``) for enrolled tokens."""

    def __init__(
        self,
        delegated: DMDelegatedServer,
        enrolment: EnrolmentStore,
        clock: IReactorTime,
        *,
        url: str,
        exchange_timeout: float = EXCHANGE_TIMEOUT,
    ) -> None:
        self.delegated = delegated
        self.enrolment = enrolment
        self.clock = clock
        self.url = url.rstrip("/")  # the Bootstrap Server URL without the token
        self.exchange_timeout = exchange_timeout
        self._exchanges: dict[str, _Exchange] = {}  # by token

    def handle(self, token: str, body: bytes) -> Reply:
        try:
            message = xml_codec.decode(body, MAX_MESSAGE)
        except sm.MalformedMessage as e:
            log.info("bootstrap message refused ({status}): {reason}", status=e.status, reason=e)
            return self._reply(None, e.status, http=e.status)
        header = message.header
        if header.ver_dtd != sm.VER_DTD or header.ver_proto != sm.VER_PROTO:
            return self._refused(message, 505, "version not supported")
        exchange = self._exchanges.get(token)
        if exchange is not None and header.session_id == exchange.session_id:
            return self._second(token, exchange, message)
        return self._first(token, message)

    def _refused(self, message: sm.Message, code: int, reason: str) -> Reply:
        log.info(
            "bootstrap message {msg_id} from {device_id} refused ({code}): {reason}",
            msg_id=message.header.msg_id,
            device_id=message.header.source,
            code=code,
            reason=reason,
        )
        return self._reply(message, code)

    def _first(self, token: str, message: sm.Message) -> Reply:
        header = message.header
        alerts = [c.data for c in message.commands if c.name == "Alert"]
        if header.msg_id != "1" or sm.ALERT_CLIENT_INITIATED not in alerts:
            return self._refused(message, 400, "MsgID 1 with Alert 1201 expected")
        if token in self._exchanges:
            return self._refused(message, 401, "unknown, used or expired bootstrap token")
        devinfo = _devinfo(message)
        if devinfo.get("DevId", header.source) != header.source:
            return self._refused(message, 401, "the DevInfo's DevId is not the message's Source")
        now = self.clock.seconds()
        self.enrolment.drop_expired_tokens(now)
        session_id = self.enrolment.token_session(token, header.source, now)
        if session_id is None:
            return self._refused(message, 401, "unknown, used or expired bootstrap token")
        self.enrolment.consume_token(token)
        if devinfo:
            self.enrolment.save_devinfo(header.source, devinfo)
        account, device = self.delegated.new_account(header.source)
        base = DMACC_ROOT.child(account_node_name(self.delegated.server_id))
        numbers = iter(range(len(message.body) + 2, 10**6))
        adds = tuple(
            sm.Command(name="Add", cmd_id=str(next(numbers)), items=(item_for(base.child(*p), v),))
            for p, v in dmacc_nodes(account, no_auto_initial_session=True)
        )
        exchange = _Exchange(device, header.session_id, tuple(a.cmd_id for a in adds))
        exchange.timer = self.clock.callLater(self.exchange_timeout, self._expire, token)
        self._exchanges[token] = exchange
        log.info(
            "bootstrap of {device_id} for session {session_id}: {count} nodes sent",
            device_id=header.source,
            session_id=session_id,
            count=len(adds),
        )
        statuses = [
            sm.Status(cmd_id="", msg_ref="1", cmd_ref=c.cmd_id, cmd=c.name, code=200)
            for c in message.commands
        ]
        return self._reply(message, 200, statuses, adds)

    def _second(self, token: str, exchange: _Exchange, message: sm.Message) -> Reply:
        header = message.header
        if header.source != exchange.device.device_id or header.msg_id != "2":
            return self._refused(message, 400, "not the next message of the bootstrap")
        del self._exchanges[token]
        if exchange.timer is not None and exchange.timer.active():
            exchange.timer.cancel()
        codes = {s.cmd_ref: s.code for s in message.statuses if s.msg_ref == "1"}
        failed = [i for i in exchange.adds if codes.get(i) not in (200, 201)]
        device_id = exchange.device.device_id
        if failed:
            log.warn(
                "bootstrap of {device_id} failed: {count} of our Adds not applied",
                device_id=device_id,
                count=len(failed),
            )
        else:
            self.delegated.bootstrapped(exchange.device)
            log.info("{device_id} bootstrapped and enrolled", device_id=device_id)
        return self._reply(message, 200)

    def _expire(self, token: str) -> None:
        exchange = self._exchanges.pop(token, None)
        if exchange is not None:
            log.warn(
                "bootstrap of {device_id}: the device did not answer our Adds",
                device_id=exchange.device.device_id,
            )

    def _reply(
        self,
        message: sm.Message | None,
        code: int,
        statuses: list[sm.Status] | None = None,
        commands: tuple[sm.Command, ...] = (),
        *,
        http: int = 200,
    ) -> Reply:
        header = None if message is None else message.header
        body: list[sm.BodyElement] = [
            sm.Status(
                cmd_id="1",
                msg_ref="0" if header is None else header.msg_id,
                cmd_ref="0",
                cmd=sm.SYNCHDR,
                code=code,
                target_ref=None if header is None else header.target,
                source_ref=None if header is None else header.source,
            )
        ]
        number = 1
        for status in statuses or []:
            number += 1
            body.append(sm.Status(**{**_fields(status), "cmd_id": str(number)}))
        body.extend(commands)
        reply = sm.Message(
            sm.Header(
                session_id="0" if header is None else header.session_id,
                msg_id="1" if header is None else header.msg_id,
                target="unknown" if header is None else header.source,
                source=self.url,
            ),
            tuple(body),
            final=True,
        )
        return Reply(http, xml_codec.CONTENT_TYPE, xml_codec.encode(reply))


def _fields(status: sm.Status) -> dict[str, Any]:
    return {
        "cmd_id": status.cmd_id,
        "msg_ref": status.msg_ref,
        "cmd_ref": status.cmd_ref,
        "cmd": status.cmd,
        "code": status.code,
    }


def _devinfo(message: sm.Message) -> dict[str, str]:
    info: dict[str, str] = {}
    for command in message.commands:
        if command.name != "Replace":
            continue
        for item in command.items:
            if (item.target or "").startswith("./DevInfo/") and isinstance(item.data, str):
                info[(item.target or "").rsplit("/", 1)[1]] = item.data
    return info


class BootstrapResource(Resource):
    """POST ``application/vnd.syncml.dm+xml`` to ``<bootstrap path>/<token>``."""

    isLeaf = True

    def __init__(self, server: BootstrapServer, prefix: bytes) -> None:
        super().__init__()
        self.exchange = server
        self.prefix = prefix.rstrip(b"/") + b"/"

    def render_POST(self, request: IRequest) -> bytes:
        kind = media_type(request)
        if kind != xml_codec.CONTENT_TYPE:
            log.info("bootstrap: content type {kind!r} refused (415)", kind=kind[:64])
            request.setResponseCode(415)
            request.setHeader("content-type", "text/plain; charset=utf-8")
            return b"expected application/vnd.syncml.dm+xml\n"
        path = request.path or b""
        token = path[len(self.prefix) :].decode("ascii", "replace")
        assert request.content is not None
        reply = self.exchange.handle(token, request.content.read(MAX_MESSAGE + 1))
        request.setResponseCode(reply.code)
        request.setHeader("content-type", reply.content_type)
        return reply.body

    def render_GET(self, request: IRequest) -> bytes:
        request.setResponseCode(405)
        request.setHeader("allow", "POST")
        return b""


class Routes(Resource):
    """The DM listener's root: the bootstrap resource under its prefix, the rest to ``root``
    (the DM session endpoint at exactly its path)."""

    isLeaf = True

    def __init__(self, root: Any, bootstrap: BootstrapResource) -> None:
        super().__init__()
        self.root = root
        self.bootstrap = bootstrap

    def render(self, request: IRequest) -> Any:
        path = request.path or b""
        if path.startswith(self.bootstrap.prefix) and len(path) > len(self.bootstrap.prefix):
            request.responseHeaders.removeHeader(b"Server")
            return self.bootstrap.render(request)
        return self.root.render(request)
