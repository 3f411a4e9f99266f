"""Mutual TLS, both ways: the listening side of the delegation interface and the client policy.

Settings (both directions): TLS 1.2 with ECDHE key exchange and AEAD suites only (AES-GCM,
ChaCha20-Poly1305), or TLS 1.3; no CBC suite, no renegotiation, no session cache or tickets
(Twisted's defaults), ALPN offering ``http/1.1`` only (never ``h2``). The server demands a client
certificate chained to one of ``tls.ca``; the client checks the server's certificate against the
same CAs and, through :class:`~dmdelegation.web.peers.PeerRegistry`, that it is the peer it meant
to reach (or, for a pinned peer, that it is the pinned certificate).

An ``ssl:`` endpoint string cannot demand client certificates, so :func:`listen` wraps any
plain endpoint (``tcp:``, ``unix:``...) in TLS itself, and logs every refused handshake with its
reason (``tls.md`` lists them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from OpenSSL import SSL
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import (
    IHandshakeListener,
    IListeningPort,
    IOpenSSLClientConnectionCreator,
    IProtocolFactory,
    IReactorTime,
)
from twisted.internet.ssl import (
    AcceptableCiphers,
    Certificate,
    CertificateOptions,
    TLSVersion,
    optionsForClientTLS,
    trustRootFromCertificates,
)
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.protocols.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol
from twisted.python.failure import Failure
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

from dmdelegation.ops.refusals import TLS_HANDSHAKE, UNKNOWN_TYPE, IRequestRefusals, tell
from dmdelegation.web.peer_config import PeerConfig, TLSConfig
from dmdelegation.web.peers import PeerRegistry
from dmdelegation.web.tls_identity import Identity, load_authorities, load_identity

log = Logger(namespace="dmdelegation.tls")  # as before the move: operators filter on it

#: ECDHE key exchange with an AEAD cipher; TLS 1.3 suites are all AEAD and always allowed.
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
ALPN = (b"http/1.1",)
_REQUIRE_PEER = SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT | SSL.VERIFY_CLIENT_ONCE

# X509_V_ERR_* codes a peer certificate is commonly refused for, as OpenSSL words them.
_VERIFY_ERRORS = {
    2: "unable to get issuer certificate",
    7: "certificate signature failure",
    9: "certificate is not yet valid",
    10: "certificate has expired",
    18: "self-signed certificate",
    19: "self-signed certificate in certificate chain",
    20: "unable to get local issuer certificate (unknown CA)",
    21: "unable to verify the first certificate",
    23: "certificate revoked",
    24: "invalid CA certificate",
    26: "unsupported certificate purpose",
    28: "certificate rejected",
}


class PeerIdentityError(Exception):
    """The server reached over TLS is not the peer this connection was meant for."""


def _trust_root(authorities: Sequence[x509.Certificate]) -> Any:
    return trustRootFromCertificates(
        [Certificate.loadPEM(ca.public_bytes(serialization.Encoding.PEM)) for ca in authorities]
    )


def _settings(identity: Identity) -> dict[str, Any]:
    """The CertificateOptions arguments both directions share.

    The key and certificates are cryptography objects: pyOpenSSL takes them directly, although
    Twisted's annotations still name its ``PKey``/``X509``, hence the untyped dict.
    """
    return {
        "privateKey": identity.key,
        "certificate": identity.certificate,
        "extraCertChain": list(identity.chain),
        "acceptableCiphers": AcceptableCiphers.fromOpenSSLCipherString(CIPHERS),
        "raiseMinimumTo": TLSVersion.TLSv1_2,
    }


def address(peer: object) -> str:
    """A socket address as ``host:port`` for a log line (anything else as it prints)."""
    host, port = getattr(peer, "host", None), getattr(peer, "port", None)
    if host is None or port is None:
        return str(peer)
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def describe_verify_error(errnum: int) -> str:
    return _VERIFY_ERRORS.get(errnum, f"certificate verification error {errnum}")


def _subject(certificate: Any) -> str:
    try:
        return str(certificate.to_cryptography().subject.rfc4514_string())
    except Exception:
        return "?"


def _remember_refusal(
    connection: SSL.Connection, certificate: Any, errnum: int, depth: int, ok: int
) -> bool:
    """Server-side verify callback: OpenSSL's verdict, unchanged, with its reason kept for the
    log line of the refused handshake."""
    if not ok:
        watch = getattr(connection.get_app_data(), "wrappedProtocol", None)
        if isinstance(watch, _HandshakeWatch) and watch.refusal is None:
            watch.refusal = (
                f"{describe_verify_error(errnum)} (certificate {_subject(certificate)!r}, "
                f"depth {depth})"
            )
    return bool(ok)


class _ServerOptions(CertificateOptions):
    """Twisted's options, plus: no renegotiation, and the reason of a refused client
    certificate remembered for the log."""

    _tuned: SSL.Context | None = None

    def getContext(self) -> SSL.Context:
        if self._tuned is None:
            context = super().getContext()
            context.set_options(SSL.OP_NO_RENEGOTIATION)
            context.set_verify(_REQUIRE_PEER, _remember_refusal)
            self._tuned = context
        return self._tuned


def server_options(tls: TLSConfig) -> CertificateOptions:
    """Options for the delegation interface: present our certificate, demand the client's,
    chained to one of ``tls.ca``."""
    identity = load_identity(tls)
    return _ServerOptions(
        trustRoot=_trust_root(load_authorities(tls)),
        acceptableProtocols=list(ALPN),
        **_settings(identity),
    )


def _ssl_reason(reason: Failure) -> str:
    error = reason.value
    if isinstance(error, SSL.Error) and error.args and isinstance(error.args[0], list):
        parts = [str(entry[-1]) for entry in error.args[0] if entry]
        if parts:
            return "; ".join(parts)
    return reason.getErrorMessage() or type(error).__name__


_CLOSED = Failure(ConnectionDone())


@implementer(IHandshakeListener)
class _HandshakeWatch(ProtocolWrapper):
    """Between TLS and the application: notices a handshake that never completed and logs it,
    with the reason, when the connection goes (and tells its factory's ``refusals`` of a
    refused one; a connection closed before the handshake for no fault is not a refusal)."""

    handshake_done = False
    refusal: str | None = None

    def handshakeCompleted(self) -> None:
        self.handshake_done = True
        if IHandshakeListener.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.handshakeCompleted()

    def connectionLost(self, reason: Failure = _CLOSED) -> None:
        peer = address(self.transport.getPeer()) if self.transport is not None else "?"
        if not self.handshake_done:
            if self.refusal is not None or reason.check(SSL.Error):
                log.warn(
                    "TLS handshake from {peer} refused: {reason}",
                    peer=peer,
                    reason=self.refusal or _ssl_reason(reason),
                )
                tell(getattr(self.factory, "refusals", None), TLS_HANDSHAKE, 0, UNKNOWN_TYPE)
            else:
                log.info(
                    "connection from {peer} closed before the TLS handshake completed: {reason}",
                    peer=peer,
                    reason=_ssl_reason(reason),
                )
        elif reason.check(SSL.Error):
            log.warn(
                "TLS error on the connection from {peer}: {reason}",
                peer=peer,
                reason=_ssl_reason(reason),
            )
        super().connectionLost(reason)


class _HandshakeWatchFactory(WrappingFactory[_HandshakeWatch]):
    protocol = _HandshakeWatch
    noisy = False

    def __init__(
        self, wrappedFactory: IProtocolFactory, refusals: IRequestRefusals | None = None
    ) -> None:
        super().__init__(wrappedFactory)
        self.refusals = refusals


def listen(
    reactor: Any,
    endpoint: str,
    options: CertificateOptions,
    factory: IProtocolFactory,
    *,
    refusals: IRequestRefusals | None = None,
    max_connections: int | None = None,
) -> Deferred[IListeningPort]:
    """Listen on the plain ``endpoint`` string (``tcp:8443:interface=...``, ``unix:...``) with
    mutual TLS per ``options`` around ``factory``; each refused handshake is told to
    ``refusals``. With ``max_connections``, a connection beyond it is closed as soon as it is
    accepted, before any TLS (:class:`~dmdelegation.web.connections.ConnectionCap`)."""
    from dmdelegation.web.connections import ConnectionCap

    if endpoint.split(":", 1)[0].lower() in ("ssl", "tls", "txsni"):
        raise ValueError(
            f"{endpoint!r}: give a plain endpoint (tcp:, unix:...); TLS is added from [tls]"
        )
    parsed = serverFromString(reactor, endpoint)
    clock: IReactorTime | None = reactor if IReactorTime.providedBy(reactor) else None
    wrapped = TLSMemoryBIOFactory(
        options, False, _HandshakeWatchFactory(factory, refusals), clock=clock
    )
    outer: IProtocolFactory = wrapped
    if max_connections is not None:
        outer = ConnectionCap(wrapped, max_connections, f"delegation listener {endpoint}")
    listening: Deferred[IListeningPort] = parsed.listen(outer)
    return listening


# ---------------------------------------------------------------------- the client side


@implementer(IOpenSSLClientConnectionCreator)
class PeerConnectionCreator:
    """TLS connections to one peer: ``base`` makes them (chain and, for a named peer, host name
    checks); once the handshake is done, ``accepts`` must also hold for the peer's certificate,
    or the connection is aborted with :class:`PeerIdentityError`."""

    def __init__(
        self,
        peer: PeerConfig,
        base: IOpenSSLClientConnectionCreator,
        accepts: Callable[[x509.Certificate], bool],
        check: str,
    ) -> None:
        self.peer = peer
        self.base = base
        self.accepts = accepts
        self.check = check  # "pin" or "name": how the peer's certificate is recognised

    def clientConnectionForTLS(self, tlsProtocol: TLSMemoryBIOProtocol) -> SSL.Connection:
        connection = self.base.clientConnectionForTLS(tlsProtocol)
        connection.set_options(SSL.OP_NO_RENEGOTIATION)
        peer = self.peer
        accepts = self.accepts

        def handshake_info(conn: SSL.Connection, where: int, ret: int) -> None:
            if not where & SSL.SSL_CB_HANDSHAKE_DONE:
                return
            try:
                certificate = conn.get_peer_certificate(as_cryptography=True)
                if certificate is None or not accepts(certificate):
                    tlsProtocol.failVerification(
                        Failure(
                            PeerIdentityError(
                                f"the certificate of {peer.url} is not that of {peer.server_id}"
                            )
                        )
                    )
            except Exception:
                log.failure("while checking the certificate of {peer}", peer=peer.server_id)
                tlsProtocol.abortConnection()

        connection.set_info_callback(handshake_info)
        if self.check == "pin" and check_sni(peer.name):  # optionsForClientTLS sends its own
            connection.set_tlsext_host_name(peer.name.encode("idna"))
        return connection


def check_sni(name: str) -> bool:
    """Whether ``name`` may go in the TLS Server Name Indication (a DNS name, not an address)."""
    return bool(name) and not (isIPAddress(name) or isIPv6Address(name))


@implementer(IPolicyForHTTPS)
class ClientTLSPolicy:
    """Outgoing connections to the configured peers only: present our certificate, and accept
    the peer's when it chains to ``tls.ca`` and is recognised as that peer — by its SHA-256 pin,
    or by its ``name`` (``optionsForClientTLS``) and the registry's reading of it."""

    def __init__(self, tls: TLSConfig, registry: PeerRegistry) -> None:
        self.registry = registry
        self._identity = load_identity(tls)
        self._trust = _trust_root(load_authorities(tls))
        self._creators: dict[str, PeerConnectionCreator] = {}

    def creator_for_peer(self, peer: PeerConfig) -> PeerConnectionCreator:
        creator = self._creators.get(peer.server_id)
        if creator is None:
            creator = self._creators[peer.server_id] = self._make_creator(peer)
        return creator

    def _make_creator(self, peer: PeerConfig) -> PeerConnectionCreator:
        base: IOpenSSLClientConnectionCreator
        if peer.pin_sha256 is not None:
            pin = peer.pin_sha256.replace(":", "").lower()
            base = CertificateOptions(
                trustRoot=self._trust, acceptableProtocols=list(ALPN), **_settings(self._identity)
            )
            return PeerConnectionCreator(
                peer, base, lambda cert: cert.fingerprint(hashes.SHA256()).hex() == pin, "pin"
            )
        base = optionsForClientTLS(
            peer.name,
            trustRoot=self._trust,
            acceptableProtocols=list(ALPN),
            extraCertificateOptions=_settings(self._identity),
        )
        registry, server_id = self.registry, peer.server_id
        return PeerConnectionCreator(
            peer, base, lambda cert: registry.identify(cert) == server_id, "name"
        )

    def creatorForNetloc(self, hostname: bytes, port: int) -> IOpenSSLClientConnectionCreator:
        host = hostname.decode("idna") if isinstance(hostname, bytes) else str(hostname)
        peer = self.registry.peer_for_netloc(host, port)
        if peer is None:
            raise ValueError(f"no peer is configured at {host}:{port}; refusing to connect")
        return self.creator_for_peer(peer)


__all__ = [
    "ALPN",
    "CIPHERS",
    "ClientTLSPolicy",
    "Identity",
    "PeerConnectionCreator",
    "PeerIdentityError",
    "describe_verify_error",
    "listen",
    "load_authorities",
    "load_identity",
    "server_options",
]
