"""The daemon as one Twisted service: the engine, the mutual-TLS delegation interface, the
peer client, the admin API and the stores, built from a :class:`~dmdelegation.daemon.config.Config`.

Everything that can be wrong with the configuration (files, keys, certificates) is found in the
constructor, before the reactor runs; the listening ports are opened in
``privilegedStartService`` so that a port that cannot be had stops the start with one line.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort
from twisted.internet.task import LoopingCall
from twisted.logger import (
    FileLogObserver,
    Logger,
    globalLogPublisher,
    jsonFileLogObserver,
)
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel
from twisted.web.server import Site

from dmdelegation.client.interfaces import IDMClientSession, IUndoJournalStore
from dmdelegation.client.journal_store import SQLiteJournalStore
from dmdelegation.client.store import ClientTreeStore
from dmdelegation.daemon.config import Config
from dmdelegation.daemon.dm_endpoint import DMEndpoint, RoutedDelegatedServer
from dmdelegation.daemon.journals import settle_journals
from dmdelegation.daemon.private import private_directory, private_file
from dmdelegation.dm.interop import DMClientChanges
from dmdelegation.engine.admission import DEFAULT_MAX_OPEN, CappedPolicy, OpenProcesses
from dmdelegation.engine.client_changes import JournaledClientChanges, SessionFor
from dmdelegation.engine.embedded_dms2 import EmbeddedDelegatedServer
from dmdelegation.engine.engine import Engine
from dmdelegation.engine.interfaces import IClientChanges, IDelegatedServer
from dmdelegation.engine.observer import IEngineObserver
from dmdelegation.engine.policy import ConfigPolicy, PatternGroups, PeerRule
from dmdelegation.ops.eventlog import EventLog
from dmdelegation.ops.expiry import ExpiryWatch
from dmdelegation.ops.metrics import EngineMetrics
from dmdelegation.store.crash_hook import CRASH_ENV, CrashingSessionStore
from dmdelegation.store.interfaces import ISessionStore
from dmdelegation.store.location import shown
from dmdelegation.store.sessions import SessionStore
from dmdelegation.web.admin import Admin
from dmdelegation.web.admin_guard import AdminGuard, read_token
from dmdelegation.web.client import HTTPSPeerTransport
from dmdelegation.web.connections import ConnectionCap
from dmdelegation.web.delegation import DelegationResource, RefusingChannel, make_site
from dmdelegation.web.peers import PeerRegistry
from dmdelegation.web.tls import ClientTLSPolicy, listen, server_options

log = Logger(namespace="dmdelegation.service")  # as before the move: operators filter on it


PRUNE_EVERY = 3600.0  # seconds between two prunings of ended sessions


class StartError(RuntimeError):
    """The service cannot start (a port is taken, a socket cannot be made)."""


def _now(d: Deferred[Any]) -> Any:
    """The result of a Deferred that TCP and UNIX endpoints fire at once."""
    results: list[Any] = []
    d.addBoth(results.append)
    if not results:
        raise StartError("listening did not complete synchronously")
    if isinstance(results[0], Failure):
        raise StartError(results[0].getErrorMessage())
    return results[0]


def _postgres(config: Config) -> tuple[ISessionStore, IUndoJournalStore]:
    """The shared PostgreSQL store, and the undo journals in the same database (so that an
    instance that adopts a dead one's process can undo the tree change it died in); a connection
    that fails is a StartError naming the store (its password never shown)."""
    from dmdelegation.store.journal_postgres import PostgresJournalStore
    from dmdelegation.store.postgres import PostgresSessionStore

    assert config.store is not None
    assert config.store.url is not None
    url = config.store.url
    try:
        store = PostgresSessionStore(url, instance_id=config.instance, lease=config.lease)
        try:
            journals = PostgresJournalStore(url)
        except BaseException:
            store.close()
            raise
    except Exception as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        if parse_password(url):
            reason = reason.replace(parse_password(url), "***")
        raise StartError(f"store.url {shown(url)!r}: {reason}") from None
    log.info(
        "state and undo journals on PostgreSQL {url} as instance {instance}",
        url=shown(url),
        instance=config.instance,
    )
    return store, journals


def parse_password(url: str) -> str:
    return urlsplit(url).password or ""


def admin_listen(endpoint: str) -> str:
    """The admin endpoint as listened on: a unix socket is mode 0600 unless a mode is given."""
    if endpoint.lower().startswith("unix:") and ":mode=" not in endpoint:
        return f"{endpoint}:mode=600"
    return endpoint


class CommandLog(Site):
    """The admin site logs the commands (POST), an audit of what operators did; not the reads
    and waits of ``status`` or ``--wait``, which would bury them."""

    def log(self, request: Any) -> None:
        if request.method != b"GET":
            super().log(request)


class DelegationService(MultiService):
    def __init__(self, config: Config, reactor: Any) -> None:
        super().__init__()
        self.setName("dmdelegation")
        self.config = config
        self.reactor = reactor
        private_directory(config.state_dir)
        for path in (config.clients_db, config.log_json):
            if path is not None:
                private_file(path)
        if config.store is None or config.store.url is None:  # SQLite: the engine's files
            private_file(config.sessions_db)
            private_file(config.journals_db)
        crash_after = os.environ.get(CRASH_ENV)  # the crash suite's hook; never set in production
        self.store: ISessionStore
        self.journals: IUndoJournalStore
        if config.store is not None and config.store.url is not None:
            self.store, self.journals = _postgres(config)
        else:
            if crash_after:
                self.store = CrashingSessionStore(
                    config.sessions_db, durability=config.durability, crash_after=int(crash_after)
                )
            else:
                self.store = SessionStore(config.sessions_db, durability=config.durability)
            self.journals = SQLiteJournalStore(config.journals_db, durability=config.durability)
        # The embedded DM Clients stay in each instance's state_dir even on PostgreSQL: they
        # stand for devices, which a deployment reaches through DM sessions ([dm]) or its host's
        # IDMClientSession, not through a file (docs/scaling.md).
        self.clients = ClientTreeStore(config.clients_db, durability=config.durability)
        self.registry = PeerRegistry(config.peers)
        self.server_tls = server_options(config.tls)
        self.client_tls = ClientTLSPolicy(config.tls, self.registry)
        self.admin_token = None if config.admin_token is None else read_token(config.admin_token)
        # Deny by default: each peer gets what its [[peers]] grants, and no more than its cap
        # of open processes (docs/configuration.md, "Grants").
        rules = {
            p.server_id: PeerRule(
                we_delegate=p.we_delegate,
                accept=p.accept,
                subtrees=p.subtrees,
                full_allowed=p.allow_full,
                devices=p.devices,
                device_groups=p.device_groups,
            )
            for p in config.peers
        }
        caps = {p.server_id: p.max_open_processes for p in config.peers}
        self.open_processes = OpenProcesses(self.store.open_sessions())
        policy = CappedPolicy(
            ConfigPolicy(rules, PatternGroups(config.device_groups), manages=self._manages),
            self.open_processes,
            lambda peer: caps.get(peer, DEFAULT_MAX_OPEN),
        )
        server_id = config.server_id
        self.metrics = EngineMetrics(self.store)
        observers: list[IEngineObserver] = [self.metrics, self.open_processes]
        self.json_log: FileLogObserver | None = None
        if config.log_json is not None:
            # Opened here, before the reactor runs: a path that cannot be written stops the start.
            self.json_file = open(config.log_json, "a", encoding="utf-8")  # noqa: SIM115
            self.json_log = jsonFileLogObserver(self.json_file)
            # The engine's step and message events go to the JSON log only (not the text log).
            events = Logger(namespace="dmdelegation.events", observer=self.json_log)
            observers.append(EventLog(events))
        self.dm: DMEndpoint | None = None

        def embedded(device: str) -> IDMClientSession:
            return self.clients.session(device, server_id)

        session_for: SessionFor = embedded
        if config.dm is not None:
            self.dm = DMEndpoint(config, reactor)
            session_for = self.dm.session_for(session_for)
        self.session_for = session_for
        self.transport = HTTPSPeerTransport(
            reactor, self.registry, self.client_tls, timeout=config.timeouts.request
        )
        delegated: IDelegatedServer = EmbeddedDelegatedServer(
            server_id,
            self.clients,
            dm_url=config.delegated.dm_url,
            bootstrap_url=config.delegated.bootstrap_url,
            clock=reactor,
        )
        if self.dm is not None:
            # DMS-2 of a device of the embedded store keeps the embedded duties; any other
            # device is one of the DM endpoint's (docs/dm-sessions.md, "DMS-2 over DM sessions").
            delegated = RoutedDelegatedServer(self.dm.delegated, delegated, self._embedded)
        self.engine = Engine(
            server_id=server_id,
            store=self.store,
            transport=self.transport,
            policy=policy,
            client_changes=self._client_changes(
                JournaledClientChanges(
                    server_id,
                    session_for,
                    self.journals,
                    clock=reactor,
                    commands=self.store,
                    registry=self.store,
                )
            ),
            delegated=delegated,
            clock=reactor,
            timeouts=config.timeouts,
            log_transitions=config.log_transitions,
            observers=observers,
        )
        self.expiry = ExpiryWatch(self.engine, reactor)
        self.ports: list[IListeningPort] = []
        self.pruning: LoopingCall | None = None

    def _embedded(self, device_id: str) -> bool:
        return device_id in self.clients.device_ids()

    def _manages(self, device_id: str) -> bool:
        """Whether a device is ours to delegate: in the DM device list or the embedded store."""
        return (self.dm is not None and self.dm.manages(device_id)) or self._embedded(device_id)

    def _client_changes(self, changes: JournaledClientChanges) -> IClientChanges:
        return changes if self.dm is None else DMClientChanges(changes)

    def privilegedStartService(self) -> None:
        config = self.config
        # The interface's own refusals are counted with the engine's, in the same registry.
        refusals = self.metrics
        resource = DelegationResource(
            self.engine.receive, self.registry, config.max_body, refusals=refusals
        )
        site = make_site(
            resource, config.path, config.max_body, reactor=self.reactor, refusals=refusals
        )
        for endpoint in config.listen:
            try:
                port = _now(
                    listen(
                        self.reactor,
                        endpoint,
                        self.server_tls,
                        site,
                        refusals=refusals,
                        max_connections=config.max_connections,
                    )
                )
            except Exception as e:
                self._close_ports()
                raise StartError(f"delegation.listen {endpoint!r}: {e}") from None
            self.ports.append(port)
            log.info(
                "delegation interface on {endpoint}{path}", endpoint=endpoint, path=config.path
            )
        admin_site = CommandLog(
            AdminGuard(
                Admin(
                    self.engine,
                    self.clients,
                    self.reactor,
                    metrics=self.metrics,
                    expiry=self.expiry,
                    session_for=self.session_for,
                    dm=self.dm,
                    peers=[p.server_id for p in config.peers],
                ),
                self.admin_token,
            ),
            parsePOSTFormSubmission=False,  # a body is the guard's to judge, never a form
        )
        admin_site.displayTracebacks = False
        admin_site.protocol = RefusingChannel  # type: ignore[assignment]
        admin_endpoint = admin_listen(config.admin)
        try:
            port = _now(
                serverFromString(self.reactor, admin_endpoint).listen(
                    ConnectionCap(admin_site, config.admin_max_connections, "admin API")
                )
            )
        except Exception as e:
            self._close_ports()
            raise StartError(f"admin.listen {config.admin!r}: {e}") from None
        self.ports.append(port)
        log.info("admin API on {endpoint}", endpoint=config.admin)
        if self.dm is not None:
            dm_site = self.dm.site()
            if dm_site.protocol is HTTPChannel:
                dm_site.protocol = RefusingChannel  # type: ignore[assignment]
            for endpoint in self.dm.config.listen:
                capped = ConnectionCap(dm_site, config.max_connections, f"DM listener {endpoint}")
                try:
                    port = _now(serverFromString(self.reactor, endpoint).listen(capped))
                except Exception as e:
                    self._close_ports()
                    raise StartError(f"dm.listen {endpoint!r}: {e}") from None
                self.ports.append(port)
                log.info(
                    "DM session endpoint on {endpoint}{path}",
                    endpoint=endpoint,
                    path=self.dm.config.path,
                )
        super().privilegedStartService()

    def startService(self) -> None:
        if self.json_log is not None:
            globalLogPublisher.addObserver(self.json_log)
        super().startService()
        self.purge_journals()  # before the engine resumes anything
        self.engine.start()
        self.expiry.start()
        self.pruning = LoopingCall(self.prune)
        self.pruning.clock = self.reactor
        self.pruning.start(PRUNE_EVERY, now=True)

    def purge_journals(self) -> None:
        """Keep the grant records of the delegations in force, and discard the undo journals of
        the other ended processes, with their secrets (`settle_journals`)."""
        if not isinstance(self.journals, SQLiteJournalStore):
            return
        try:
            settled = settle_journals(self.journals, self.store, self.engine.client_changes)
        except Exception as e:
            log.warn("undo journals not purged now: {error}", error=str(e).splitlines()[0])
            return
        if settled.discarded:
            log.info("discarded {n} undo journals of ended processes", n=len(settled.discarded))

    def prune(self) -> None:
        """Forget the sessions (and their message logs) that ended more than
        ``store.retention_days`` ago; a store out of reach is tried again next time."""
        self.purge_journals()
        try:
            n = self.store.prune(self.reactor.seconds() - self.config.retention)
        except Exception as e:
            log.warn("ended sessions not pruned now: {error}", error=str(e).splitlines()[0])
            return
        if n:
            log.info(
                "pruned {n} sessions ended over {days:g} days ago, with their message logs",
                n=n,
                days=self.config.retention / 86400,
            )

    def _close_ports(self) -> Deferred[Any]:
        ports, self.ports = self.ports, []
        return DeferredList([d for d in (p.stopListening() for p in ports) if d is not None])

    def stopService(self) -> Deferred[Any]:
        super().stopService()
        d = DeferredList([self._close_ports(), self.transport.close()])

        def closed(_: object) -> None:
            if self.pruning is not None and self.pruning.running:
                self.pruning.stop()
            self.expiry.stop()
            self.engine.stop()
            self.store.close()
            self.clients.close()
            self.journals.close()
            if self.dm is not None:
                self.dm.close()
            log.info("dmdelegation {server_id} stopped", server_id=self.config.server_id)
            if self.json_log is not None:
                globalLogPublisher.removeObserver(self.json_log)
                self.json_file.close()

        return d.addCallback(closed)
