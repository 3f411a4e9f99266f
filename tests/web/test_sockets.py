"""The delegation interface over real mutual-TLS sockets on 127.0.0.1: every refusal, at the TLS
layer and at the HTTP layer, with its status, its one log line, and receive() never called when
the refusal comes before it."""

from __future__ import annotations

from cryptography import x509
from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from dmdelegation.protocol import decode
from dmdelegation.protocol.examples import EXAMPLES
from dmdelegation.store.interfaces import StoreUnavailable
from dmdelegation.web.peers import PeerRegistry

from .certs import PEER, PINNED, certs, client_creator, peer_configs, temp_dir
from .serving import (
    OUT_OF_ORDER,
    UNKNOWN_SESSION,
    Exchange,
    LogLines,
    Server,
    confirmed,
    delegation_request,
    exchange,
    post,
    serve,
)

REQUEST = delegation_request(PEER)
CONFIRMED = confirmed()


class SocketTest(TestCase):
    def setUp(self) -> Deferred[None]:  # type: ignore[override]
        self.log = LogLines(self)
        d = serve(self, temp_dir(self))

        def ready(server: Server) -> None:
            self.server = server

        return d.addCallback(ready)

    def send(self, *parts: bytes, client: object = "peer") -> Deferred[Exchange]:
        issued = {"peer": certs().peer, "pinned": certs().pinned, "none": None}.get(
            str(client), client
        )
        return exchange(self.server.port, client_creator(issued), *parts)  # type: ignore[arg-type]

    def assert_not_received(self) -> None:
        assert self.server.receive.calls == []


class TLSRefusals(SocketTest):
    """Refused at the handshake: no HTTP answer at all, and a log line with the reason."""

    async def refused(self, client: object, why: str) -> None:
        got = await self.send(post(REQUEST.encode()), client=client)
        assert got.status is None, got.data[:200]
        line = await self.log.wait_for("TLS handshake from")
        assert why in line
        self.assert_not_received()

    async def test_no_client_certificate(self) -> None:
        await self.refused("none", "peer did not return a certificate")

    async def test_certificate_of_an_unknown_ca(self) -> None:
        await self.refused(certs().foreign, "unknown CA")

    async def test_expired_certificate(self) -> None:
        await self.refused(certs().expired, "certificate has expired")

    async def test_certificate_not_yet_valid(self) -> None:
        await self.refused(certs().not_yet_valid, "certificate is not yet valid")


