"""Two engines back to back: DMS-1 and DMS-2, one embedded device, a Clock, no sockets.

Messages cross an in-memory transport that encodes and decodes them (so the codec is in the
path), and can be cut, made to fail, or told to drop a given message type.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import attrs
from twisted.internet.defer import Deferred, fail, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import Clock
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
from dmdelegation.tree.rights import effective_acl
from dmdelegation.tree.storage import NodeRecord

_CLOCKS: weakref.WeakSet[Any] = weakref.WeakSet()  # of live Pairs, for fired()

DMS1 = "dms1.operator.example"
DMS2 = "dms2.enterprise.example"
DEVICE = "IMEI:490154203237518"
SUBTREE = "./Vendor/Enterprise"
TIMEOUTS = Timeouts(
    peer=60, client_bootstrap=120, termination=30, revoked=300, delivery=20, request=5, local=30
)


def granted(*, we_delegate: bool) -> PeerRule:
    """A peer granted everything (any device, any subtree, full delegation): what the flows of
    these tests need; a configured peer gets nothing unless so granted."""
    return PeerRule(
        we_delegate=we_delegate, accept=True, subtrees=(".",), full_allowed=True, devices=("*",)
    )


def provision() -> DeviceProvision:
    owner = DMAcc(
        server_id=DMS1,
        name="Operator DM",
        app_addrs=(AppAddr(addr="https://dms1.operator.example/dm", addr_type=AddrType.URI),),
        app_auths=(
            AppAuth(level=AuthLevel.SERVER, type=AuthType.HMAC, name=DMS1, secret="s1"),
            AppAuth(level=AuthLevel.CLIENT, type=AuthType.HMAC, name=DEVICE, secret="c1"),
        ),
    )
    return DeviceProvision(
        devinfo=DevInfo(dev_id=DEVICE, man="Acme", mod="Phone 3"),
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
    """Provision each of ``device_ids`` in ``pair``'s client store: the standard device with
    that DevId."""
    template = provision()
    devices = list(device_ids)
    for device in devices:
        devinfo = attrs.evolve(template.devinfo, dev_id=device)
        pair.clients.provision(attrs.evolve(template, devinfo=devinfo))
    return devices


def delegation_request(**changes: Any) -> DelegationRequest:
    """DMS-2's DELEGATION_REQ for SUBTREE of DEVICE (partial), with ``changes``."""
    base = DelegationRequest(
        server_id=DMS2,
        device_id=DEVICE,
        device_man="Acme",
        device_mod="Phone 3",
        dm_tree_uri=SUBTREE,
        is_delegation_full=False,
        session_id="f" * 32,
    )
    return attrs.evolve(base, **changes)


def open_sessions_awaiting_bootstrap(pair: Pair, n: int) -> None:
    """DMS-2 asks DMS-1 for ``n`` delegations (devices ``IMEI:<i>``); DMS-1 accepts each and
    waits for BOOTSTRAP_CONFIRMED. The reactor turn then ends, so they are on disk."""
    for i in range(n):
        request = delegation_request(device_id=f"IMEI:{i:015d}", session_id=f"{i:032x}")
        pair.dms1.receive(DMS2, request)
    pair.clock.run(horizon=0)


class Wire:
    """The in-memory network between the engines."""

    def __init__(self) -> None:
        self.engines: dict[str, Engine] = {}
        self.down: set[str] = set()
        self.drop: set[str] = set()  # message roots silently lost (never delivered)
        self.trace: list[tuple[str, str, str]] = []  # (from, to, root)
        self.refusals: list[tuple[str, int]] = []  # (root, status) of every refused message
        self.answer_delay = 0.0  # seconds a synchronous answer takes to come back
        self.clock: Any = None

    def endpoint(self, sender: str) -> Endpoint:
        return Endpoint(self, sender)

    def call(self, sender: str, peer: str, body: bytes) -> Deferred[Any]:
        message = decode(body)
        self.trace.append((sender, peer, message.ROOT))
        if peer in self.down or message.ROOT in self.drop:
            return fail(ConnectionRefusedError(f"{peer} is down"))
        d = maybeDeferred(self.engines[peer].receive, sender, message, body)

        def refused(f: Failure) -> Failure:
            if isinstance(f.value, Refused):
                self.refusals.append((message.ROOT, f.value.status))
                return Failure(PeerError(f.value.status, f.value.reason))
            return f

        d.addErrback(refused)
        if self.answer_delay:
            late: Deferred[Any] = Deferred()
            d.addBoth(lambda r: self.clock.callLater(self.answer_delay, late.callback, r))
            return late
        return d


@implementer(IPeerTransport)
class Endpoint:
    def __init__(self, wire: Wire, sender: str) -> None:
        self.wire = wire
        self.sender = sender

    def request(self, peer: str, body: bytes) -> Deferred[bytes]:
        d = self.wire.call(self.sender, peer, body)
        return d.addCallback(lambda m: m.encode())

    def deliver(self, peer: str, body: bytes) -> Deferred[None]:
        return self.wire.call(self.sender, peer, body).addCallback(lambda _: None)


