"""Two DMS-1 instances sharing one PostgreSQL database, one DMS-2, behind one address.

Each DMS-1 instance is an engine with its own store (its own connection, its own instance name)
on the same database; the "load balancer" in front of them hands the messages of every process
to the two instances in turn. One instance is killed right after one of its commits (the new
state is durable, nothing that was to follow happens: its connection is closed, its calls and
queued work are dropped, the balancer stops sending to it). The survivor must adopt its
processes once its lease has run out and finish them: every process ends, both servers agree,
no timer fires twice, no message of DMS-1 is sent twice.

The DMS-1 instances keep their undo journals in the same database, each through a journal store
of its own (as the daemon does when ``store.url`` is PostgreSQL): a tree change the killed
instance was in the middle of is undone by the survivor from the journal the killed one wrote
(given a journal store of its own, the survivor leaves such a client changed, and the check that
every rolled-back client is restored fails: in the run killing a at 90 %). The embedded DM
Clients stand for the devices, which every instance reaches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogEvent, globalLogPublisher
from zope.interface import implementer

from dmdelegation.client.interfaces import IUndoJournalStore
from dmdelegation.client.journal_store import SQLiteJournalStore
from dmdelegation.client.store import ClientTreeStore
from dmdelegation.engine.client_changes import JournaledClientChanges
from dmdelegation.engine.embedded_dms2 import EmbeddedDelegatedServer
from dmdelegation.engine.engine import Engine, Refused
from dmdelegation.engine.model import Outcome, Session
from dmdelegation.engine.policy import ConfigPolicy
from dmdelegation.protocol import BootstrapConfirmed, DelegationMethod, Message
from dmdelegation.store.interfaces import Commit
from dmdelegation.store.journal_postgres import PostgresJournalStore
from dmdelegation.store.postgres import PostgresSessionStore
from dmdelegation.store.sessions import SessionStore
from dmdelegation.store.throwaway import ThrowawayPostgres
from dmdelegation.tree.devinfo import DevInfo

from .harness import (
    DMS1,
    DMS2,
    SUBTREE,
    TIMEOUTS,
    Endpoint,
    Wire,
    fired,
    granted,
    provision,
    text_of,
)

LEASE = 10.0
DEVICES = [f"IMEI:49015420323{n:04d}" for n in range(8)]
LOST = DEVICES[7]  # DMS-2's messages of this device's process never reach DMS-1: its timer fires


class Crash(Exception):
    """The instance died."""


class MortalStore(PostgresSessionStore):
    """An instance's store that kills its instance right after its ``crash_after``-th commit."""

    def __init__(self, url: str, name: str, crash_after: int | None) -> None:
        super().__init__(url, instance_id=name, lease=LEASE)
        self.name = name
        self.commits = 0
        self.crash_after = crash_after
        self.dead = False
        self.on_death: list[Any] = []

    def flush(self) -> list[Commit]:
        if self.dead:
            raise Crash(f"{self.name} is dead")
        written = super().flush()
        self.commits += len(written)
        if self.crash_after is not None and self.commits >= self.crash_after:
            self.die()
            raise Crash(f"{self.name} killed after commit {self.commits}")
        return written

    def die(self) -> None:
        self.dead = True
        self._in_transaction = False  # the server rolls back whatever was open
        self._db.close()
        for f in self.on_death:
            f()


class Balancer:
    """One address for both DMS-1 instances: the messages of each process go to them in turn
    (the dead one is left out, as a health-checking load balancer would)."""

    def __init__(self, instances: list[Engine]) -> None:
        self.instances = instances
        self.turns: Counter[str] = Counter()
        self.sessions: dict[str, set[str]] = {}  # session -> instances that took its messages

    def receive(
        self, peer: str, message: Message, body: bytes | None = None
    ) -> Deferred[Message | None]:
        alive = [e for e in self.instances if not e.store.dead]  # type: ignore[attr-defined]
        if not alive:
            return fail(ConnectionRefusedError("no DMS-1 instance"))
        key = str(getattr(message, "session_id", None) or "")
        engine = alive[self.turns[key] % len(alive)]
        self.turns[key] += 1
        self.sessions.setdefault(key, set()).add(engine.coordination.instance_id)
        return engine.receive(peer, message, body)


