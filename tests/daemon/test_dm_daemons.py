"""Two daemons (DelegationService, in this process, on 127.0.0.1 with mutual TLS between them)
that share no file: DMS-1 reaches the simulated device through its DM endpoint (its device
list), DMS-2 only through its own, with the credentials it chose (enrolled) or gave in its
bootstrap; both wake the device with the lab notification transport."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredList, ensureDeferred
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import Site

from dmdelegation.daemon.config import parse
from dmdelegation.daemon.service import DelegationService
from dmdelegation.engine.model import Outcome, Session
from dmdelegation.lab import pki
from dmdelegation.lab.device.simulator import SimulatedDevice
from dmdelegation.lab.devlab import _config, free_port
from dmdelegation.protocol import DelegationMethod
from dmdelegation.tree.bootconfig import BOOTCONFIG_ROOT
from dmdelegation.tree.dmacc import DMACC_ROOT

from ..dm.bootstrap_device import device_bootstrap
from ..dm.harness import CLIENT_SECRET, DEVICE, DMS1, DMS2, SERVER_SECRET, embedded_store
from ..dm.harness import provision as provision_device
from ..dm.harness import simulator as simulated
from ..web.certs import temp_dir

SUBTREE = "./Vendor/Enterprise"


class _Notify(Resource):
    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.device: SimulatedDevice | None = None
        self.count = 0

    def render_POST(self, request: Any) -> bytes:
        self.count += 1
        assert self.device is not None
        self.device.receive_notification(request.content.read())
        return b""


def _servers(records: list[Any]) -> set[str]:
    return {
        str(r.value.data)
        for r in records
        if r.uri.is_within(DMACC_ROOT) and r.uri.name == "ServerID"
    }


async def _until(done: Callable[[], bool]) -> None:
    """Turn the reactor (no wall-clock wait) until ``done()``; fails after 2000 turns."""
    for _ in range(2000):
        if done():
            return
        await deferLater(reactor, 0, lambda: None)
    raise AssertionError("never happened")


async def _connections_closed() -> None:
    """Let the servers see the connections the stopped daemons closed (reactor turns, no
    wall-clock wait): an HTTP channel still open has its idle timeout pending."""
    for _ in range(500):
        pending = [
            c
            for c in reactor.getDelayedCalls()
            if "__timedOut" in repr(c) or "_removeConnection" in repr(c)
        ]
        if not pending:
            return
        await deferLater(reactor, 0, lambda: None)


class TwoDaemonsOverDMSessions(TestCase):
    timeout = 120

    def setUp(self) -> None:
        self.addCleanup(_connections_closed)  # runs last: after both daemons stopped
        self.services: dict[str, DelegationService] = {}
        # A delivery that ended as the daemons stopped may have put its connection back in the
        # pool after the pool was emptied: empty it again.
        self.addCleanup(
            lambda: DeferredList(
                [s.transport.pool.closeCachedConnections() for s in self.services.values()]
            )
        )
        tmp = temp_dir(self).resolve()
        pki.init(tmp / "pki", [DMS1, DMS2])
        self.notify = _Notify()
        tcp: Any = reactor
        port = tcp.listenTCP(0, Site(self.notify), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        notify_url = f"http://127.0.0.1:{port.getHost().port}/notify"
        d1, d2, dm1, dm2 = (free_port() for _ in range(4))
        self.dm1_url = f"http://127.0.0.1:{dm1}/dm"
        self.dm2_url = f"http://127.0.0.1:{dm2}/dm"
        (tmp / "devices1.toml").write_text(
            f'[[device]]\nDevId = "{DEVICE}"\nnotify = "{notify_url}"\n'
            f'[device.client]\nAAuthType = "HMAC"\nAAuthName = "{DEVICE}"\n'
            f'AAuthSecret = "{CLIENT_SECRET}"\n'
            f'[device.server]\nAAuthType = "HMAC"\nAAuthName = "{DMS1}"\n'
            f'AAuthSecret = "{SERVER_SECRET}"\n'
        )
        # DMS-2 lists no credentials: only where to notify the device it will enrol.
        (tmp / "devices2.toml").write_text(
            f'[[device]]\nDevId = "{DEVICE}"\nnotify = "{notify_url}"\n'
        )
        one = _config(DMS1, DMS2, d1, d2, 0, tmp / "clients1.sqlite3") + (
            f'\n[dm]\nlisten = ["tcp:{dm1}:interface=127.0.0.1"]\nurl = "{self.dm1_url}"\n'
            'devices = "devices1.toml"\n'
        )
        two = _config(DMS2, DMS1, d2, d1, 0, tmp / "clients2.sqlite3").replace(
            f'bootstrap_url = "https://bootstrap.{DMS2}/bs"',
            f'bootstrap_url = "http://127.0.0.1:{dm2}/bs"',
        ) + (
            f'\n[dm]\nlisten = ["tcp:{dm2}:interface=127.0.0.1"]\nurl = "{self.dm2_url}"\n'
            'devices = "devices2.toml"\n'
        )
        for server_id, text in ((DMS1, one), (DMS2, two)):
            service = DelegationService(parse(tomllib.loads(text), tmp), reactor)
            service.privilegedStartService()
            service.startService()
            self.addCleanup(service.stopService)
            self.services[server_id] = service
        seed = embedded_store(tmp / "seed.sqlite3", provision_device(self.dm1_url))
        self.device = simulated(seed)
        seed.close()
        self.notify.device = self.device
        self.tmp = tmp

    async def _ended(self, server_id: str, session: Session) -> Session:
        ended: Session = await self.services[server_id].engine.wait(session.session_id)
        return ended

    async def test_dmacc_delegation_and_revocation(self) -> None:
        dms1, dms2 = self.services[DMS1], self.services[DMS2]
        session = dms1.engine.delegate(DEVICE, DMS2, SUBTREE, method=DelegationMethod.DMACC)
        result = await self._ended(DMS1, session)
        assert result.outcome is Outcome.DELEGATED, result.reason
        result = await self._ended(DMS2, session)
        assert result.outcome is Outcome.DELEGATED, result.reason
        assert _servers(self.device.records()) == {DMS1, DMS2}
        assert self.device.account(DMS2).app_addrs[0].addr == self.dm2_url
        assert dms2.dm is not None
        assert dms2.dm.enrolment.device(DEVICE) is not None
        assert dms2.dm.devinfo(DEVICE)["Man"] == "Acme"
        assert self.notify.count >= 2  # both daemons woke the device
        # Nothing is shared: neither embedded store holds the device.
        assert DEVICE not in dms1.clients.device_ids()
        assert DEVICE not in dms2.clients.device_ids()

        revocation = dms1.engine.revoke(DEVICE, SUBTREE)
        result = await self._ended(DMS1, revocation)
        assert result.outcome is Outcome.REVOKED, result.reason
        result = await self._ended(DMS2, revocation)
        assert result.outcome is Outcome.REVOKED, result.reason
        assert _servers(self.device.records()) == {DMS1}
        # DMS-2 forgets the device as its session ends (an effect run after the end is durable)
        await _until(lambda: dms2.dm is not None and dms2.dm.enrolment.device(DEVICE) is None)

    async def test_a_pruning_keeps_the_grant_record_of_a_delegation_in_force(self) -> None:
        """The daemon discards the undo journals of ended processes at start and with each
        pruning; the grant record of a delegation in force outlives its process, so that the
        revocation that follows a restart (or an hour) puts every ACL back exactly: those the
        delegation made explicit on nodes that inherited theirs are emptied again."""
        dms1 = self.services[DMS1]
        acls = {str(r.uri): r.acl for r in self.device.records()}
        session = dms1.engine.delegate(DEVICE, DMS2, SUBTREE, method=DelegationMethod.DMACC)
        for server_id in (DMS1, DMS2):
            result = await self._ended(server_id, session)
            assert result.outcome is Outcome.DELEGATED, result.reason
        assert acls[SUBTREE].is_empty  # it inherited its rights; the delegation set them
        assert not {str(r.uri): r.acl for r in self.device.records()}[SUBTREE].is_empty
        dms1.prune()

        revocation = dms1.engine.revoke(DEVICE, SUBTREE)
        for server_id in (DMS1, DMS2):
            result = await self._ended(server_id, revocation)
            assert result.outcome is Outcome.REVOKED, result.reason
        assert {str(r.uri): r.acl for r in self.device.records()} == acls

    async def test_a_revocation_without_a_grant_record_takes_every_right_back(self) -> None:
        """A delegation made before grant records were kept: the revocation walks the device's
        whole tree over DM and leaves the delegated server no right anywhere."""
        dms1 = self.services[DMS1]
        session = dms1.engine.delegate(DEVICE, DMS2, SUBTREE, method=DelegationMethod.DMACC)
        for server_id in (DMS1, DMS2):
            result = await self._ended(server_id, session)
            assert result.outcome is Outcome.DELEGATED, result.reason
        # Its grant record (the journal of the process that made it) forgotten:
        await dms1.journals.open(session.session_id, DEVICE, DMS1).discard()

        revocation = dms1.engine.revoke(DEVICE, SUBTREE)
        for server_id in (DMS1, DMS2):
            result = await self._ended(server_id, revocation)
            assert result.outcome is Outcome.REVOKED, result.reason
        assert _servers(self.device.records()) == {DMS1}
        assert [
            str(r.uri)
            for r in self.device.records()
            if any(DMS2 in servers for _, servers in r.acl.entries)
        ] == []

    async def test_bootstrap_server_url_delegation(self) -> None:
        dms1, dms2 = self.services[DMS1], self.services[DMS2]
        bootstraps: list[Deferred[Any]] = []

        def after_session(server_id: str) -> None:
            for record in self.device.records():
                if (
                    record.uri.is_within(BOOTCONFIG_ROOT)
                    and record.uri.name == "BootstrapURL"
                    and not bootstraps
                ):
                    url = str(record.value.data)
                    bootstraps.append(ensureDeferred(device_bootstrap(self.device, url)))

        self.device.on_session = after_session
        session = dms1.engine.delegate(
            DEVICE, DMS2, SUBTREE, method=DelegationMethod.BOOTSTRAP_SERVER_URL
        )
        result = await self._ended(DMS1, session)
        assert result.outcome is Outcome.DELEGATED, result.reason
        result = await self._ended(DMS2, session)
        assert result.outcome is Outcome.DELEGATED, result.reason
        assert len(bootstraps) == 1
        reply = await bootstraps[0]
        assert reply.statuses[0].code == 200
        assert _servers(self.device.records()) == {DMS1, DMS2}
        assert dms2.dm is not None
        assert dms2.dm.enrolment.device(DEVICE) is not None
        assert dms2.dm.delegated.managed == {DEVICE: {SUBTREE}}
