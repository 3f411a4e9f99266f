"""DMS-2's embedded default :class:`IDelegatedServer`, over the embedded client store.

It makes per-device credentials for the DMAcc it asks DMS-1 to create, "opens a DM session" by
acting on the device's tree as its own ServerID (so a delegation is confirmed only when DMS-2 can
really use the granted subtree), and stands in for the device's bootstrap in the Bootstrap
Server URL approach: once the device holds a Bootstrap Config entry naming this server's URL, the
account this server's bootstrap would provision is written to the device.
"""

from __future__ import annotations

import secrets

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

from dmdelegation.client.store import ClientTreeStore
from dmdelegation.engine.interfaces import IDelegatedServer
from dmdelegation.engine.model import Session
from dmdelegation.protocol import AuthType, DMAcc
from dmdelegation.protocol.dmacc import delegated_account
from dmdelegation.tree import BOOTCONFIG_ROOT, DMACC_ROOT, URI, Status
from dmdelegation.tree.acl import EMPTY
from dmdelegation.tree.dmacc import dmacc_nodes
from dmdelegation.tree.storage import StoredNode

log = Logger()


class DutyError(Exception):
    pass


@implementer(IDelegatedServer)
class EmbeddedDelegatedServer:
    def __init__(
        self,
        server_id: str,
        clients: ClientTreeStore,
        *,
        dm_url: str,
        bootstrap_url: str,
        clock: IReactorTime,
        auth_type: AuthType = AuthType.HMAC,
        poll_interval: float = 1.0,
    ) -> None:
        self.clock = clock
        self.poll_interval = poll_interval
        self.server_id = server_id
        self.clients = clients
        self.dm_url = dm_url
        self.bootstrap_url_value = bootstrap_url
        self.auth_type = auth_type
        self.managed: dict[str, set[str]] = {}  # device -> subtrees being managed
        self.stopped: list[str] = []

    def account(self, device_id: str) -> DMAcc:
        """A new account for ``device_id`` with fresh credentials both ways."""
        return delegated_account(
            self.server_id,
            self.dm_url,
            self.auth_type,
            (self.server_id, secrets.token_urlsafe(24), secrets.token_bytes(16)),
            (device_id, secrets.token_urlsafe(24), secrets.token_bytes(16)),
        )

    def _has_account(self, device_id: str) -> bool:
        """Whether a ``./DMAcc/<X>/ServerID`` names us (LookupError for an unknown device)."""
        storage = self.clients.storage(device_id)
        for name in storage.children(DMACC_ROOT):
            leaf = storage.node(DMACC_ROOT.child(name, "ServerID"))
            if leaf is not None and leaf.value.data == self.server_id:
                return True
        return False

    def bootstrap_data(self, session: Session) -> Deferred[DMAcc | None]:
        try:
            if self._has_account(session.device_id):
                return succeed(None)  # the client is bootstrapped for us already
        except LookupError:
            pass  # a device we do not see: DMS-1 creates the account
        return succeed(self.account(session.device_id))

    def bootstrap_url(self, session: Session) -> Deferred[str]:
        return succeed(self.bootstrap_url_value)

    def await_client_bootstrap(self, session: Session) -> Deferred[None]:
        """The device bootstraps from our server once it holds an entry with our URL (DMS-1
        writes it after our answer): looked for every ``poll_interval`` seconds. The engine
        bounds the wait."""
        device_id = session.device_id

        def pointed() -> bool:
            return any(
                record.uri.name == "BootstrapURL" and record.value.data == self.bootstrap_url_value
                for record in self.clients.records(device_id, BOOTCONFIG_ROOT)
            )

        done: Deferred[None] = Deferred(lambda d: poll.stop())

        def check() -> None:
            if not pointed():
                return
            poll.stop()
            if not self._has_account(device_id):
                self._bootstrap(device_id)
            done.callback(None)

        poll = LoopingCall(check)
        poll.clock = self.clock
        poll.start(self.poll_interval, now=True).addErrback(done.errback)
        return done

    def _bootstrap(self, device_id: str) -> None:
        storage = self.clients.storage(device_id)
        names = set(storage.children(DMACC_ROOT))
        index = 1
        while str(index) in names:
            index += 1
        base = DMACC_ROOT.child(str(index))
        nodes = dmacc_nodes(self.account(device_id), no_auto_initial_session=True)
        storage.insert_all([(base.child(*path), StoredNode(value, EMPTY)) for path, value in nodes])
        log.info("{device} bootstrapped for {server}", device=device_id, server=self.server_id)

    def open_dm_session(self, session: Session) -> Deferred[None]:
        client = self.clients.session(session.device_id, self.server_id)
        d = client.get(URI.parse(session.subtree))

        def check(result: object) -> None:
            status = getattr(result, "status", None)
            if status != Status.OK:
                raise DutyError(
                    f"DM session with {session.device_id}: Get {session.subtree} answered {status}"
                )
            self.managed.setdefault(session.device_id, set()).add(session.subtree)

        return d.addCallback(check)

    def stop_activity(self, session: Session) -> Deferred[None]:
        self.stopped.append(session.device_id)
        return succeed(None)

    def forget_device(self, session: Session) -> Deferred[None]:
        subtrees = self.managed.get(session.device_id, set())
        subtrees.discard(session.subtree)
        if not subtrees:
            self.managed.pop(session.device_id, None)
        return succeed(None)