class HTTPRefusals(SocketTest):
    async def answer(self, *parts: bytes, client: object = "peer") -> Exchange:
        got = await self.send(*parts, client=client)
        assert got.status is not None, got.data[:200]
        return got

    def assert_refusal(self, got: Exchange, status: int, fragment: str) -> None:
        assert got.status == status, got.data
        assert got.headers[b"content-type"] == b"text/plain; charset=utf-8"
        assert fragment in got.body.decode()
        lines = [line for line in self.log.warnings() if f": {status} " in line]
        assert len(lines) == 1, self.log.lines
        assert fragment in lines[0]

    async def test_a_known_peer_gets_its_answer(self) -> None:
        got = await self.answer(post(REQUEST.encode()))
        assert got.status == 200
        assert got.headers[b"content-type"] == b"application/vnd.dm.delegation+xml"
        assert decode(got.body).session_id == REQUEST.session_id  # type: ignore[attr-defined]
        assert self.server.receive.calls == [(PEER, REQUEST)]
        assert self.server.receive.bodies == [REQUEST.encode()]  # as it came, for the log
        assert self.log.warnings() == []

    async def test_charset_parameter_is_accepted_and_async_message_gets_204(self) -> None:
        ct = b"application/vnd.dm.delegation+xml; charset=UTF-8"
        got = await self.answer(post(CONFIRMED.encode(), content_type=ct))
        assert got.status == 204
        assert got.body == b""
        assert self.server.receive.calls == [(PEER, CONFIRMED)]

    async def test_a_pinned_peer_is_recognised(self) -> None:
        request = delegation_request(PINNED)
        got = await self.answer(post(request.encode()), client="pinned")
        assert got.status == 200
        assert self.server.receive.calls == [(PINNED, request)]

    async def test_certificate_of_no_peer_is_403(self) -> None:
        got = await self.answer(post(REQUEST.encode()), client=certs().stranger)
        self.assert_refusal(got, 403, "not that of a known peer")
        self.assert_not_received()

    async def test_server_id_of_another_server_is_403_from_receive(self) -> None:
        other = delegation_request(PINNED)
        got = await self.answer(post(other.encode()))
        assert got.status == 403
        assert "is not the sender" in got.body.decode()
        assert self.server.receive.calls == [(PEER, other)]

    async def test_wrong_method_is_405_with_allow(self) -> None:
        got = await self.answer(post(b"", method=b"GET"))
        self.assert_refusal(got, 405, "method GET not allowed")
        assert got.headers[b"allow"] == b"POST"
        self.assert_not_received()

    async def test_put_is_405_too(self) -> None:
        got = await self.answer(post(REQUEST.encode(), method=b"PUT"))
        self.assert_refusal(got, 405, "method PUT not allowed")
        self.assert_not_received()

    async def test_wrong_content_type_is_415(self) -> None:
        got = await self.answer(post(REQUEST.encode(), content_type=b"application/xml"))
        self.assert_refusal(got, 415, "content type must be")
        self.assert_not_received()

    async def test_missing_content_type_is_415(self) -> None:
        got = await self.answer(post(REQUEST.encode(), content_type=None))
        self.assert_refusal(got, 415, "content type must be")
        self.assert_not_received()

    async def test_other_charset_is_415(self) -> None:
        ct = b"application/vnd.dm.delegation+xml; charset=latin-1"
        got = await self.answer(post(REQUEST.encode(), content_type=ct))
        self.assert_refusal(got, 415, "content type must be")
        self.assert_not_received()

    async def test_announced_oversized_body_is_413_before_it_arrives(self) -> None:
        head = (
            b"POST /delegation HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/vnd.dm.delegation+xml\r\n"
            b"Content-Length: 50000000\r\n\r\n"
        )
        got = await self.answer(head, b"<" * 1000)  # never sends the rest: not waited for
        self.assert_refusal(got, 413, "body of 50000000 bytes announced; the limit is 4096")
        assert got.headers[b"connection"] == b"close"
        self.assert_not_received()

    async def test_chunked_oversized_body_is_413_as_it_passes_the_limit(self) -> None:
        head = (
            b"POST /delegation HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/vnd.dm.delegation+xml\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"%x\r\n%s\r\n" % (1000, b"x" * 1000)
        # 5 chunks of 1000 pass the 4096 limit; the terminating chunk is never sent
        got = await self.answer(head, chunk * 5)
        self.assert_refusal(got, 413, "body larger than the limit of 4096 bytes")
        self.assert_not_received()

    async def test_chunked_body_within_the_limit_is_taken(self) -> None:
        body = REQUEST.encode()
        head = (
            b"POST /delegation HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            b"Content-Type: application/vnd.dm.delegation+xml\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        got = await self.answer(head, b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        assert got.status == 200
        assert self.server.receive.calls == [(PEER, REQUEST)]
        assert self.server.receive.bodies == [body]

    async def test_not_xml_is_400(self) -> None:
        got = await self.answer(post(b"this is not XML"))
        self.assert_refusal(got, 400, "")
        self.assert_not_received()

    async def test_schema_invalid_body_is_400(self) -> None:
        body = REQUEST.encode().replace(b"<deviceMan>Acme</deviceMan>", b"")
        got = await self.answer(post(body))
        self.assert_refusal(got, 400, "deviceMan")
        self.assert_not_received()

    async def test_a_dtd_is_refused_400(self) -> None:
        body = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><DELEGATION_REQ/>'
        got = await self.answer(post(body))
        self.assert_refusal(got, 400, "document type declarations (DOCTYPE) are refused")
        self.assert_not_received()

    async def test_a_body_not_in_utf8_gets_decodes_415(self) -> None:
        body = REQUEST.encode().replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"')
        got = await self.answer(post(body))
        self.assert_refusal(got, 415, "only UTF-8 is accepted")
        self.assert_not_received()

    async def test_a_refused_secret_is_never_repeated(self) -> None:
        secret = "s3cr3t" * 100  # over the AAuthSecret limit: the body is refused
        body = (
            EXAMPLES["BOOTSTRAP_CONFIRMED"]
            .encode()
            .replace(b"example-server-secret", secret.encode())
        )
        got = await self.answer(post(body))
        assert got.status == 400
        assert b"s3cr3t" not in got.data
        assert not any("s3cr3t" in line for line in self.log.lines)
        self.assert_not_received()

    async def test_unknown_session_is_404_from_receive(self) -> None:
        message = confirmed(UNKNOWN_SESSION)
        got = await self.answer(post(message.encode()))
        assert got.status == 404
        assert "unknown session" in got.body.decode()
        assert self.server.receive.calls == [(PEER, message)]

    async def test_out_of_order_is_409_from_receive(self) -> None:
        message = confirmed(OUT_OF_ORDER)
        got = await self.answer(post(message.encode()))
        assert got.status == 409
        assert "out of order" in got.body.decode()
        assert self.server.receive.calls == [(PEER, message)]

    async def test_another_path_is_404(self) -> None:
        got = await self.answer(post(REQUEST.encode(), path=b"/other"))
        self.assert_refusal(got, 404, "no such resource")
        self.assert_not_received()

    async def test_an_unexpected_failure_is_a_generic_500(self) -> None:
        self.server.receive.raise_instead = RuntimeError("internal detail hunter2")
        got = await self.answer(post(REQUEST.encode()))
        assert got.status == 500
        assert b"hunter2" not in got.data
        assert "internal error" in got.body.decode()
        assert len(self.flushLoggedErrors(RuntimeError)) == 1

    async def test_a_store_out_of_reach_is_503_not_now(self) -> None:
        """The database is down (restarting, say): the peer is told to try again, and not
        where the database is."""
        self.server.receive.raise_instead = StoreUnavailable(
            "the PostgreSQL store of instance a at postgresql://u:***@db.internal/dm: ..."
        )
        got = await self.answer(post(REQUEST.encode()))
        assert got.status == 503
        assert b"db.internal" not in got.data
        assert "try again" in got.body.decode()
        assert self.flushLoggedErrors() == []


class CountingRegistry(PeerRegistry):
    def __init__(self) -> None:
        super().__init__(peer_configs())
        self.identified = 0

    def identify(self, certificate: x509.Certificate) -> str | None:
        self.identified += 1
        return super().identify(certificate)


class IdentityPerConnection(TestCase):
    """The peer's identity is read once per connection (no renegotiation can change it)."""

    async def test_two_requests_on_one_connection_are_identified_once(self) -> None:
        peers = CountingRegistry()
        server = await serve(self, temp_dir(self), peers=peers)
        first = post(REQUEST.encode()).replace(b"Connection: close\r\n", b"")
        got = await exchange(
            server.port, client_creator(certs().peer), first + post(CONFIRMED.encode())
        )
        assert got.data.count(b"HTTP/1.1 200 OK") == 1
        assert got.data.count(b"HTTP/1.1 204 No Content") == 1
        assert server.receive.calls == [(PEER, REQUEST), (PEER, CONFIRMED)]
        assert peers.identified == 1
        await exchange(server.port, client_creator(certs().peer), post(CONFIRMED.encode()))
        assert peers.identified == 2
