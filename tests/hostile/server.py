"""A real daemon's delegation interface on 127.0.0.1: mutual TLS, ``DelegationResource``,
``make_site`` and a real :class:`Engine` (session store, journaled client changes over a
client tree store with provisioned devices, embedded delegated server, config policy, the
reactor as clock), with one :class:`EngineMetrics` told by the engine and by the interface's
refusals, wired as ``dmdelegation/daemon/service.py`` wires them. The peer transport only
records what would be sent: the suite tests the inbound side."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
from attrs import define, field
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IListeningPort
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from dmdelegation.client.journal_store import SQLiteJournalStore
from dmdelegation.client.store import ClientTreeStore
from dmdelegation.engine.client_changes import JournaledClientChanges
from dmdelegation.engine.embedded_dms2 import EmbeddedDelegatedServer
from dmdelegation.engine.engine import Engine
from dmdelegation.engine.interfaces import IDelegationPolicy, IPeerTransport
from dmdelegation.engine.observer import IEngineObserver
from dmdelegation.engine.policy import ConfigPolicy
from dmdelegation.ops.metrics import EngineMetrics
from dmdelegation.protocol import DelegationRequest, DelegationResponse, Message
from dmdelegation.protocol.examples import EXAMPLE_DMACC, EXAMPLES
from dmdelegation.store.sessions import SessionStore
from dmdelegation.tree.devinfo import DevInfo
from dmdelegation.web.delegation import DelegationResource, make_site
from dmdelegation.web.peers import PeerRegistry
from dmdelegation.web.tls import listen, server_options
from tests.engine.harness import DEVICE, SUBTREE, TIMEOUTS, granted, provision, text_of
from tests.web.certs import PEER, PINNED, US, certs, peer_configs, write_tls

DEVICE2 = "IMEI:356938035643809"  # a second device, for the requests that must still be served
SESSION = "hostile0session0" + "a" * 16  # PEER's delegation of DEVICE SUBTREE
MAX_BODY = 64 * 1024
TIMEOUT = 0.5  # the site's timeout: a request must arrive whole within it

# The states a case starts from, each reached by the real engine from PEER's messages.
FRESH = "fresh"  # nothing on record
RESPONDED = "responded"  # PEER's DELEGATION_REQ answered; BOOTSTRAP_CONFIRMED awaited
PREPARED = "prepared"  # account prepared, DELEGATION_PREPARED sent; DELEGATION_CONFIRMED awaited
DELEGATED = "delegated"  # DEVICE SUBTREE delegated to PEER
STATES = (FRESH, RESPONDED, PREPARED, DELEGATED)


def request_from(peer: str, session_id: str = SESSION, **changes: Any) -> DelegationRequest:
    """A valid DELEGATION_REQ in which ``peer`` asks for DEVICE SUBTREE."""
    base = EXAMPLES["DELEGATION_REQ"]
    assert isinstance(base, DelegationRequest)
    return attrs.evolve(
        base, **{"server_id": peer, "session_id": session_id, "device_id": DEVICE, **changes}
    )


def example(root: str, session_id: str = SESSION, **changes: Any) -> Message:
    """The example ``root`` message in PEER's session (its DMAcc, if any, is PEER's account)."""
    base: Any = EXAMPLES[root]
    if hasattr(base, "session_id"):
        changes.setdefault("session_id", session_id)
    if root == "BOOTSTRAP_CONFIRMED":
        changes.setdefault("dmacc", attrs.evolve(EXAMPLE_DMACC, server_id=PEER))
    evolved: Message = attrs.evolve(base, **changes)
    return evolved


def second_provision() -> Any:
    first = provision()
    return attrs.evolve(first, devinfo=DevInfo(dev_id=DEVICE2, man="Acme", mod="Phone 3"))


@implementer(IPeerTransport)
@define
class RecordingTransport:
    """Records every outbound document; deliveries succeed, requests are never answered."""

    sent: list[tuple[str, str, bytes]] = field(factory=list)

    def request(self, peer: str, body: bytes) -> Deferred[bytes]:
        self.sent.append(("request", peer, body))
        return Deferred()

    def deliver(self, peer: str, body: bytes) -> Deferred[None]:
        self.sent.append(("deliver", peer, body))
        return succeed(None)


@define
class Daemon:
    engine: Engine
    store: SessionStore
    clients: ClientTreeStore
    transport: RecordingTransport
    port: int
    listening: IListeningPort
    metrics: EngineMetrics

    def snapshot(self) -> tuple[object, ...]:
        """Sessions, delegation registry, outbox, what was sent, and both device trees."""
        return (
            self.store.sessions(),
            self.store.delegations(),
            self.store.outbox(),
            list(self.transport.sent),
            text_of(self.clients.records(DEVICE)),
            text_of(self.clients.records(DEVICE2)),
        )

    async def settle(self) -> None:
        """Let the engine's group commits and deliveries (scheduled at once) run until nothing
        is staged and the outbox is empty."""
        for _ in range(200):
            await deferLater(reactor, 0, lambda: None)
            if not self.store.staged and not self.store.outbox():
                return
        raise AssertionError("the outbox was not emptied")

    async def feed(self, peer: str, message: Message) -> Message | None:
        answer: Message | None = await self.engine.receive(peer, message)
        await self.settle()
        return answer

    async def reach(self, state: str) -> None:
        """Drive the engine, as PEER would, to ``state``."""
        if state == FRESH:
            return
        answer = await self.feed(PEER, request_from(PEER))
        assert isinstance(answer, DelegationResponse)
        assert answer.is_acknowledged
        if state == RESPONDED:
            return
        assert await self.feed(PEER, example("BOOTSTRAP_CONFIRMED")) is None
        assert self.store.get(SESSION).state != "new"  # type: ignore[union-attr]
        if state == PREPARED:
            return
        assert await self.feed(PEER, example("DELEGATION_CONFIRMED")) is None
        assert self.store.delegations(), "the delegation is not in force"


async def start(
    test: TestCase,
    tmp: Path,
    *,
    timeout: float = TIMEOUT,
    policy: IDelegationPolicy | None = None,
    observers: Sequence[IEngineObserver] = (),
) -> Daemon:
    """The daemon's delegation interface as ``service.py`` builds it; stopped at the end.
    ``policy``: by default PEER and PINNED are granted everything; ``observers`` are told
    besides the metrics."""
    store = SessionStore(tmp / "sessions.sqlite3")
    clients = ClientTreeStore(tmp / "clients.sqlite3")
    journals = SQLiteJournalStore(tmp / "journals.sqlite3")
    clients.provision(provision())
    clients.provision(second_provision())
    registry = PeerRegistry(peer_configs())
    transport = RecordingTransport()
    metrics = EngineMetrics(store)
    engine = Engine(
        server_id=US,
        store=store,
        transport=transport,
        policy=ConfigPolicy({PEER: granted(we_delegate=True), PINNED: granted(we_delegate=True)})
        if policy is None
        else policy,
        client_changes=JournaledClientChanges(
            US, lambda device: clients.session(device, US), journals
        ),
        delegated=EmbeddedDelegatedServer(
            US,
            clients,
            dm_url="https://dms1.operator.example/dm",
            bootstrap_url="https://bootstrap.dms1.operator.example/bs",
            clock=reactor,
        ),
        clock=reactor,
        timeouts=TIMEOUTS,
        observers=[metrics, *observers],
    )
    engine.start()

    def closed() -> None:
        engine.stop()
        store.close()
        clients.close()
        journals.close()

    test.addCleanup(closed)
    tls = write_tls(tmp / "tls", certs().us)
    resource = DelegationResource(engine.receive, registry, MAX_BODY, refusals=metrics)
    site = make_site(resource, "/delegation", MAX_BODY, timeout, reactor=reactor, refusals=metrics)
    port: IListeningPort = await listen(
        reactor, "tcp:0:interface=127.0.0.1", server_options(tls), site, refusals=metrics
    )
    test.addCleanup(port.stopListening)  # runs before closed(): cleanups are last in, first out
    host = port.getHost()
    assert isinstance(host, IPv4Address)
    return Daemon(engine, store, clients, transport, host.port, port, metrics)


Count = tuple[str, tuple[tuple[str, str], ...]]


def counts(metrics: EngineMetrics) -> dict[Count, float]:
    """Every sample ``/metrics`` shows (but the ``*_created`` times), by name and labels."""
    found: dict[Count, float] = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def changes(before: dict[Count, float], after: dict[Count, float]) -> dict[Count, float]:
    """What changed between two :func:`counts`, by how much."""
    return {
        key: after.get(key, 0.0) - before.get(key, 0.0)
        for key in before.keys() | after.keys()
        if after.get(key, 0.0) != before.get(key, 0.0)
    }


def refusal(reason: str, source: str = "peer") -> Count:
    return ("dmdelegation_refusals_total", (("reason", reason), ("source", source)))


def message_in(root: str, status: int) -> Count:
    labels = (("direction", "in"), ("status", str(status)), ("type", root))
    return ("dmdelegation_messages_total", labels)


def answered_in(found: dict[Count, float]) -> Counter[int]:
    """The messages counted in, by the status they were answered with."""
    by_status: Counter[int] = Counter()
    for (name, labels), n in found.items():
        label = dict(labels)
        if name == "dmdelegation_messages_total" and label["direction"] == "in":
            by_status[int(label["status"])] += int(n)
    return by_status


def statuses(data: bytes) -> list[int]:
    """The status of every HTTP answer in what a raw client received."""
    return [int(s) for s in re.findall(rb"(?:^|\r\n)HTTP/1\.1 (\d{3})[ \r]", data)]


__all__ = ["DEVICE", "PEER", "PINNED", "STATES", "SUBTREE"]
