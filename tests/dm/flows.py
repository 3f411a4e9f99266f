"""DMS-1 and DMS-2 engines (on a Clock, messages crossing the in-memory wire of the engine
tests) whose device is the simulator, reached only through each server's DM session endpoint
over HTTP on 127.0.0.1; and the same run over the embedded store, to compare the trees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock, deferLater

from dmdelegation.client.journal_store import SQLiteJournalStore
from dmdelegation.client.provisioning import DeviceProvision
from dmdelegation.dm.delegated import DMDelegatedServer
from dmdelegation.dm.devices import MemoryDeviceList
from dmdelegation.dm.interop import DMClientChanges
from dmdelegation.engine.client_changes import JournaledClientChanges
from dmdelegation.engine.embedded_dms2 import EmbeddedDelegatedServer
from dmdelegation.engine.engine import Engine
from dmdelegation.engine.interfaces import IClientChanges, IDelegatedServer
from dmdelegation.engine.model import Session
from dmdelegation.engine.policy import ConfigPolicy
from dmdelegation.lab.device.simulator import SimulatedDevice
from dmdelegation.protocol import AuthType
from dmdelegation.store.sessions import SessionStore
from dmdelegation.tree.rights import effective_acl
from dmdelegation.tree.secrets import is_secret
from dmdelegation.tree.storage import NodeRecord, TreeReader

from ..engine.harness import TIMEOUTS, Wire, granted
from .harness import (
    DEVICE,
    DMS1,
    DMS2,
    DirectNotifier,
    Endpoint,
    dm_device,
    embedded_store,
    provision,
    simulator,
)


def _engines(
    tmp: Path,
    clock: Clock,
    dms1_changes: IClientChanges,
    dms2_changes: IClientChanges,
    delegated: IDelegatedServer,
) -> tuple[Engine, Engine, Wire]:
    wire = Wire()
    wire.clock = clock
    engines = {}
    for server_id, peer, changes in ((DMS1, DMS2, dms1_changes), (DMS2, DMS1, dms2_changes)):
        engine = Engine(
            server_id=server_id,
            store=SessionStore(tmp / f"{server_id}.sqlite3"),
            transport=wire.endpoint(server_id),
            policy=ConfigPolicy({peer: granted(we_delegate=server_id == DMS1)}),
            client_changes=changes,
            delegated=delegated,
            clock=clock,
            timeouts=TIMEOUTS,
            retry_initial=0.5,
            retry_max=4,
        )
        wire.engines[server_id] = engine
        engine.start()
        engines[server_id] = engine
    return engines[DMS1], engines[DMS2], wire


class DMWorld:
    """Both servers with their endpoints; the device is the simulator."""

    def __init__(
        self, tmp: Path, *, codec: str = "xml", auth: AuthType = AuthType.HMAC, atomic: bool = True
    ) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.notifier1, self.notifier2 = DirectNotifier(), DirectNotifier()
        self.devices1 = MemoryDeviceList([dm_device(auth, atomic=atomic)])
        self.devices2 = MemoryDeviceList()
        self.ep1 = Endpoint(DMS1, self.devices1, notifier=self.notifier1)
        self.ep2 = Endpoint(DMS2, self.devices2, notifier=self.notifier2)
        self.provision: DeviceProvision = provision(self.ep1.url, auth)
        seed = embedded_store(tmp / "seed.sqlite3", self.provision)
        self.device: SimulatedDevice = simulator(seed, codec=codec, atomic=atomic)
        seed.close()
        self.notifier1.devices[DEVICE] = self.device
        self.notifier2.devices[DEVICE] = self.device
        self.journals = SQLiteJournalStore(tmp / "journals.sqlite3")
        self.dms2_server = DMDelegatedServer(
            DMS2, self.ep2.server, self.devices2, dm_url=self.ep2.url, auth_type=auth
        )
        self.dms1, self.dms2, self.wire = _engines(
            tmp,
            self.clock,
            DMClientChanges(
                JournaledClientChanges(DMS1, self.ep1.server.session_for, self.journals)
            ),
            DMClientChanges(
                JournaledClientChanges(DMS2, self.ep2.server.session_for, self.journals)
            ),
            self.dms2_server,
        )

    async def run(self, session: Session, engine: Engine | None = None) -> Session:
        """The end of ``session`` at DMS-1. The engines' Clock never moves forward (no timeout
        or retry can fire): what is due now runs, and the reactor turns for the HTTP."""
        ended: Deferred[Session] = (engine or self.dms1).wait(session.session_id)
        while not ended.called:
            if self.device.notifications_refused:
                raise AssertionError("the device refused a notification")
            self.clock.advance(0)
            await deferLater(reactor, 0, lambda: None)
        return await ended

    def stop(self) -> Deferred[Any]:
        from twisted.internet.defer import DeferredList

        self.dms1.stop()
        self.dms2.stop()
        self.journals.close()
        return DeferredList([self.ep1.stop(), self.ep2.stop()])


class EmbeddedWorld:
    """The same two servers and the same device, held in the embedded store."""

    def __init__(
        self, tmp: Path, prov: DeviceProvision, dm_url: str, auth: AuthType = AuthType.HMAC
    ) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.clients = embedded_store(tmp / "clients.sqlite3", prov)
        self.journals = SQLiteJournalStore(tmp / "journals.sqlite3")
        delegated = EmbeddedDelegatedServer(
            DMS2, self.clients, dm_url=dm_url, bootstrap_url="", clock=self.clock, auth_type=auth
        )

        def changes(server_id: str) -> IClientChanges:
            return JournaledClientChanges(
                server_id, lambda d: self.clients.session(d, server_id), self.journals
            )

        self.dms1, self.dms2, self.wire = _engines(
            tmp, self.clock, changes(DMS1), changes(DMS2), delegated
        )

    def settle(self) -> None:
        while self.clock.getDelayedCalls():
            nxt = min(c.getTime() for c in self.clock.getDelayedCalls())
            if nxt > self.clock.seconds() + 3600:
                break
            self.clock.advance(max(0.0, nxt - self.clock.seconds()))

    def records(self) -> list[NodeRecord]:
        return self.clients.records(DEVICE)

    def stop(self) -> None:
        self.dms1.stop()
        self.dms2.stop()
        self.clients.close()
        self.journals.close()


def exact(records: list[NodeRecord]) -> list[str]:
    """Every node: URI, format, value and own ACL. Equal only for identical trees."""
    return [f"{r.uri} {r.value!r} {r.value.data!r} {r.acl.render()}" for r in records]


def rights(records: list[NodeRecord], tree: TreeReader) -> list[str]:
    """Every node: URI, format, value (secrets masked: each run makes its own credentials)
    and the ACL that governs it (what each server may do)."""
    out = []
    for r in records:
        value = "(secret)" if is_secret(r.uri) else repr(r.value.data)
        acl = effective_acl(tree, r.uri)
        out.append(f"{r.uri} {r.value!r} {value} {acl.render() if acl else None}")
    return out
