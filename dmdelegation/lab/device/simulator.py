"""A DM Client of the project's own: it keeps a DM tree with OMA DM ACLs
(enforced by the tree layer's command rules, acting as the server of each session), reads its
accounts (``./DMAcc/<X>``: the address and credentials of each server) from that tree, and
speaks SyncML DM 1.2 over real HTTP, in XML or WBXML, with HMAC or MD5 digest authentication
both ways, MaxMsgSize, multi-message packages and Atomic.

Nonces live outside the tree (as on many devices), so that the tree can be compared with the
embedded store's; a `NonceStore` keeps them across restarts. Every message the device received is
kept (``received``, unless ``keep_received`` is off), and a message larger than its MaxMsgSize is
recorded as a violation. The tree is any `TreeStorage`: a `MemoryTree` in the tests, the SQLite
tree of `dmdelegation.lab.device.state` in the device process. What each command does to the
tree is `dmdelegation.lab.device.execution`'s.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, Protocol

import treq.client
from attrs import define, field
from twisted.internet.defer import Deferred

from dmdelegation.dm import auth, wbxml, xml_codec
from dmdelegation.dm import message as sm
from dmdelegation.dm.notification import NotificationError, parse_package0, verify_package0
from dmdelegation.lab.device.execution import execute, status_for
from dmdelegation.protocol.dmacc import AppAuth, AuthLevel, AuthType, DMAcc
from dmdelegation.tree.devinfo import DevInfo
from dmdelegation.tree.dmacc import DMACC_ROOT, read_dmacc
from dmdelegation.tree.storage import NodeRecord, TreeStorage
from dmdelegation.tree.uri import ROOT

CODECS: dict[str, Any] = {"xml": xml_codec, "wbxml": wbxml}


class DeviceError(Exception):
    pass


@define
class Nonces:
    client: bytes = b""  # issued by the server: we digest with it
    server: bytes = b""  # issued by us: the server digests with it


class NonceStore(Protocol):
    """Where a device keeps the nonces of each account between sessions and restarts."""

    def load(self, server_id: str) -> Nonces | None: ...

    def save(self, server_id: str, nonces: Nonces) -> None: ...


class NotificationRefused(Exception):
    """A package #0 the device does not act on: ``code`` 400 (not one) or 401 (not verified)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


