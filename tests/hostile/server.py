"""A real daemon's delegation interface on 127.0.0.1: mutual TLS, ``DelegationResource``,
``make_site`` and a real :class:`Engine` (session store, journaled client changes over a
client tree store with provisioned devices, embedded delegated server, config policy, the
reactor as clock), wired as ``dmdelegation/service.py`` wires them. The peer transport only
records what would be sent: the suite tests the inbound side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
from attrs import define, field
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
from dmdelegation.engine.interfaces import IPeerTransport
from dmdelegation.engine.policy import ConfigPolicy, PeerRule
from dmdelegation.peers import PeerRegistry
from dmdelegation.protocol import DelegationRequest, DelegationResponse, Message
from dmdelegation.protocol.examples import EXAMPLE_DMACC, EXAMPLES
from dmdelegation.store.sessions import SessionStore
from dmdelegation.tls import listen, server_options
from dmdelegation.tree.devinfo import DevInfo
from dmdelegation.web.delegation import DelegationResource, make_site
from tests.engine.harness import DEVICE, SUBTREE, TIMEOUTS, provision, text_of
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


async def start(test: TestCase, tmp: Path, *, timeout: float = TIMEOUT) -> Daemon:
    """The daemon's delegation interface as ``service.py`` builds it; stopped at the end."""
    store = SessionStore(tmp / "sessions.sqlite3")
    clients = ClientTreeStore(tmp / "clients.sqlite3")
    journals = SQLiteJournalStore(tmp / "journals.sqlite3")
    clients.provision(provision())
    clients.provision(second_provision())
    registry = PeerRegistry(peer_configs())
    transport = RecordingTransport()
    engine = Engine(
        server_id=US,
        store=store,
        transport=transport,
        policy=ConfigPolicy({PEER: PeerRule(we_delegate=True), PINNED: PeerRule(we_delegate=True)}),
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
    )
    engine.start()

    def closed() -> None:
        engine.stop()
        store.close()
        clients.close()
        journals.close()

    test.addCleanup(closed)
    tls = write_tls(tmp / "tls", certs().us)
    resource = DelegationResource(engine.receive, registry, MAX_BODY)
    site = make_site(resource, "/delegation", MAX_BODY, timeout, reactor=reactor)
    port: IListeningPort = await listen(
        reactor, "tcp:0:interface=127.0.0.1", server_options(tls), site
    )
    test.addCleanup(port.stopListening)  # runs before closed(): cleanups are last in, first out
    host = port.getHost()
    assert isinstance(host, IPv4Address)
    return Daemon(engine, store, clients, transport, host.port, port)


__all__ = ["DEVICE", "PEER", "PINNED", "STATES", "SUBTREE"]