class LossyWire(Wire):
    """Records every message a receiver took, and loses DMS-2's messages of chosen sessions."""

    def __init__(self) -> None:
        super().__init__()
        self.lost_sessions: set[str] = set()
        self.taken: list[tuple[str, str, str]] = []  # (sender, session, root) accepted
        self.sending = ""  # the DMS-1 instance whose transport is sending (see Tagged)

    def call(self, sender: str, peer: str, body: bytes) -> Deferred[Any]:
        from dmdelegation.protocol import decode

        message = decode(body)
        session_id = str(getattr(message, "session_id", ""))
        if sender == DMS2 and session_id in self.lost_sessions:
            return fail(ConnectionRefusedError("lost on the way"))
        d = super().call(sender, peer, body)

        origin = self.sending or sender

        def taken(result: Any) -> Any:
            self.taken.append((origin, session_id, message.ROOT))
            return result

        return d.addCallback(taken)


class Tagged(Endpoint):
    """A DMS-1 instance's transport: the wire learns which instance sent each message."""

    def __init__(self, wire: LossyWire, instance: str) -> None:
        super().__init__(wire, DMS1)
        self.lossy = wire
        self.instance = instance

    def request(self, peer: str, body: bytes) -> Deferred[bytes]:
        self.lossy.sending = self.instance
        try:
            return super().request(peer, body)
        finally:
            self.lossy.sending = ""

    def deliver(self, peer: str, body: bytes) -> Deferred[None]:
        self.lossy.sending = self.instance
        try:
            return super().deliver(peer, body)
        finally:
            self.lossy.sending = ""


@implementer(ILogObserver)
class Events:
    def __init__(self) -> None:
        self.events: list[LogEvent] = []

    def __call__(self, event: LogEvent) -> None:
        self.events.append(event)

    def timers(self) -> list[tuple[str, str, float]]:
        return [
            (e["session_id"], e["wait"], e["deadline"])
            for e in self.events
            if "the {wait} wait expired" in e.get("log_format", "")
        ]

    def replays(self) -> set[tuple[str, str]]:
        return {
            (e["session_id"], e["root"])
            for e in self.events
            if "answered as before" in e.get("log_format", "")
        }

    def adoptions(self) -> list[str]:
        return [e["dead"] for e in self.events if "missed its lease" in e.get("log_format", "")]


@pytest.fixture
def events() -> Iterator[Events]:
    observer = Events()
    globalLogPublisher.addObserver(observer)
    yield observer
    globalLogPublisher.removeObserver(observer)


class Deployment:
    def __init__(self, tmp: Path, url: str, crash_after: int | None) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.wire = LossyWire()
        self.wire.clock = self.clock
        self.clients = ClientTreeStore(tmp / "clients.sqlite3")
        for device in DEVICES:
            self.clients.provision(
                attrs.evolve(provision(), devinfo=DevInfo(dev_id=device, man="Acme", mod="P3"))
            )
        self.before = {d: text_of(self.clients.records(d)) for d in DEVICES}
        # DMS-2 changes no DM Client through journals; it has a file of its own all the same.
        self.dms2_journals = SQLiteJournalStore(tmp / "dms2-journals.sqlite3")
        delegated = EmbeddedDelegatedServer(
            DMS2,
            self.clients,
            dm_url="https://dms2.enterprise.example/dm",
            bootstrap_url="https://bootstrap.dms2.enterprise.example/bs",
            clock=self.clock,
        )
        self.dms2 = self.engine(
            DMS2, SessionStore(tmp / "dms2.sqlite3"), delegated, self.dms2_journals
        )
        self.a = MortalStore(url, "dms1-a", crash_after)
        self.b = MortalStore(url, "dms1-b", None)
        self.journals = {s.name: PostgresJournalStore(url) for s in (self.a, self.b)}
        self.one = [
            self.engine(DMS1, store, delegated, self.journals[store.name])
            for store in (self.a, self.b)
        ]
        self.a_owned_at_death: set[str] = set()
        self.a.on_death.append(self._owned_by_a)
        self.a.on_death.append(self._journals_die)
        for engine in self.one:
            engine.store.on_death.append(engine.stop)  # type: ignore[attr-defined]
            engine.store.on_death.append(engine._queue.clear)  # type: ignore[attr-defined]
        self.balancer = Balancer(self.one)
        self.wire.engines[DMS1] = self.balancer  # type: ignore[assignment]
        self.wire.engines[DMS2] = self.dms2
        for engine in (*self.one, self.dms2):
            engine.start()

    def _owned_by_a(self) -> None:
        self.a_owned_at_death = {s.session_id for s in self.b.coordination().resumable()}
        self.a_owned_at_death = {
            s.session_id
            for s in self.b.open_sessions()
            if s.session_id not in self.a_owned_at_death
        }

    def _journals_die(self) -> None:
        """a's journal store dies with it: its connection closed, the marks it held lost."""
        dead = self.journals["dms1-a"]
        dead._writer.applied.clear()
        dead._conn.close()

    def engine(
        self, server_id: str, store: Any, delegated: Any, journals: IUndoJournalStore
    ) -> Engine:
        peer = DMS2 if server_id == DMS1 else DMS1
        return Engine(
            server_id=server_id,
            store=store,
            transport=(
                Tagged(self.wire, store.instance_id)
                if isinstance(store, PostgresSessionStore)
                else self.wire.endpoint(server_id)
            ),
            policy=ConfigPolicy({peer: granted(we_delegate=server_id == DMS1)}),
            client_changes=JournaledClientChanges(
                server_id, lambda d: self.clients.session(d, server_id), journals, registry=store
            ),
            delegated=delegated,
            clock=self.clock,
            timeouts=TIMEOUTS,
            retry_initial=0.5,
            retry_max=4,
        )

    def start_processes(self) -> list[Session]:
        started = []
        for n, device in enumerate(DEVICES):
            instance = self.one[n % 2]
            if instance.store.dead:  # type: ignore[attr-defined]
                instance = self.one[1]
            method = (
                DelegationMethod.BOOTSTRAP_SERVER_URL if n in (4, 5) else DelegationMethod.DMACC
            )
            if n == 6:  # DMS-2 asks: its DELEGATION_REQ comes in through the balancer
                s = self.dms2.request_delegation(device, DMS1, SUBTREE)
            else:
                s = instance.delegate(device, DMS2, SUBTREE, method=method)
            if device == LOST:
                self.wire.lost_sessions.add(s.session_id)
            started.append(s)
        return started

    def finished(self) -> bool:
        survivor = self.b
        return survivor.count_open() == 0 and self.dms2.store.count_open() == 0

    def run(self, limit: float = 4 * 3600) -> None:
        end = self.clock.seconds() + limit
        while not self.finished():
            calls = [c for c in self.clock.getDelayedCalls() if c.active()]
            assert calls, "nothing left to happen"
            nxt = min(c.getTime() for c in calls)
            assert nxt <= end, "the processes did not end in time"
            self.clock.advance(max(0.0, nxt - self.clock.seconds()))