@define(eq=False)
class SimulatedDevice:
    devinfo: DevInfo
    tree: TreeStorage
    codec: str = "xml"
    atomic: bool = True
    max_msg_size: int = 16 * 1024
    nonces: dict[str, Nonces] = field(factory=dict)
    received: list[sm.Message] = field(factory=list)
    violations: list[str] = field(factory=list)
    sessions: list[Deferred[int]] = field(factory=list)
    on_session: Callable[[str], None] | None = None
    notifications_refused: int = 0
    refuse: set[str] = field(factory=set)  # targets answered 500 with nothing changed (faults)
    nonce_store: NonceStore | None = None
    commands_run: dict[str, int] = field(factory=dict)  # in the last session with each server
    keep_received: bool = True

    @property
    def device_id(self) -> str:
        return self.devinfo.dev_id

    def records(self) -> list[NodeRecord]:
        return self.tree.subtree(ROOT)

    # Accounts.

    def account(self, server_id: str) -> DMAcc:
        for name in self.tree.children(DMACC_ROOT):
            top = DMACC_ROOT.child(name)
            nodes = {r.uri.segments[2:]: r.value for r in self.tree.subtree(top)}
            try:
                entry = read_dmacc(nodes)
            except ValueError:
                continue
            if entry.account.server_id == server_id:
                return entry.account
        raise DeviceError(f"no account for {server_id}")

    def _auth(self, account: DMAcc, level: AuthLevel) -> AppAuth:
        for app_auth in account.app_auths:
            if app_auth.level is level:
                return app_auth
        raise DeviceError(f"no {level} credentials for {account.server_id}")

    def _nonces(self, server_id: str) -> Nonces:
        """The nonces of an account, first those its AAuthData leaves were created with."""
        if server_id not in self.nonces:
            stored = None if self.nonce_store is None else self.nonce_store.load(server_id)
            if stored is None:
                account = self.account(server_id)
                stored = Nonces(
                    client=self._auth(account, AuthLevel.CLIENT).data or b"",
                    server=self._auth(account, AuthLevel.SERVER).data or b"",
                )
            self.nonces[server_id] = stored
        return self.nonces[server_id]

    def _nonces_changed(self, server_id: str) -> None:
        if self.nonce_store is not None:
            self.nonce_store.save(server_id, self.nonces[server_id])

    def _http(self) -> Any:
        from twisted.internet import reactor
        from twisted.web.client import Agent, HTTPConnectionPool

        pool = HTTPConnectionPool(reactor, persistent=False)
        return treq.client.HTTPClient(Agent(reactor, pool=pool))

    # Notification.

    def receive_notification(self, package0: bytes) -> None:
        try:
            server_id, session_id = self.verify_notification(package0)
        except NotificationRefused:
            self.notifications_refused += 1
            return
        self.sessions.append(
            self.connect(server_id, alert=sm.ALERT_SERVER_INITIATED, session_id=session_id)
        )

    def verify_notification(self, package0: bytes) -> tuple[str, str]:
        """The server and session id a package #0 asks a session for, once verified with the
        server's SRVCRED; `NotificationRefused` otherwise (the reason names no secret)."""
        try:
            package = parse_package0(package0)
        except NotificationError as e:
            raise NotificationRefused(400, f"not a package #0 ({e})") from None
        try:
            account = self.account(package.server_id)
            server = self._auth(account, AuthLevel.SERVER)
        except DeviceError as e:
            raise NotificationRefused(401, str(e)) from None
        if not verify_package0(
            package, server.secret or "", self._nonces(account.server_id).server
        ):
            raise NotificationRefused(401, f"package #0 of {package.server_id}: bad digest")
        return account.server_id, f"{package.session_id:04X}"

    # A session.

    def connect(
        self, server_id: str, *, alert: str = sm.ALERT_CLIENT_INITIATED, session_id: str = "1"
    ) -> Deferred[int]:
        """A session with the server; fires with the number of commands it sent."""
        return Deferred.fromCoroutine(self._session(server_id, alert, session_id))

    async def _post(
        self, url: str, data: bytes, client: AppAuth, nonces: Nonces
    ) -> tuple[bytes, dict[str, str]]:
        codec = CODECS[self.codec]
        headers: dict[bytes | str, bytes | str] = {"Content-Type": codec.CONTENT_TYPE}
        if client.type is AuthType.HMAC:
            headers[auth.HMAC_HEADER] = auth.hmac_header(
                client.name or "", client.secret or "", nonces.client, data
            )
        response = await self._http().post(url, data=data, headers=headers)
        body: bytes = await response.content()
        got = {k.decode().lower(): v[0].decode() for k, v in response.headers.getAllRawHeaders()}
        got[":status"] = str(response.code)
        return body, got

    def _verify_server(
        self, reply: sm.Message, data: bytes, headers: dict[str, str], server: AppAuth, n: Nonces
    ) -> bool | None:
        """True/False for credentials present and right/wrong; None when none came."""
        if server.type is AuthType.HMAC:
            value = headers.get(auth.HMAC_HEADER)
            parsed = None if value is None else auth.parse_hmac_header(value)
            if parsed is None:
                return None
            expected = auth.hmac_mac(server.name or "", server.secret or "", n.server, data)
            return parsed.username == server.name and auth.same(parsed.mac, expected)
        if reply.header.cred is None:
            return None
        expected = auth.md5_digest(server.name or "", server.secret or "", n.server)
        return auth.same(reply.header.cred.data, expected)

    async def _session(self, server_id: str, alert: str, session_id: str) -> int:
        account = self.account(server_id)
        url = account.app_addrs[0].addr
        client = self._auth(account, AuthLevel.CLIENT)
        server = self._auth(account, AuthLevel.SERVER)
        n = self._nonces(server_id)
        codec = CODECS[self.codec]
        msg_id = 1
        executed = self.commands_run[server_id] = 0
        server_trusted = False
        body: list[sm.BodyElement] = [sm.Command(name="Alert", cmd_id="1", data=alert)]
        body.append(
            sm.Command(
                name="Replace",
                cmd_id="2",
                items=tuple(
                    sm.Item(
                        source=f"./DevInfo/{name}",
                        target=f"./DevInfo/{name}",
                        meta=sm.Meta(format="chr"),
                        data=value,
                    )
                    for name, value in (
                        ("DevId", self.devinfo.dev_id),
                        ("Man", self.devinfo.man),
                        ("Mod", self.devinfo.mod),
                        ("DmV", self.devinfo.dm_v),
                        ("Lang", self.devinfo.lang),
                    )
                ),
            )
        )
        retried = False
        while True:
            cred = None
            if client.type is AuthType.DIGEST:  # on every message, with the last <Chal>'s nonce
                cred = sm.Cred(
                    type=auth.MD5_TYPE,
                    data=auth.md5_digest(client.name or "", client.secret or "", n.client),
                )
            message = sm.Message(
                sm.Header(
                    session_id=session_id,
                    msg_id=str(msg_id),
                    target=url,
                    source=self.device_id,
                    cred=cred,
                    max_msg_size=self.max_msg_size,
                ),
                tuple(body),
                final=True,
            )
            data, headers = await self._post(url, codec.encode(message), client, n)
            if headers[":status"] != "200":
                raise DeviceError(f"HTTP {headers[':status']} from {url}")
            if len(data) > self.max_msg_size:
                self.violations.append(f"message of {len(data)} bytes > {self.max_msg_size}")
            reply = codec.decode(data, 1 << 20)
            if self.keep_received:
                self.received.append(reply)
            hdr_status = next(
                (s for s in reply.statuses if s.cmd == sm.SYNCHDR and s.msg_ref == str(msg_id)),
                None,
            )
            if hdr_status is not None and hdr_status.chal is not None:
                n.client = hdr_status.chal.next_nonce
                self._nonces_changed(server_id)
            if hdr_status is not None and hdr_status.code in (401, 407):
                if retried:
                    raise DeviceError(f"the server refused our credentials ({hdr_status.code})")
                retried = True  # once, with the nonce of the challenge: a new session
                continue
            msg_id += 1
            verdict = self._verify_server(reply, data, headers, server, n)
            out: list[sm.BodyElement] = []
            hdr_code = 200
            if verdict is False or (verdict is None and not server_trusted):
                hdr_code = 401
            elif verdict:
                server_trusted = True
                hdr_code = 212
            commands_in = reply.commands
            if reply.final and not commands_in and hdr_code != 401:
                if self.on_session is not None:
                    self.on_session(server_id)
                return executed  # the session is over: nothing is sent, no nonce changes
            chal = None
            if hdr_code != 200:  # the server's next nonce, sent with the verdict
                n.server = secrets.token_bytes(16)
                self._nonces_changed(server_id)
                chal = sm.Chal(type=auth.chal_type(server.type), next_nonce=n.server)
            out.append(
                sm.Status(
                    cmd_id="1",
                    msg_ref=reply.header.msg_id,
                    cmd_ref="0",
                    cmd=sm.SYNCHDR,
                    code=hdr_code,
                    chal=chal,
                )
            )
            if hdr_code == 401:
                for command in commands_in:
                    out.append(status_for(reply, command, 401))
            else:
                for command in commands_in:
                    out.extend(
                        execute(
                            self.tree,
                            reply,
                            command,
                            server_id,
                            atomic=self.atomic,
                            refuse=self.refuse,
                        )
                    )
                executed = self.commands_run[server_id] = executed + len(commands_in)
            if hdr_code == 401 and not commands_in and reply.final:
                raise DeviceError("the server did not authenticate itself")
            if not reply.final and not any(
                c.name == "Alert" and c.data == sm.ALERT_NEXT_MESSAGE for c in commands_in
            ):
                out.append(sm.Command(name="Alert", cmd_id="", data=sm.ALERT_NEXT_MESSAGE))
            body = [_numbered(e, i + 1) for i, e in enumerate(out)]


def _numbered(element: Any, number: int) -> Any:
    from attrs import evolve

    return evolve(element, cmd_id=str(number))
