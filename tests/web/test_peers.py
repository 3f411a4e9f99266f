"""PeerRegistry.identify: who a (chain-verified) certificate belongs to, without sockets."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from dmdelegation.daemon.config import PeerConfig
from dmdelegation.lab import pki
from dmdelegation.web.peers import PeerRegistry

from .certs import PEER, PINNED, STRANGER, US, certs, peer_configs, registry


def with_names(names: list[x509.GeneralName] | None) -> x509.Certificate:
    """A certificate of the test CA with exactly these subjectAltNames (none: no extension)."""
    model = certs().peer
    builder = (
        x509.CertificateBuilder()
        .subject_name(model.certificate.subject)
        .issuer_name(certs().ca.certificate.subject)
        .public_key(model.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(model.certificate.not_valid_before_utc)
        .not_valid_after(model.certificate.not_valid_after_utc)
    )
    if names is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(certs().ca.key, hashes.SHA256())


def test_a_peer_is_recognised_by_its_names() -> None:
    assert registry().identify(certs().peer.certificate) == PEER


def test_a_pinned_peer_is_recognised_by_its_pin() -> None:
    assert registry().identify(certs().pinned.certificate) == PINNED


def test_a_certificate_of_no_peer_is_nobodys() -> None:
    assert registry().identify(certs().stranger.certificate) is None
    assert registry().identify(certs().us.certificate) is None


def test_identify_looks_at_names_only_not_at_validity_or_issuer() -> None:
    """Expiry and issuer are the TLS layer's business (it refuses those before any request);
    identify is a pure function of the names, so these still map to PEER."""
    assert registry().identify(certs().expired.certificate) == PEER
    assert registry().identify(certs().foreign.certificate) == PEER


def test_a_pinned_peer_is_not_recognised_by_name() -> None:
    """Another certificate carrying the pinned peer's names is not the pinned certificate."""
    other = pki.issue(certs().ca, PINNED)
    assert registry().identify(other.certificate) is None


def test_the_pin_is_compared_without_colons_or_case() -> None:
    pin = pki.fingerprint(certs().pinned.certificate).upper()
    spaced = ":".join(pin[i : i + 2] for i in range(0, len(pin), 2))
    peers = (PeerConfig(server_id=PINNED, url="https://h:1/d", name="h", pin_sha256=spaced),)
    assert PeerRegistry(peers).identify(certs().pinned.certificate) == PINNED


def test_a_dns_name_alone_identifies_a_certificate_without_dm_server_uri() -> None:
    cert = with_names([x509.DNSName("dms9.host.example")])
    peers = (PeerConfig(server_id="dms9", url="https://h.example/d", name="dms9.host.example"),)
    assert PeerRegistry(peers).identify(cert) == "dms9"
    other = (PeerConfig(server_id="dms9", url="https://x.example/d", name="x.example"),)
    assert PeerRegistry(other).identify(cert) is None


def test_a_wildcard_dns_name_matches_as_rfc_6125_says() -> None:
    cert = with_names([x509.DNSName("*.host.example")])
    peers = (PeerConfig(server_id="dms9", url="https://h.example/d", name="dms9.host.example"),)
    assert PeerRegistry(peers).identify(cert) == "dms9"
    deeper = (PeerConfig(server_id="dms9", url="https://h.example/d", name="a.b.host.example"),)
    assert PeerRegistry(deeper).identify(cert) is None


def test_a_shared_dns_name_never_makes_one_server_pass_for_another() -> None:
    """Every development certificate carries DNS 'localhost'; a peer configured by that name
    must not accept the certificate of another DM server, which names itself by URI."""
    peers = (PeerConfig(server_id="dms-local", url="https://localhost:8443/d", name="localhost"),)
    assert PeerRegistry(peers).identify(certs().stranger.certificate) is None
    mine = pki.issue(certs().ca, "dms-local")
    assert PeerRegistry(peers).identify(mine.certificate) == "dms-local"


def test_an_ip_address_name_falls_back_to_the_uri() -> None:
    peers = (PeerConfig(server_id=PEER, url="https://127.0.0.1:8443/d", name="127.0.0.1"),)
    assert PeerRegistry(peers).identify(certs().peer.certificate) == PEER
    assert PeerRegistry(peers).identify(certs().stranger.certificate) is None


def test_a_server_id_that_is_no_host_name_needs_a_pin() -> None:
    peers = (PeerConfig(server_id="urn:dms 1", url="https://h.example/d", name="nomatch.example"),)
    assert PeerRegistry(peers).identify(certs().peer.certificate) is None


def test_url_for_and_netloc() -> None:
    reg = PeerRegistry(
        peer_configs({PEER: "https://Peer.Example:9443/x", PINNED: "https://[::1]/y"})
    )
    assert reg.url_for(PEER) == "https://Peer.Example:9443/x"
    with pytest.raises(KeyError):
        reg.url_for(STRANGER)
    assert reg.peer_for_netloc("peer.example", 9443) is reg.get(PEER)
    assert reg.peer_for_netloc("peer.example", 443) is None
    assert reg.peer_for_netloc("::1", 443) is reg.get(PINNED)
    assert reg.peer_for_netloc("[::1]", 443) is reg.get(PINNED)
    assert reg.peer_for_netloc(US, 443) is None


def test_ambiguous_configurations_are_refused() -> None:
    same_place = (
        PeerConfig(server_id="a", url="https://h.example/x", name="h.example"),
        PeerConfig(server_id="b", url="https://H.example:443/y", name="h.example"),
    )
    with pytest.raises(ValueError, match="share the address"):
        PeerRegistry(same_place)
    pin = pki.fingerprint(certs().pinned.certificate)
    same_pin = (
        PeerConfig(server_id="a", url="https://a.example/x", name="a", pin_sha256=pin),
        PeerConfig(server_id="b", url="https://b.example/x", name="b", pin_sha256=pin),
    )
    with pytest.raises(ValueError, match="pin the same certificate"):
        PeerRegistry(same_pin)


def test_a_certificate_with_odd_names_is_read_for_the_names_it_has() -> None:
    cert = with_names(
        [
            x509.UniformResourceIdentifier("https://a.example:8443/odd/path"),
            x509.DNSName("*.*.bad"),
            x509.UniformResourceIdentifier(f"dm-server:{PEER}"),
        ]
    )
    assert registry().identify(cert) == PEER


def test_a_certificate_without_subject_alt_names_is_nobodys() -> None:
    assert registry().identify(with_names(None)) is None
    assert registry().identify(with_names([x509.RFC822Name("a@b.example")])) is None
