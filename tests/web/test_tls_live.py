"""The TLS settings as a foreign client sees them, over a real socket: Python's own ssl module
(another OpenSSL build) in a thread, against the listening delegation interface."""

from __future__ import annotations

import socket
import ssl
import warnings

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from dmdelegation.lab import pki

from .certs import certs, temp_dir
from .serving import LogLines, Server, confirmed, post, serve


def _handshake(port: int, context: ssl.SSLContext) -> tuple[str, str | None, bytes]:
    """Connect, send one POST, return (TLS version, ALPN protocol, first bytes of the answer)."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(post(confirmed().encode()))
        answer = tls.recv(64)
        return str(tls.version()), tls.selected_alpn_protocol(), answer


class ForeignClient(TestCase):
    def setUp(self) -> Deferred[None]:  # type: ignore[override]
        self.log = LogLines(self)
        tmp = temp_dir(self)
        self.ca = tmp / "ca.crt"
        self.ca.write_bytes(pki.certificate_pem(certs().ca))
        self.crt, self.key = tmp / "peer.crt", tmp / "peer.key"
        self.crt.write_bytes(pki.certificate_pem(certs().peer))
        self.key.write_bytes(pki.key_pem(certs().peer))

        def ready(server: Server) -> None:
            self.server = server

        return serve(self, tmp).addCallback(ready)

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(self.ca)
        context.load_cert_chain(self.crt, self.key)
        return context

    async def test_tls13_and_http11_even_when_h2_is_offered(self) -> None:
        context = self.context()
        context.set_alpn_protocols(["h2", "http/1.1"])
        version, alpn, answer = await deferToThread(_handshake, self.server.port, context)
        assert (version, alpn) == ("TLSv1.3", "http/1.1")
        assert answer.startswith(b"HTTP/1.1 204")

    async def test_tls12_with_an_aead_suite_is_accepted(self) -> None:
        context = self.context()
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
        version, _, answer = await deferToThread(_handshake, self.server.port, context)
        assert version == "TLSv1.2"
        assert answer.startswith(b"HTTP/1.1 204")

    async def test_tls12_with_only_cbc_suites_is_refused(self) -> None:
        context = self.context()
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:AES128-SHA")
        with pytest.raises(ssl.SSLError, match=r"HANDSHAKE_FAILURE|handshake failure"):
            await deferToThread(_handshake, self.server.port, context)
        line = await self.log.wait_for("TLS handshake from")
        assert "no shared cipher" in line
        assert self.server.receive.calls == []

    async def test_tls11_is_refused(self) -> None:
        context = self.context()
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1_1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises(ssl.SSLError):
            await deferToThread(_handshake, self.server.port, context)
        line = await self.log.wait_for("TLS handshake from")
        assert "unsupported protocol" in line
        assert self.server.receive.calls == []