def _check(deployment: Deployment, started: list[Session], events: Events) -> None:
    """Every process ended, both sides agree, no timer fired twice, nothing was sent twice."""
    dms1 = deployment.b
    delegated = 0
    for s in started:
        one, two = dms1.get(s.session_id), deployment.dms2.store.get(s.session_id)
        assert one is not None
        assert two is not None
        assert not one.is_open
        assert not two.is_open
        tree = text_of(deployment.clients.records(s.device_id))
        if s.device_id == LOST:
            assert one.outcome is Outcome.FAILED
            assert tree == deployment.before[s.device_id]  # the client restored exactly
        elif one.outcome is Outcome.DELEGATED:
            assert two.outcome is Outcome.DELEGATED
            assert DMS2 in tree
            delegated += 1
        else:  # the kill fell inside this process and it rolled back: both sides agree
            assert one.outcome is Outcome.FAILED, one
            assert two.outcome in (Outcome.FAILED, Outcome.REFUSED), two
            assert tree == deployment.before[s.device_id]
    # A process the killed instance was not carrying at its death goes on as if nothing had
    # happened; one it was carrying is resumed by the survivor as a restart would (a tree
    # change it was in the middle of is undone, and the delegation fails cleanly).
    unaffected = [s for s in started if s.session_id not in deployment.a_owned_at_death]
    for s in unaffected:
        if s.device_id != LOST:
            ended = dms1.get(s.session_id)
            assert ended is not None
            assert ended.outcome is Outcome.DELEGATED, ended
    assert delegated >= 1
    # Every undo journal is gone, those a left at its death too: the survivor rolled back or
    # discarded each through the shared database. What is left is the grant record of each
    # delegation in force, for its revocation: the journal of the process that made it.
    in_force = {
        s.session_id
        for s in started
        if (ended := dms1.get(s.session_id)) is not None and ended.outcome is Outcome.DELEGATED
    }
    assert set(deployment.journals["dms1-b"].journal_ids()) == in_force
    fired = events.timers()
    assert any(sid == started[7].session_id for sid, _, _ in fired), "the lost process's timer"
    assert len(fired) == len(set(fired)), f"a timer fired twice: {fired}"
    # No message of DMS-1 is sent twice, but one: a request the killed instance had sent and
    # not yet had the answer to is repeated by the survivor that adopted the process, and
    # DMS-2 recognises it as a replay (answered as before, not acted on again).
    sent: dict[tuple[str, str], list[str]] = {}
    for sender, sid, root in deployment.wire.taken:
        if sender != DMS2:
            sent.setdefault((sid, root), []).append(sender)
    replays = events.replays()
    for (sid, root), senders in sent.items():
        if len(senders) > 1:
            assert senders == ["dms1-a", "dms1-b"], (sid, root, senders)
            assert sid in deployment.a_owned_at_death, (sid, root)
            assert (sid, root) in replays, (sid, root)


