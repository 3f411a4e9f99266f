"""Prometheus metrics of one engine, in a registry of its own (never the process-global one:
two daemons, or two engines in a test, never mix their counts).

===========================================  ==============================================
``dmdelegation_processes_total``             processes ended, by ``kind`` (process), ``role``
                                             and ``outcome``
``dmdelegation_processes_started_total``     processes begun, by ``kind`` and ``role``
``dmdelegation_open_sessions``               open sessions by ``role``, ``kind`` and ``state``
                                             (read from the store when scraped: exact after a
                                             restart)
``dmdelegation_messages_total``              messages by ``direction`` (in/out), ``type`` (root
                                             element) and HTTP ``status`` (0: no answer); in:
                                             every answer of the delegation interface, those
                                             it refused before the engine included (``type``
                                             one of the 14 roots, else ``unknown``)
``dmdelegation_refusals_total``              refusals by ``source`` (peer/operator) and
                                             ``reason``: the engine's (``unusable-content``,
                                             ``not-party``, ``unknown-session``, ``conflict``,
                                             ``unavailable``...) and the interface's own
                                             (``tls-handshake``, ``unknown-peer``,
                                             ``bad-method``, ``bad-media-type``,
                                             ``too-large``, ``unusable-content``,
                                             ``malformed-http``, ``unknown-path``,
                                             ``too-slow``), always from a closed set
``dmdelegation_peer_latency_seconds``        time to a peer's answer, by ``peer``
``dmdelegation_peer_retries_total``          attempts repeated, by ``peer``
``dmdelegation_rollbacks_total``             DM Clients being restored after a failure, by
                                             ``kind``
===========================================  ==============================================
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from zope.interface import implementer

from dmdelegation.engine.effects import ChangeClient, Effect, Finish, TreeChange
from dmdelegation.engine.model import Session
from dmdelegation.engine.observer import IEngineObserver
from dmdelegation.ops.refusals import (
    INTERFACE_REASONS,
    REFUSAL_REASONS,
    UNKNOWN_TYPE,
    IRequestRefusals,
    refusal_reason,
)
from dmdelegation.protocol import BY_ROOT
from dmdelegation.store.interfaces import ISessionStore


class _OpenSessions(Collector):
    def __init__(self, store: ISessionStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "dmdelegation_open_sessions",
            "Open sessions by role, process and state",
            labels=["role", "kind", "state"],
        )
        for (role, kind, state), n in sorted(self.store.count_open_by_state().items()):
            family.add_metric([role, kind, state], n)
        yield family


@implementer(IEngineObserver, IRequestRefusals)
class EngineMetrics:
    """An :class:`IEngineObserver` that counts, and the :class:`IRequestRefusals` of the
    delegation interface in front of the same engine (so that ``messages_total`` in is every
    answer the interface gave); :meth:`exposition` is what ``/metrics`` serves."""

    def __init__(self, store: ISessionStore) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.processes = Counter(
            "dmdelegation_processes",
            "Processes ended, by kind, role and outcome",
            ["kind", "role", "outcome"],
            registry=r,
        )
        self.started = Counter(
            "dmdelegation_processes_started",
            "Processes begun, by kind and role",
            ["kind", "role"],
            registry=r,
        )
        self.messages = Counter(
            "dmdelegation_messages",
            "Messages in and out by type and HTTP status (0: no answer)",
            ["direction", "type", "status"],
            registry=r,
        )
        self.refusals = Counter(
            "dmdelegation_refusals",
            "Refused commands and messages, by source and reason",
            ["source", "reason"],
            registry=r,
        )
        self.latency = Histogram(
            "dmdelegation_peer_latency_seconds",
            "Time to a peer's answer",
            ["peer"],
            registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.retries = Counter(
            "dmdelegation_peer_retries", "Attempts repeated, by peer", ["peer"], registry=r
        )
        self.rollbacks = Counter(
            "dmdelegation_rollbacks",
            "DM Clients being restored after a failed process, by kind",
            ["kind"],
            registry=r,
        )
        r.register(_OpenSessions(store))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    # IEngineObserver

    def transition(
        self, before: Session | None, after: Session, effects: tuple[Effect, ...]
    ) -> None:
        if before is None:
            self.started.labels(after.process.value, after.role.value).inc()
        for effect in effects:
            if isinstance(effect, Finish):
                self.processes.labels(
                    after.process.value, after.role.value, effect.outcome.value
                ).inc()
            elif isinstance(effect, ChangeClient) and effect.change is TreeChange.UNDO:
                self.rollbacks.labels(after.process.value).inc()

    def received(self, peer: str, root: str, status: int) -> None:
        self.messages.labels("in", root, str(status)).inc()

    def sent(self, peer: str, root: str, status: int, seconds: float, attempt: int) -> None:
        self.messages.labels("out", root, str(status)).inc()
        if status:
            self.latency.labels(peer).observe(seconds)

    def retrying(self, peer: str, root: str, attempt: int, delay: float) -> None:
        self.retries.labels(peer).inc()

    def refused(self, source: str, what: str, status: int) -> None:
        self.refusals.labels(source, refusal_reason(status)).inc()

    # IRequestRefusals

    def request_refused(self, reason: str, status: int, root: str) -> None:
        if reason not in INTERFACE_REASONS:  # a label from a closed set only
            reason = refusal_reason(status)
        self.refusals.labels("peer", reason).inc()
        if status:
            kind = root if root in BY_ROOT else UNKNOWN_TYPE
            self.messages.labels("in", kind, str(status)).inc()


__all__ = ["REFUSAL_REASONS", "EngineMetrics", "refusal_reason"]
