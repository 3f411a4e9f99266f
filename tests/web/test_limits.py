"""The request limits of make_site, in memory with a Clock: the body limit enforced while the
body arrives (never spilled to a file), and a request that must arrive whole in time."""

from __future__ import annotations

import io
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from dmdelegation.web.delegation import BoundedRequest, make_site

from .certs import registry
from .serving import LogLines, Recorder


class Limits(SynchronousTestCase):
    def setUp(self) -> None:
        from dmdelegation.web.delegation import DelegationResource

        self.clock = Clock()
        self.receive = Recorder()
        self.log = LogLines(self)  # type: ignore[arg-type]
        resource = DelegationResource(self.receive, registry(), 1024)
        self.site = make_site(resource, "/delegation", 1024, timeout=10, reactor=self.clock)
        self.site.startFactory()
        self.addCleanup(self.site.stopFactory)
        self.transport = StringTransport()
        self.channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        assert self.channel is not None
        self.channel.makeConnection(self.transport)

    def tearDown(self) -> None:
        self.channel.connectionLost(Failure(ConnectionDone()))

    def head(self, *lines: bytes) -> None:
        self.channel.dataReceived(b"\r\n".join([b"POST /delegation HTTP/1.1", *lines, b"", b""]))

    def test_the_body_is_kept_in_memory(self) -> None:
        self.head(b"Content-Length: 2000000")
        channel = getattr(self.channel, "_channel", self.channel)  # (h2 wrapper, if any)
        request = channel.requests[-1]  # the request being received
        assert isinstance(request, BoundedRequest)
        assert isinstance(request.content, io.BytesIO)

    def test_an_announced_length_over_the_limit_is_refused_at_once(self) -> None:
        self.head(b"Content-Type: application/vnd.dm.delegation+xml", b"Content-Length: 2000")
        answer = self.transport.value()
        assert answer.startswith(b"HTTP/1.1 413 Content Too Large\r\n"), answer
        assert b"Connection: close" in answer
        assert self.transport.disconnecting
        # what the client still sends is dropped, not stored
        self.channel.dataReceived(b"x" * 2000)
        assert self.transport.value() == answer
        assert self.receive.calls == []

    def test_a_chunked_body_is_refused_as_it_passes_the_limit(self) -> None:
        self.head(b"Transfer-Encoding: chunked")
        self.channel.dataReceived(b"400\r\n" + b"x" * 1024 + b"\r\n")
        assert self.transport.value() == b""  # exactly at the limit: still taken
        self.channel.dataReceived(b"1\r\nx\r\n")
        assert self.transport.value().startswith(b"HTTP/1.1 413 ")
        assert self.transport.disconnecting
        assert self.receive.calls == []

    def test_a_trickling_client_is_cut_off(self) -> None:
        """Each byte comes before the idle timeout would fire, but the request as a whole
        is not there within the timeout: the connection is aborted."""
        self.channel.dataReceived(b"POST /delegation HTTP/1.1\r\n")
        for byte in b"Content-Length: 10\r\n":
            self.clock.advance(9)
            if self.transport.disconnected:
                break
            self.channel.dataReceived(bytes([byte]))
        assert self.transport.disconnected  # aborted
        assert self.clock.seconds() <= 18
        assert "not received whole within 10s" in self.log.lines[-1]
        assert self.receive.calls == []

    def test_a_request_on_time_leaves_no_deadline_behind(self) -> None:
        self.head(b"Content-Type: text/plain", b"Content-Length: 2")
        assert [c for c in self.clock.getDelayedCalls() if "_too_slow" in repr(c)] != []
        self.channel.dataReceived(b"ab")
        assert b"415" in self.transport.value().split(b"\r\n")[0]
        assert not self.transport.disconnecting
        assert [c for c in self.clock.getDelayedCalls() if "_too_slow" in repr(c)] == []

    def test_the_idle_timeout_still_closes_a_silent_connection(self) -> None:
        self.clock.advance(10)
        assert self.transport.disconnecting

    def test_malformed_http_is_refused_with_a_log_line(self) -> None:
        self.channel.dataReceived(b"POST /delegation HTTP/1.1\r\nContent-Length: ten\r\n\r\n")
        assert self.transport.value().startswith(b"HTTP/1.1 400 Bad Request")
        assert self.transport.disconnecting
        (line,) = self.log.warnings()
        assert line.startswith("refused request from ")
        assert line.endswith(": 400 malformed HTTP (framing or syntax)")
        assert self.receive.calls == []

    def test_a_trickled_request_line_is_cut_at_the_site_timeout(self) -> None:
        for byte in b"POST /delegation?" + b"a" * 40:
            self.channel.dataReceived(bytes([byte]))
            self.clock.advance(0.5)  # well within the idle timeout each time
            if self.transport.disconnecting or getattr(self.transport, "aborted", False):
                break
        assert self.clock.seconds() <= 10.5
        assert any("not received whole within 10" in line for line in self.log.warnings())