def test_the_messages_of_every_process_alternate_between_the_two_instances(
    tmp_path: Path, postgres: ThrowawayPostgres, events: Events
) -> None:
    deployment = Deployment(tmp_path, postgres.fresh_url(), None)
    started = deployment.start_processes()
    deployment.clock.advance(0)  # the starts are written: both instances see them
    waits = [(e, s, e.wait(s.session_id)) for s in started for e in deployment.one]
    deployment.run()
    _check(deployment, started, events)
    # An operator's --wait on either instance is answered, wherever the process ended.
    for _ in range(10):  # a lease's time, the instances ticking as they go
        deployment.clock.advance(LEASE / 10)
    for engine, s, d in waits:
        ended = fired(d)
        assert ended.session_id == s.session_id
        assert not ended.is_open, engine.coordination.instance_id
    for s in started:
        if s.device_id == LOST:
            continue
        assert deployment.balancer.sessions[s.session_id] == {"dms1-a", "dms1-b"}, s.session_id
    assert events.adoptions() == []
    assert deployment.a.commits
    assert deployment.b.commits


@pytest.mark.parametrize("when", [0.3, 0.5, 0.7, 0.9])
def test_a_killed_instances_processes_are_finished_by_the_survivor(
    tmp_path: Path, postgres: ThrowawayPostgres, events: Events, when: float
) -> None:
    counting = Deployment(tmp_path / "count", postgres.fresh_url(), None)
    counting.start_processes()
    counting.run()
    total = counting.a.commits
    assert total >= 8
    events.events.clear()
    deployment = Deployment(tmp_path / "run", postgres.fresh_url(), max(1, int(total * when)))
    started = deployment.start_processes()
    deployment.run()
    assert deployment.a.dead, "instance a was to be killed midway"
    assert events.adoptions() == ["dms1-a"]  # the survivor took over, once
    adopted = [s for s in started if s.session_id in deployment.a_owned_at_death]
    assert adopted, "instance a died owning no open process"
    _check(deployment, started, events)


def test_an_input_held_by_one_instance_is_refused_by_the_other_until_written(
    tmp_path: Path, postgres: ThrowawayPostgres
) -> None:
    """Instance a aborts a process (its transition staged, the session locked until the group
    commit of the turn); a peer's message for that session reaching instance b meanwhile gets
    503 and changes nothing. Once a's transition is written, b reads the session as a left it."""
    deployment = Deployment(tmp_path, postgres.fresh_url(), None)
    a, b = deployment.one
    session = a.delegate(LOST, DMS2, SUBTREE)
    deployment.wire.lost_sessions.add(session.session_id)  # DMS-2's answer never comes
    clock = deployment.clock

    def waiting() -> bool:
        current = deployment.b.get(session.session_id)
        return current is not None and current.state == "await-bootstrap"

    for _ in range(100):
        if waiting():
            break
        clock.advance(min(c.getTime() for c in clock.getDelayedCalls()) - clock.seconds())
    assert waiting()
    confirmed = BootstrapConfirmed(
        reason_code=200, session_id=session.session_id, is_client_bootstrapped=True
    )

    aborted = a.abort(session.session_id)
    answer: list[object] = []
    b.receive(DMS2, confirmed).addErrback(lambda f: f.value).addBoth(answer.append)
    assert isinstance(answer[0], Refused)
    assert answer[0].status == 503
    assert deployment.b.get(session.session_id) is not None

    clock.advance(0)  # a's group commit: written, lock freed
    now = deployment.b.get(session.session_id)
    assert now is not None
    assert now.state == aborted.state != "await-bootstrap"
    # b reads the session as a left it (ended), not as it was: the late confirmation starts
    # nothing (a stale read would have taken it and begun changing the DM Client).
    b.receive(DMS2, confirmed)
    deployment.run()
    ended = deployment.b.get(session.session_id)
    assert ended is not None
    assert ended.outcome is Outcome.FAILED
    assert ended.state == aborted.state
    assert text_of(deployment.clients.records(LOST)) == deployment.before[LOST]
