"""The delegation interface's own refusals in the daemon's metrics, over real mutual-TLS sockets
on 127.0.0.1 against a real engine (tests.hostile.server, wired as service.py is): each kind
sent once, and exactly its counters moved (``refusals_total{source="peer"}`` with its reason,
and ``messages_total{direction="in"}`` with its status when an HTTP answer went out), nothing
else."""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from twisted.web.test.requesthelper import DummyRequest
from zope.interface import implementer
from zope.interface.verify import verifyObject

from dmdelegation.ops.metrics import EngineMetrics
from dmdelegation.ops.refusals import IRequestRefusals
from dmdelegation.store.sessions import SessionStore
from dmdelegation.web.delegation import DelegationResource
from tests.hostile.cases import BILLION_LAUGHS, CONFIRMED, HEAD, message, raw
from tests.hostile.server import (
    Count,
    Daemon,
    answered_in,
    changes,
    counts,
    message_in,
    refusal,
    request_from,
    start,
    statuses,
)

from .certs import PEER, certs, client_creator, registry, temp_dir
from .serving import Exchange, LogLines, Recorder, exchange, post

REQUEST = bytes(request_from(PEER).encode())


def only(reason: str, status: int = 0, root: str = "unknown") -> dict[Count, float]:
    """The change one refusal makes: its reason, and the answer if one went out."""
    expected = {refusal(reason): 1.0}
    if status:
        expected[message_in(root, status)] = 1.0
    return expected


class Counted(TestCase):
    async def setUp(self) -> None:  # type: ignore[override]
        self.log = LogLines(self)
        self.daemon: Daemon = await start(self, temp_dir(self))

    async def send(self, *parts: bytes, client: Any = None) -> tuple[Exchange, dict[Count, float]]:
        """Send ``parts`` (as PEER unless another certificate or None is given); what came
        back, and what changed in the metrics meanwhile."""
        before = counts(self.daemon.metrics)
        issued = certs().peer if client is None else client
        got = await exchange(self.daemon.port, client_creator(issued or None), *parts)
        await self.daemon.settle()
        return got, changes(before, counts(self.daemon.metrics))


class HTTPRefusals(Counted):
    async def test_wrong_method(self) -> None:
        got, changed = await self.send(post(CONFIRMED, method=b"PUT"))
        assert got.status == 405
        assert changed == only("bad-method", 405, "DELEGATION_CONFIRMED")

    async def test_get_without_a_body(self) -> None:
        got, changed = await self.send(post(b"", method=b"GET"))
        assert got.status == 405
        assert changed == only("bad-method", 405)

    async def test_wrong_content_type(self) -> None:
        got, changed = await self.send(post(CONFIRMED, content_type=b"application/xml"))
        assert got.status == 415
        assert changed == only("bad-media-type", 415, "DELEGATION_CONFIRMED")

    async def test_a_document_not_in_utf8(self) -> None:
        body = CONFIRMED.replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"')
        assert body != CONFIRMED
        got, changed = await self.send(post(body))
        assert got.status == 415
        assert changed == only("bad-media-type", 415, "DELEGATION_CONFIRMED")

    async def test_an_announced_body_too_large(self) -> None:
        got, changed = await self.send(raw(HEAD + b"\nContent-Length: 70000", b"<" * 1000))
        assert got.status == 413
        assert changed == only("too-large", 413)

    async def test_a_chunked_body_too_large(self) -> None:
        chunks = b"%x\r\n%s\r\n" % (8000, b"x" * 8000) * 10
        got, changed = await self.send(raw(HEAD + b"\nTransfer-Encoding: chunked", chunks))
        assert got.status == 413
        assert changed == only("too-large", 413)

    async def test_a_certificate_of_no_known_peer(self) -> None:
        got, changed = await self.send(post(CONFIRMED), client=certs().stranger)
        assert got.status == 403
        assert changed == only("unknown-peer", 403, "DELEGATION_CONFIRMED")

    async def test_not_xml(self) -> None:
        got, changed = await self.send(post(b"this is not XML"))
        assert got.status == 400
        assert changed == only("unusable-content", 400)

    async def test_a_schema_invalid_request(self) -> None:
        body = REQUEST.replace(b"<deviceMan>Acme</deviceMan>", b"")
        assert body != REQUEST
        got, changed = await self.send(post(body))
        assert got.status == 400
        assert changed == only("unusable-content", 400, "DELEGATION_REQ")

    async def test_entity_expansion(self) -> None:
        got, changed = await self.send(post(BILLION_LAUGHS))
        assert got.status == 400
        assert changed == only("unusable-content", 400)

    async def test_a_root_of_no_message_is_not_a_label(self) -> None:
        body = b"<EVIL_ROOT_x1y2>" + CONFIRMED.split(b"?>", 1)[1] + b"</EVIL_ROOT_x1y2>"
        got, changed = await self.send(post(body))
        assert got.status == 400
        assert changed == only("unusable-content", 400)
        assert b"EVIL_ROOT" not in self.daemon.metrics.exposition()

    async def test_another_path(self) -> None:
        got, changed = await self.send(post(CONFIRMED, path=b"/other"))
        assert got.status == 404
        assert changed == only("unknown-path", 404, "DELEGATION_CONFIRMED")

    async def test_malformed_http(self) -> None:
        got, changed = await self.send(raw(HEAD + b"\nContent-Length: ten", CONFIRMED))
        assert got.status == 400
        assert changed == only("malformed-http", 400)

    async def test_a_request_not_whole_in_time(self) -> None:
        got, changed = await self.send(raw(HEAD + b"\nContent-Length: 10"))
        assert got.status is None  # cut, no answer
        assert changed == only("too-slow")

    async def test_a_refusal_of_the_engine_is_counted_once(self) -> None:
        got, changed = await self.send(post(message("DELEGATION_CONFIRMED", "0" * 32)))
        assert got.status == 404
        assert changed == only("unknown-session", 404, "DELEGATION_CONFIRMED")


