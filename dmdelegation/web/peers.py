"""Who is this peer: the configured servers, and the DM ServerID a certificate belongs to.

:meth:`PeerRegistry.identify` is a pure function of a certificate that the TLS layer has already
chain-verified against ``tls.ca``:

- a peer with ``pin_sha256`` is recognised only by the SHA-256 of its DER certificate;
- any other peer is recognised by a name in the certificate's subjectAltName, checked with
  service_identity: the URI ``dm-server:<server_id>``, or its ``name`` as a DNS name. A
  certificate that carries ``dm-server:`` URIs is recognised by them only, so that a name
  several certificates share (``localhost`` in the development PKI) never makes one server's
  certificate pass for another's;
- a certificate that no peer, or more than one peer, would claim is nobody's (``None``).

The same rule decides, on outgoing connections, whether the server we reached is the peer we
meant (see :class:`dmdelegation.web.tls.ClientTLSPolicy`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from service_identity import CertificateError, VerificationError
from service_identity.hazmat import (
    DNS_ID,
    URI_ID,
    CertificatePattern,
    DNSPattern,
    URIPattern,
    verify_service_identity,
)

from dmdelegation.web.peer_config import PeerConfig

URI_SCHEME = "dm-server"


def netloc_of(url: str) -> tuple[str, int]:
    """The (lowercase host, port) an ``https://`` URL connects to."""
    parts = urlsplit(url)
    return (parts.hostname or "").lower(), parts.port or 443


def _patterns(certificate: x509.Certificate) -> Iterator[CertificatePattern]:
    """The certificate's DNS and URI subjectAltNames as service_identity patterns; an entry
    service_identity cannot read is skipped rather than making the whole certificate unusable."""
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return
    for dns in names.get_values_for_type(x509.DNSName):
        try:
            yield DNSPattern.from_bytes(dns.encode("utf-8"))
        except (CertificateError, ValueError):
            continue
    for uri in names.get_values_for_type(x509.UniformResourceIdentifier):
        try:
            yield URIPattern.from_bytes(uri.encode("utf-8"))
        except (CertificateError, ValueError):
            continue


def _matches(patterns: Sequence[CertificatePattern], service_id: DNS_ID | URI_ID | None) -> bool:
    if service_id is None or not patterns:
        return False
    try:
        verify_service_identity(patterns, obligatory_ids=[service_id], optional_ids=[])
    except (VerificationError, CertificateError):
        return False
    return True


def _dns_id(name: str) -> DNS_ID | None:
    try:
        return DNS_ID(name)
    except ValueError:  # an IP address, or not a host name: cannot be a DNS-ID
        return None


def _uri_id(server_id: str) -> URI_ID | None:
    try:
        return URI_ID(f"{URI_SCHEME}:{server_id}")
    except ValueError:  # a ServerID that is not host-name shaped: recognise it by a pin
        return None


class PeerRegistry:
    """The configured peers, by ServerID, by certificate and by network address."""

    def __init__(self, peers: Sequence[PeerConfig]) -> None:
        self._peers: dict[str, PeerConfig] = {}
        self._pins: dict[str, str] = {}
        self._named: list[tuple[str, DNS_ID | None, URI_ID | None]] = []
        self._netlocs: dict[tuple[str, int], PeerConfig] = {}
        for peer in peers:
            if peer.server_id in self._peers:
                raise ValueError(f"peer {peer.server_id!r} is configured twice")
            self._peers[peer.server_id] = peer
            netloc = netloc_of(peer.url)
            other = self._netlocs.setdefault(netloc, peer)
            if other is not peer:
                raise ValueError(
                    f"peers {other.server_id!r} and {peer.server_id!r} share the address "
                    f"{netloc[0]}:{netloc[1]}; an outgoing connection could not tell them apart"
                )
            if peer.pin_sha256 is not None:
                pin = peer.pin_sha256.replace(":", "").lower()
                if pin in self._pins:
                    raise ValueError(
                        f"peers {self._pins[pin]!r} and {peer.server_id!r} pin the same certificate"
                    )
                self._pins[pin] = peer.server_id
            else:
                self._named.append((peer.server_id, _dns_id(peer.name), _uri_id(peer.server_id)))

    @property
    def peers(self) -> tuple[PeerConfig, ...]:
        return tuple(self._peers.values())

    def get(self, server_id: str) -> PeerConfig | None:
        return self._peers.get(server_id)

    def url_for(self, server_id: str) -> str:
        """The delegation interface URL of the peer ``server_id`` (``KeyError`` if unknown)."""
        return self._peers[server_id].url

    def peer_for_netloc(self, host: str, port: int) -> PeerConfig | None:
        """The peer whose URL connects to ``host:port`` (brackets of an IPv6 host optional)."""
        return self._netlocs.get((host.strip("[]").lower(), port))

    def identify(self, certificate: x509.Certificate) -> str | None:
        """The ServerID of the peer ``certificate`` belongs to, or ``None``.

        ``certificate`` must already be chain-verified; this only decides which peer it is.
        """
        if self._pins:
            pinned = self._pins.get(certificate.fingerprint(hashes.SHA256()).hex())
            if pinned is not None:
                return pinned
        if not self._named:
            return None
        patterns = list(_patterns(certificate))
        servers = [
            p for p in patterns if isinstance(p, URIPattern) and p.protocol_pattern == b"dm-server"
        ]
        if servers:
            found = [sid for sid, _, uri_id in self._named if _matches(servers, uri_id)]
        else:
            hosts = [p for p in patterns if isinstance(p, DNSPattern)]
            found = [sid for sid, dns_id, _ in self._named if _matches(hosts, dns_id)]
        return found[0] if len(found) == 1 else None
