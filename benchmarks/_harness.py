"""Two engines back to back for the benchmarks: DMS-1 and DMS-2, devices in one embedded store,
a clock, no sockets.

Messages cross an in-memory network that decodes every document it carries and encodes every
synchronous answer, so the codec is in the path as on the wire. Unlike the tests' harness it
cannot be cut or told to lose messages, and it keeps no trace: it holds nothing per message.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.python.failure import Failure
from zope.interface import implementer

from dmdelegation.client.journal_store import SQLiteJournalStore
from dmdelegation.client.provisioning import DeviceProvision
from dmdelegation.client.store import ClientTreeStore
from dmdelegation.engine.client_changes import JournaledClientChanges
from dmdelegation.engine.embedded_dms2 import EmbeddedDelegatedServer
from dmdelegation.engine.engine import Engine, Refused
from dmdelegation.engine.interfaces import IPeerTransport, PeerError
from dmdelegation.engine.machine import Timeouts
from dmdelegation.engine.policy import ConfigPolicy, PeerRule
from dmdelegation.protocol import (
    AddrType,
    AppAddr,
    AppAuth,
    AuthLevel,
    AuthType,
    DelegationRequest,
    DMAcc,
    decode,
)
from dmdelegation.store.sessions import SessionStore
from dmdelegation.tree import ACL, URI, Value
from dmdelegation.tree.devinfo import DevInfo

DMS1 = "dms1.operator.example"
DMS2 = "dms2.enterprise.example"
SUBTREE = "./Vendor/Enterprise"
TIMEOUTS = Timeouts(
    peer=60, client_bootstrap=120, termination=30, revoked=300, delivery=20, request=5, local=30
)


def provision(device: str) -> DeviceProvision:
    """A device ``device`` owned by DMS-1, with a small tree under :data:`SUBTREE`."""
    owner = DMAcc(
        server_id=DMS1,
        name="Operator DM",
        app_addrs=(AppAddr(addr="https://dms1.operator.example/dm", addr_type=AddrType.URI),),
        app_auths=(
            AppAuth(level=AuthLevel.SERVER, type=AuthType.HMAC, name=DMS1, secret="s1"),
            AppAuth(level=AuthLevel.CLIENT, type=AuthType.HMAC, name=device, secret="c1"),
        ),
    )
    return DeviceProvision(
        devinfo=DevInfo(dev_id=device, man="Acme", mod="Phone 3"),
        owner=owner,
        nodes=(
            (URI.parse("./Vendor/Enterprise/VPN/Server"), Value.text("vpn.example")),
            (URI.parse("./Vendor/Enterprise/VPN/Port"), Value.integer(443)),
            (URI.parse("./Vendor/Enterprise/Apps/Mail"), Value.text("enabled")),
            (URI.parse("./Vendor/Radio/Band"), Value.text("auto")),
            (URI.parse("./BootConfig"), Value.interior()),  # the Bootstrap Config MO's root
        ),
        acls=((URI.parse("./Vendor/Enterprise/Apps"), ACL.parse(f"Get={DMS1}+*&Replace={DMS1}")),),
    )


def provision_devices(pair: Pair, device_ids: Iterable[str]) -> list[str]:
    """Provision each of ``device_ids`` in ``pair``'s client store."""
    template = provision("IMEI:000000000000000")
    devices = list(device_ids)
    for device in devices:
        devinfo = attrs.evolve(template.devinfo, dev_id=device)
        pair.clients.provision(attrs.evolve(template, devinfo=devinfo))
    return devices


def open_sessions_awaiting_bootstrap(pair: Pair, n: int) -> None:
    """DMS-2 asks DMS-1 for ``n`` delegations (devices ``IMEI:<i>``); DMS-1 accepts each and
    waits for BOOTSTRAP_CONFIRMED. The reactor turn then ends, so they are on disk."""
    for i in range(n):
        request = DelegationRequest(
            server_id=DMS2,
            device_id=f"IMEI:{i:015d}",
            device_man="Acme",
            device_mod="Phone 3",
            dm_tree_uri=SUBTREE,
            is_delegation_full=False,
            session_id=f"{i:032x}",
        )
        pair.dms1.receive(DMS2, request)
    pair.clock.run(horizon=0)


class Wire:
    """The in-memory network between the engines."""

    def __init__(self) -> None:
        self.engines: dict[str, Engine] = {}

    def call(self, sender: str, peer: str, body: bytes) -> Deferred[Any]:
        message = decode(body)
        d = maybeDeferred(self.engines[peer].receive, sender, message, body)

        def refused(f: Failure) -> Failure:
            if isinstance(f.value, Refused):
                return Failure(PeerError(f.value.status, f.value.reason))
            return f

        return d.addErrback(refused)


@implementer(IPeerTransport)
class Endpoint:
    """One engine's side of the :class:`Wire`."""

    def __init__(self, wire: Wire, sender: str) -> None:
        self.wire = wire
        self.sender = sender

    def request(self, peer: str, body: bytes) -> Deferred[bytes]:
        return self.wire.call(self.sender, peer, body).addCallback(lambda m: m.encode())

    def deliver(self, peer: str, body: bytes) -> Deferred[None]:
        return self.wire.call(self.sender, peer, body).addCallback(lambda _: None)


class Pair:
    """DMS-1 and DMS-2 engines sharing one embedded device store (the managed clients), on
    SQLite files in ``tmp``, driven by ``clock`` (a :class:`benchmarks._heapclock.HeapClock`)."""

    def __init__(self, tmp: Path, *, clock: Any) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.tmp = tmp
        self.clock = clock
        self.wire = Wire()
        self.clients = ClientTreeStore(tmp / "clients.sqlite3")
        self.journals = SQLiteJournalStore(tmp / "journals.sqlite3")
        self.dms2_server = EmbeddedDelegatedServer(
            DMS2,
            self.clients,
            dm_url="https://dms2.enterprise.example/dm",
            bootstrap_url="https://bootstrap.dms2.enterprise.example/bs",
            clock=clock,
        )
        self.dms1 = self.build(DMS1)
        self.dms2 = self.build(DMS2)

    def build(self, server_id: str, **overrides: Any) -> Engine:
        """A (new, started) engine for ``server_id`` on that server's store file."""
        peer = DMS2 if server_id == DMS1 else DMS1
        store = overrides.pop("store", None) or SessionStore(self.tmp / f"{server_id}.sqlite3")
        engine = Engine(
            server_id=server_id,
            store=store,
            transport=Endpoint(self.wire, server_id),
            # the peer granted everything (a configured peer gets nothing unless so granted)
            policy=ConfigPolicy(
                {
                    peer: PeerRule(
                        we_delegate=server_id == DMS1,
                        accept=True,
                        subtrees=(".",),
                        full_allowed=True,
                        devices=("*",),
                    )
                }
            ),
            client_changes=overrides.pop(
                "client_changes",
                JournaledClientChanges(
                    server_id,
                    lambda d: self.clients.session(d, server_id),
                    self.journals,
                    clock=self.clock,
                    registry=store,
                ),
            ),
            delegated=self.dms2_server,
            clock=self.clock,
            timeouts=TIMEOUTS,
            retry_initial=0.5,
            retry_max=4,
            **overrides,
        )
        self.wire.engines[server_id] = engine
        engine.start()
        return engine