class TLSRefusals(Counted):
    """Refused at the handshake: no HTTP answer, so no message; one tls-handshake refusal."""

    async def refused(self, client: Any) -> None:
        before = counts(self.daemon.metrics)
        got = await exchange(self.daemon.port, client_creator(client), post(CONFIRMED))
        assert got.status is None, got.data[:200]
        await self.log.wait_for("TLS handshake from")
        await deferLater(reactor, 0, lambda: None)  # the refusal is told after its log line
        assert changes(before, counts(self.daemon.metrics)) == only("tls-handshake")

    async def test_no_client_certificate(self) -> None:
        await self.refused(None)

    async def test_certificate_of_an_unknown_ca(self) -> None:
        await self.refused(certs().foreign)

    async def test_expired_certificate(self) -> None:
        await self.refused(certs().expired)


class TheTransportAndTheCounts(Counted):
    async def test_messages_in_are_what_the_transport_carried(self) -> None:
        """Answers of the engine and refusals of the interface, in one run: every answer on
        the wire is counted once in messages_total{direction="in"}, with its status."""
        before = counts(self.daemon.metrics)
        sent = [
            (post(REQUEST), None),
            (post(REQUEST), None),  # a replay: the same answer
            (post(CONFIRMED, method=b"PUT"), None),
            (post(CONFIRMED, content_type=b"text/xml"), None),
            (raw(HEAD + b"\nContent-Length: 70000", b"<"), None),
            (post(CONFIRMED), certs().stranger),
            (post(b"<nope/>"), None),
            (post(CONFIRMED, path=b"/x"), None),
            (raw(HEAD + b"\nContent-Length: -1", CONFIRMED), None),
            (post(message("DELEGATION_CONFIRMED", "1" * 32)), None),
        ]
        carried: Counter[int] = Counter()
        for parts, client in sent:
            got = await exchange(self.daemon.port, client_creator(client or certs().peer), parts)
            carried.update(statuses(got.data))
        await self.daemon.settle()
        changed = changes(before, counts(self.daemon.metrics))
        assert sum(carried.values()) == len(sent)
        assert answered_in(changed) == carried
        assert carried == Counter({200: 2, 405: 1, 415: 1, 413: 1, 403: 1, 400: 2, 404: 2})
        refused = sum(n for key, n in changed.items() if key[0] == refusal("")[0])
        assert refused == len(sent) - 2


@implementer(IRequestRefusals)
class Told:
    """A host's own observer of the interface's refusals."""

    def __init__(self, fail: bool = False) -> None:
        self.told: list[tuple[str, int, str]] = []
        self.fail = fail

    def request_refused(self, reason: str, status: int, root: str) -> None:
        self.told.append((reason, status, root))
        if self.fail:
            raise RuntimeError("observer down")


def refused_put(refusals: IRequestRefusals) -> tuple[Any, bytes | int]:
    resource = DelegationResource(Recorder(), registry(), 1024, refusals=refusals)
    request: Any = DummyRequest([b""])
    request.method, request.path = b"PUT", b"/delegation"
    request.content = io.BytesIO(CONFIRMED)
    return request, resource.render(request)


class TheSeam(TestCase):
    def test_implementers(self) -> None:
        store = SessionStore(temp_dir(self) / "s.sqlite3")
        self.addCleanup(store.close)
        assert verifyObject(IRequestRefusals, EngineMetrics(store))
        assert verifyObject(IRequestRefusals, Told())

    def test_a_host_plugs_its_own(self) -> None:
        told = Told()
        request, _ = refused_put(told)
        assert request.responseCode == 405
        assert told.told == [("bad-method", 405, "DELEGATION_CONFIRMED")]

    def test_a_failing_observer_does_not_change_the_answer(self) -> None:
        told = Told(fail=True)
        request, body = refused_put(told)
        assert request.responseCode == 405
        assert body == b"method PUT not allowed\n"
        assert len(told.told) == 1
        assert len(self.flushLoggedErrors(RuntimeError)) == 1