class Pair:
    """DMS-1 and DMS-2 engines sharing one embedded device store (the managed client)."""

    def __init__(
        self, tmp: Path, *, timeouts: Timeouts = TIMEOUTS, clock: IReactorTime | None = None
    ) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.tmp = tmp
        if clock is None:
            clock = Clock()
            clock.advance(1_000_000)
        self.clock: Any = clock
        _CLOCKS.add(clock)
        self.wire = Wire()
        self.wire.clock = clock
        self.timeouts = timeouts
        self.clients = ClientTreeStore(tmp / "clients.sqlite3")
        self.clients.provision(provision())
        self.journals = SQLiteJournalStore(tmp / "journals.sqlite3")
        self.dms2_server = EmbeddedDelegatedServer(
            DMS2,
            self.clients,
            dm_url="https://dms2.enterprise.example/dm",
            bootstrap_url="https://bootstrap.dms2.enterprise.example/bs",
            clock=self.clock,
        )
        self.dms1 = self.build(DMS1)
        self.dms2 = self.build(DMS2)

    def build(self, server_id: str, **overrides: Any) -> Engine:
        """A (new) engine for ``server_id`` on that server's store file."""
        peer = DMS2 if server_id == DMS1 else DMS1
        store = overrides.pop("store", None) or SessionStore(self.tmp / f"{server_id}.sqlite3")
        engine = Engine(
            server_id=server_id,
            store=store,
            transport=self.wire.endpoint(server_id),
            policy=overrides.pop(
                "policy", ConfigPolicy({peer: granted(we_delegate=server_id == DMS1)})
            ),
            client_changes=overrides.pop(
                "client_changes",
                JournaledClientChanges(
                    server_id,
                    lambda d: self.clients.session(d, server_id),
                    self.journals,
                    clock=self.clock,
                    commands=store,
                    registry=store,
                ),
            ),
            delegated=overrides.pop("delegated", self.dms2_server),
            clock=self.clock,
            timeouts=self.timeouts,
            retry_initial=0.5,
            retry_max=4,
            **overrides,
        )
        self.wire.engines[server_id] = engine
        engine.start()
        return engine

    def settle(self, seconds: float = 3600, step: float = 0.25) -> None:
        """Let time pass until nothing is scheduled before ``seconds`` from now."""
        end = self.clock.seconds() + seconds
        while self.clock.getDelayedCalls():
            nxt = min(c.getTime() for c in self.clock.getDelayedCalls())
            if nxt > end:
                break
            self.clock.advance(max(0.0, nxt - self.clock.seconds()))
        del step

    def settle_until(self, done: Callable[[], bool], seconds: float = 600) -> None:
        """Let time pass, one scheduled call at a time, until ``done()`` holds."""
        end = self.clock.seconds() + seconds
        while not done():
            calls = self.clock.getDelayedCalls()
            assert calls, "nothing left to happen"
            nxt = min(c.getTime() for c in calls)
            assert nxt <= end, "it did not happen in time"
            self.clock.advance(max(0.0, nxt - self.clock.seconds()))

    def sent(self, root: str) -> bool:
        return any(r == root for _, _, r in self.wire.trace)

    def tree(self) -> list[NodeRecord]:
        return self.clients.records(DEVICE)

    def open_sessions(self) -> tuple[int, int]:
        return self.dms1.store.count_open(), self.dms2.store.count_open()


def text_of(records: list[NodeRecord]) -> str:
    """Values, formats and each node's own ACL: equal only if the trees are identical."""
    return "\n".join(f"{r.uri} {r.value!r} {r.value.data!r} {r.acl.render()}" for r in records)


def rights_of(pair: Pair, *, skip: str | None = None) -> dict[str, str]:
    """Every node's value and effective ACL (what each server may do), by URI."""
    storage = pair.clients.storage(DEVICE)
    view = {}
    for r in pair.tree():
        if skip is not None and (str(r.uri) == skip or str(r.uri).startswith(skip + "/")):
            continue
        acl = effective_acl(storage, r.uri)
        view[str(r.uri)] = f"{r.value!r} {r.value.data!r} {acl.render() if acl else None}"
    return view


T = TypeVar("T")


def fired(d: Deferred[T]) -> T:
    """The result of a Deferred that must have fired by the end of the current reactor turn
    (its failure is raised): the turn ends (``advance(0)`` on the clock of every live
    :class:`Pair`) so that the engines' group commit runs, as a real reactor would."""
    results: list[T] = []
    failures: list[Failure] = []
    d.addCallbacks(results.append, failures.append)
    if not (results or failures):
        for clock in list(_CLOCKS):
            if hasattr(clock, "advance"):
                clock.advance(0)
    if failures:
        failures[0].raiseException()
    assert results, "the Deferred has not fired"
    return results[0]