class NoCertificate(SynchronousTestCase):
    """A request whose connection has no TLS certificate to read (plain TCP, or HTTP/2 where
    the request has no transport at all) is refused 403 before receive."""

    def test_a_request_without_transport_is_403(self) -> None:
        from twisted.web.test.requesthelper import DummyRequest

        from dmdelegation.web.delegation import DelegationResource

        from .serving import confirmed

        receive = Recorder()
        resource = DelegationResource(receive, registry(), 1024)
        request: Any = DummyRequest([b""])
        request.method, request.path = b"POST", b"/d"
        content_type = [b"application/vnd.dm.delegation+xml"]
        request.requestHeaders.setRawHeaders(b"Content-Type", content_type)
        request.content = io.BytesIO(confirmed().encode())
        request.transport = None  # as under HTTP/2
        body = resource.render(request)
        assert request.responseCode == 403
        assert body == b"no client certificate on this connection\n"
        assert receive.calls == []

    def test_a_plain_tcp_connection_is_403(self) -> None:
        from .serving import confirmed

        clock = Clock()
        receive = Recorder()
        from dmdelegation.web.delegation import DelegationResource

        site = make_site(DelegationResource(receive, registry(), 1024), "/d", 1024, reactor=clock)
        channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        assert channel is not None
        transport = StringTransport()
        channel.makeConnection(transport)
        body = confirmed().encode()
        channel.dataReceived(
            b"POST /d HTTP/1.1\r\nContent-Type: application/vnd.dm.delegation+xml\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        assert transport.value().startswith(b"HTTP/1.1 403 ")
        assert b"no client certificate on this connection" in transport.value()
        assert receive.calls == []
        channel.connectionLost(Failure(ConnectionDone()))


class RefusalsTold(SynchronousTestCase):
    """The site's refusals are told to its IRequestRefusals, once each."""

    def setUp(self) -> None:
        from dmdelegation.web.delegation import DelegationResource

        from .test_refusal_metrics import Told

        self.clock = Clock()
        self.told = Told()
        self.log = LogLines(self)  # type: ignore[arg-type]
        resource = DelegationResource(Recorder(), registry(), 1024, refusals=self.told)
        self.site = make_site(
            resource, "/delegation", 1024, timeout=10, reactor=self.clock, refusals=self.told
        )
        self.transport = StringTransport()
        self.channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        assert self.channel is not None
        self.channel.makeConnection(self.transport)

    def tearDown(self) -> None:
        self.channel.connectionLost(Failure(ConnectionDone()))

    def test_a_request_due_with_the_idle_timeout_is_too_slow_once(self) -> None:
        """The deadline and the idle timeout fall due together (the request's only bytes
        came at once): whichever fires first, the request is counted too slow, once."""
        self.channel.dataReceived(b"POST /delegation HTTP/1.1\r\nContent-Length: 10\r\n\r\n")
        self.clock.advance(10)
        assert self.told.told == [("too-slow", 0, "unknown")]
        assert sum("not received whole" in line for line in self.log.warnings()) == 1
        self.clock.advance(20)  # the idle timeout's abort, if any, tells nothing more
        assert self.told.told == [("too-slow", 0, "unknown")]

    def test_an_idle_connection_between_requests_is_no_refusal(self) -> None:
        self.channel.dataReceived(b"GET /delegation HTTP/1.1\r\nHost: x\r\n\r\n")
        assert self.told.told == [("bad-method", 405, "unknown")]
        self.clock.advance(10)
        assert self.transport.disconnecting  # closed for idleness...
        assert self.told.told == [("bad-method", 405, "unknown")]  # ...which refuses nothing

    def test_malformed_http_is_told_once(self) -> None:
        self.channel.dataReceived(b"POST /delegation HTTP/1.1\r\nContent-Length: ten\r\n\r\n")
        assert self.transport.value().startswith(b"HTTP/1.1 400 Bad Request")
        assert self.told.told == [("malformed-http", 400, "unknown")]

    def test_a_body_refused_while_it_arrives(self) -> None:
        self.channel.dataReceived(b"POST /delegation HTTP/1.1\r\nContent-Length: 5000\r\n\r\n")
        assert self.transport.value().startswith(b"HTTP/1.1 413 ")
        assert self.told.told == [("too-large", 413, "unknown")]
