"""Every hostile case of ``cases.py`` against a real daemon's mutual-TLS endpoint: the
documented status, nothing changed (sessions, delegation registry, outbox, what was sent, the
device trees), and a valid DELEGATION_REQ from a known peer answered 200 meanwhile (while the
hostile request is in progress) and afterwards; and in the daemon's metrics, every answer on
the wire counted once in ``dmdelegation_messages_total{direction="in"}`` with its status, and
the refusal counted once with its reason."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol, wrapClientTLS
from twisted.internet.protocol import Protocol
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from dmdelegation.ops.refusals import MALFORMED_HTTP, UNKNOWN_PATH, UNKNOWN_PEER, refusal_reason
from dmdelegation.protocol import DelegationResponse, decode
from tests.web.certs import certs, client_creator, temp_dir
from tests.web.serving import Exchange, exchange, post

from .cases import CASES, CUT, Case
from .server import (
    DEVICE2,
    PEER,
    SESSION,
    TIMEOUT,
    Daemon,
    answered_in,
    changes,
    counts,
    refusal,
    request_from,
    start,
    statuses,
)

CUT_WITHIN = 3 * TIMEOUT  # a connection to be cut must be cut by then (the client gives up)


def creator(client: str) -> Any:
    issued = {"peer": certs().peer, "pinned": certs().pinned, "stranger": certs().stranger}
    return client_creator(issued[client])


class Client(Protocol):
    """Sends ``parts`` at once, or (``trickle``) the first at once and the rest one byte every
    50 ms until all is sent or the connection is cut; collects the answer until it ends."""

    def __init__(self, parts: tuple[bytes, ...], trickle: bool) -> None:
        self.parts = parts[:1] if trickle else parts
        self.data = b"".join(parts[1:]) if trickle else b""
        self.trickle = trickle
        self.received: list[bytes] = []
        self.done: Deferred[Exchange] = Deferred()
        self.loop = LoopingCall(self._next)
        self.loop.clock = reactor

    def connectionMade(self) -> None:
        for part in self.parts:
            if part:
                self.transport.write(part)  # type: ignore[union-attr]
        if self.trickle:
            self.loop.start(0.05)

    def _next(self) -> None:
        if not self.data:
            self.loop.stop()
            return
        self.transport.write(self.data[:1])  # type: ignore[union-attr]
        self.data = self.data[1:]

    def dataReceived(self, data: bytes) -> None:
        self.received.append(data)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abortConnection()  # type: ignore[attr-defined]

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:  # noqa: B008
        if self.loop.running:
            self.loop.stop()
        self.done.callback(Exchange(b"".join(self.received), reason))


def send(daemon: Daemon, case: Case) -> Client:
    protocol = Client(case.parts, case.trickle)
    endpoint = wrapClientTLS(
        creator(case.client), TCP4ClientEndpoint(reactor, "127.0.0.1", daemon.port)
    )
    connectProtocol(endpoint, protocol).addErrback(protocol.done.errback)
    return protocol


async def served(daemon: Daemon) -> None:
    """A valid DELEGATION_REQ from a known peer, for another device, gets its 200 answer (the
    second time, as a replay, the same answer)."""
    alive = request_from(PEER, "hostile0alive000" + "c" * 16, device_id=DEVICE2)
    got = await exchange(daemon.port, creator("peer"), post(bytes(alive.encode())))
    assert got.status == 200, got.data[:300]
    assert decode(got.body) == DelegationResponse(
        reason_code=200, is_acknowledged=True, session_id=alive.session_id
    )


def expected_refusal(case: Case) -> str | None:
    """The reason the case's refusal is counted under (None: it is not refused)."""
    if case.expected in (200, 204):
        return None
    if case.expected is CUT:
        return refusal_reason(408)
    if case.framing:
        return MALFORMED_HTTP
    if case.client == "stranger":
        return UNKNOWN_PEER
    if case.expected == 404 and case.name.startswith("path_"):
        return UNKNOWN_PATH
    return refusal_reason(case.expected)


def without_device2(snapshot: tuple[Any, ...]) -> tuple[Any, ...]:
    """The snapshot without what the request that must still be served changes (DEVICE2)."""
    sessions, delegations, *rest = snapshot
    return (
        [s for s in sessions if s.device_id != DEVICE2],
        [d for d in delegations if d.device_id != DEVICE2],
        *rest,
    )


class HostileInput(TestCase):
    """One test per case, generated below from ``CASES``."""

    async def run_case(self, case: Case) -> None:
        daemon = await start(self, temp_dir(self))
        await daemon.reach(case.state)
        before = daemon.snapshot()
        counted = counts(daemon.metrics)
        client = send(daemon, case)
        give_up = reactor.callLater(CUT_WITHIN, client.abort)
        await served(daemon)  # while the hostile request is in progress
        got = await client.done
        in_time = give_up.active()
        if in_time:
            give_up.cancel()
        await daemon.settle()
        if case.expected is CUT:
            assert in_time, f"the connection was not cut within {CUT_WITHIN}s"
            assert got.status is None, got.data[:300]
        else:
            assert got.status == case.expected, got.data[:300]
        assert without_device2(daemon.snapshot()) == without_device2(before)
        if case.expected == 200:  # a replayed DELEGATION_REQ: the same answer as the first time
            assert decode(got.body) == DelegationResponse(
                reason_code=200, is_acknowledged=True, session_id=SESSION
            )
        elif got.status is not None and got.status >= 400 and not case.framing:
            assert got.headers[b"content-type"] == b"text/plain; charset=utf-8"
            assert got.body.strip(), "a refusal without a reason"
        await served(daemon)  # and after it
        # Counted: each answer the transport carried once, with its status, and the refusal.
        changed = changes(counted, counts(daemon.metrics))
        assert answered_in(changed) == Counter([200, 200, *statuses(got.data)])
        refusals = {key: n for key, n in changed.items() if key[0] == refusal("")[0]}
        reason = expected_refusal(case)
        assert refusals == ({refusal(reason): 1} if reason else {})


def _test(case: Case) -> Callable[[HostileInput], Coroutine[Any, Any, None]]:
    async def test(self: HostileInput) -> None:
        await self.run_case(case)

    test.__name__ = f"test_{case.name}"
    test.__doc__ = f"{case.name} ({case.state}): {case.expected or 'connection cut'}"
    if case.bug is not None:
        return pytest.mark.xfail(strict=True, reason=case.bug)(test)
    return test


for _case in CASES:
    setattr(HostileInput, f"test_{_case.name}", _test(_case))


def test_the_suite_has_at_least_60_distinct_cases() -> None:
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES)
    assert len({(c.state, c.parts, c.client, c.trickle) for c in CASES}) == len(CASES)
