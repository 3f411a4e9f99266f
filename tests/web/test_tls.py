"""The TLS settings and the client policy without sockets, and the TLS wiring of listen()
once, in memory (a loopback through iosim)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from OpenSSL import SSL
from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase

from dmdelegation.daemon.config import PeerConfig, TLSConfig
from dmdelegation.lab import pki
from dmdelegation.web.delegation import peer_certificate
from dmdelegation.web.peers import PeerRegistry
from dmdelegation.web.tls import (
    ClientTLSPolicy,
    PeerIdentityError,
    listen,
    load_identity,
    server_options,
)

from .certs import PEER, PINNED, US, certs, peer_configs, temp_dir, write_tls

# ---------------------------------------------------------------- load_identity


def test_load_identity_reads_certificate_and_key(tmp_path: Path) -> None:
    identity = load_identity(write_tls(tmp_path, certs().us))
    assert identity.certificate == certs().us.certificate
    assert identity.chain == ()


def test_a_missing_key_is_named(tmp_path: Path) -> None:
    tls = write_tls(tmp_path, certs().us)
    tls.key.unlink()
    with pytest.raises(ValueError, match=r"^tls\.key: cannot read .*server\.key"):
        load_identity(tls)


def test_an_unreadable_key_is_named(tmp_path: Path) -> None:
    tls = write_tls(tmp_path, certs().us)
    tls.key.unlink()
    tls.key.mkdir()  # unreadable as a file, whoever we run as
    with pytest.raises(ValueError, match=r"^tls\.key: cannot read .*: Is a directory"):
        load_identity(tls)


def test_a_mismatched_key_is_refused_without_showing_it(tmp_path: Path) -> None:
    tls = write_tls(tmp_path, certs().us)
    other = pki.key_pem(certs().peer)
    tls.key.write_bytes(other)
    with pytest.raises(ValueError, match="does not match the certificate") as caught:
        load_identity(tls)
    secret_lines = other.decode().splitlines()[1:-1]
    assert not any(line in str(caught.value) for line in secret_lines)


def test_a_key_that_is_not_pem_is_refused_without_showing_it(tmp_path: Path) -> None:
    tls = write_tls(tmp_path, certs().us)
    tls.key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END")
    with pytest.raises(ValueError, match="holds no usable PEM private key") as caught:
        load_identity(tls)
    assert "c2VjcmV0" not in str(caught.value)


def test_a_certificate_file_without_certificate_is_named(tmp_path: Path) -> None:
    tls = write_tls(tmp_path, certs().us)
    tls.certificate.write_bytes(b"nothing here")
    with pytest.raises(ValueError, match=r"^tls\.certificate: .* holds no PEM certificate"):
        load_identity(tls)


def test_a_bad_ca_file_is_named(tmp_path: Path) -> None:
    tls = write_tls(tmp_path, certs().us)
    tls.ca[0].write_bytes(b"")
    with pytest.raises(ValueError, match=r"^tls\.ca\[0\]: "):
        server_options(tls)


# ---------------------------------------------------------------- the settings


def _options_bits(context: SSL.Context) -> int:
    return int(context.set_options(0))  # SSL_CTX_set_options returns the options in force


def test_server_offers_only_aead_suites_tls12_or_later_no_renegotiation(tmp_path: Path) -> None:
    context = server_options(write_tls(tmp_path, certs().us)).getContext()
    bits = _options_bits(context)  # before a Connection freezes the context
    ciphers = SSL.Connection(context).get_cipher_list()
    assert ciphers
    for name in ciphers:
        assert re.search(r"GCM|CHACHA20", name), name
        assert name.startswith(("TLS_", "ECDHE-")), name
    for flag in (SSL.OP_NO_TLSv1, SSL.OP_NO_TLSv1_1, SSL.OP_NO_RENEGOTIATION, SSL.OP_NO_TICKET):
        assert bits & flag == flag
    assert not bits & SSL.OP_NO_TLSv1_2
    assert not bits & SSL.OP_NO_TLSv1_3
    mode = context.get_verify_mode()
    assert mode & SSL.VERIFY_PEER
    assert mode & SSL.VERIFY_FAIL_IF_NO_PEER_CERT


# ---------------------------------------------------------------- the policy's choice


def _policy(tmp_path: Path, registry: PeerRegistry | None = None) -> ClientTLSPolicy:
    registry = registry or PeerRegistry(
        peer_configs(
            {
                PEER: "https://localhost:8443/delegation",
                PINNED: "https://127.0.0.1:9443/delegation",
            }
        )
    )
    return ClientTLSPolicy(write_tls(tmp_path / "client", certs().us), registry)


def test_a_named_peer_is_checked_by_name_a_pinned_one_by_pin(tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    named = policy.creatorForNetloc(b"localhost", 8443)
    pinned = policy.creatorForNetloc(b"127.0.0.1", 9443)
    assert (named.peer.server_id, named.check) == (PEER, "name")  # type: ignore[attr-defined]
    assert (pinned.peer.server_id, pinned.check) == (PINNED, "pin")  # type: ignore[attr-defined]
    assert policy.creatorForNetloc(b"LOCALHOST", 8443) is named  # one context per peer


def test_the_policy_refuses_an_address_that_is_no_peer(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no peer is configured at localhost:443"):
        _policy(tmp_path).creatorForNetloc(b"localhost", 443)


def test_the_pin_accepts_only_its_certificate(tmp_path: Path) -> None:
    creator = _policy(tmp_path).creatorForNetloc(b"127.0.0.1", 9443)
    assert creator.accepts(certs().pinned.certificate)  # type: ignore[attr-defined]
    assert not creator.accepts(certs().peer.certificate)  # type: ignore[attr-defined]


def test_a_named_peer_must_also_be_recognised_by_the_registry(tmp_path: Path) -> None:
    creator = _policy(tmp_path).creatorForNetloc(b"localhost", 8443)
    assert creator.accepts(certs().peer.certificate)  # type: ignore[attr-defined]
    assert not creator.accepts(certs().stranger.certificate)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- the wiring, in memory


class _Recorder(Protocol):
    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.lost: Failure | None = None

    def dataReceived(self, data: bytes) -> None:
        self.data.append(data)

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:  # noqa: B008
        self.lost = reason


class Loopback(SynchronousTestCase):
    """listen() wraps a factory in mutual TLS; a ClientTLSPolicy connection goes through it
    when both certificates are right, and fails on the side that refuses otherwise."""

    def connect(
        self, server_is: pki.Issued, client_tls: TLSConfig, peers: PeerRegistry
    ) -> tuple[_Recorder, _Recorder, object, object]:
        reactor = MemoryReactorClock()
        apps: list[_Recorder] = []

        def app() -> _Recorder:
            apps.append(_Recorder())
            return apps[-1]

        factory = Factory.forProtocol(app)
        tls = write_tls(temp_dir(self) / "server", server_is)
        port = listen(reactor, "tcp:8443:interface=127.0.0.1", server_options(tls), factory)
        self.successResultOf(port)
        wrapped = reactor.tcpServers[0][1]
        address = IPv4Address("TCP", "127.0.0.1", 8443)
        policy = ClientTLSPolicy(client_tls, peers)
        client_app = _Recorder()
        client_factory = TLSMemoryBIOFactory(
            policy.creatorForNetloc(b"localhost", 8443),
            True,
            Factory.forProtocol(lambda: client_app),
            clock=reactor,
        )
        client, server, pump = connectedServerAndClient(
            lambda: wrapped.buildProtocol(address),
            lambda: client_factory.buildProtocol(address),
            clock=reactor,
        )
        client.write(b"hello")
        pump.flush()
        return apps[0], client_app, server, client

    def peers(self, **pin: str) -> PeerRegistry:
        return PeerRegistry(
            [
                PeerConfig(
                    server_id=PEER,
                    url="https://localhost:8443/delegation",
                    name="localhost",
                    pin_sha256=pin.get("pin"),
                )
            ]
        )

    def test_a_mutual_tls_connection_knows_both_ends(self) -> None:
        client_tls = write_tls(temp_dir(self) / "client", certs().us)
        server_app, client_app, _, _ = self.connect(certs().peer, client_tls, self.peers())
        assert b"".join(server_app.data) == b"hello"
        assert client_app.lost is None
        # the server side learns the client's certificate from its transport, as the
        # resource does (the request's transport is the application's transport)

        class FakeRequest:
            transport = server_app.transport

        seen = peer_certificate(FakeRequest())  # type: ignore[arg-type]
        assert seen == certs().us.certificate

    def test_the_client_refuses_a_server_that_is_not_the_peer(self) -> None:
        client_tls = write_tls(temp_dir(self) / "client", certs().us)
        server_app, client_app, _, _ = self.connect(certs().stranger, client_tls, self.peers())
        assert server_app.data == []
        assert client_app.lost is not None
        assert client_app.lost.check(PeerIdentityError)

    def test_the_client_refuses_a_server_that_is_not_the_pinned_one(self) -> None:
        client_tls = write_tls(temp_dir(self) / "client", certs().us)
        pin = pki.fingerprint(certs().pinned.certificate)
        server_app, client_app, _, _ = self.connect(certs().peer, client_tls, self.peers(pin=pin))
        assert server_app.data == []
        assert client_app.lost is not None
        assert client_app.lost.check(PeerIdentityError)

    def test_the_pinned_server_is_accepted(self) -> None:
        client_tls = write_tls(temp_dir(self) / "client", certs().us)
        pin = pki.fingerprint(certs().peer.certificate)
        server_app, _, _, _ = self.connect(certs().peer, client_tls, self.peers(pin=pin))
        assert b"".join(server_app.data) == b"hello"

    def test_the_server_refuses_a_client_of_a_foreign_ca(self) -> None:
        client_tls = write_tls(temp_dir(self) / "client", certs().foreign, certs().ca)
        server_app, client_app, _, _ = self.connect(certs().peer, client_tls, self.peers())
        assert server_app.data == []
        assert server_app.lost is not None
        assert client_app.lost is not None
        assert server_app.lost.check(SSL.Error)


def test_listen_refuses_a_tls_endpoint_string() -> None:
    with pytest.raises(ValueError, match="give a plain endpoint"):
        listen(MemoryReactorClock(), "ssl:8443", None, Factory())  # type: ignore[arg-type]


_ = US
