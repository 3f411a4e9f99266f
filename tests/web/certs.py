"""Certificates made at test time (never committed): a CA, a foreign CA, and peers' certificates
that are valid, expired, from the foreign CA, of a stranger, or pinned."""

from __future__ import annotations

import datetime
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from attrs import frozen
from cryptography.hazmat.primitives import serialization
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.internet.ssl import Certificate, optionsForClientTLS, trustRootFromCertificates

from dmdelegation.daemon.config import PeerConfig, TLSConfig
from dmdelegation.lab import pki
from dmdelegation.web.peers import PeerRegistry

US = "dms1.operator.example"  # the server under test
PEER = "dms2.enterprise.example"  # a peer recognised by its certificate's names
PINNED = "dms3.pinned.example"  # a peer recognised by its certificate's SHA-256 only
STRANGER = "stranger.example"  # holds a certificate of our CA, but is no peer


@frozen
class CertSet:
    ca: pki.Issued
    foreign_ca: pki.Issued
    us: pki.Issued
    peer: pki.Issued
    pinned: pki.Issued
    stranger: pki.Issued
    expired: pki.Issued  # PEER's name, our CA, expired yesterday
    foreign: pki.Issued  # PEER's name, signed by the foreign CA
    not_yet_valid: pki.Issued


@cache
def certs() -> CertSet:
    now = datetime.datetime.now(datetime.UTC)
    ca = pki.make_ca("test CA")
    foreign_ca = pki.make_ca("foreign CA")
    return CertSet(
        ca=ca,
        foreign_ca=foreign_ca,
        us=pki.issue(ca, US),
        peer=pki.issue(ca, PEER),
        pinned=pki.issue(ca, PINNED),
        stranger=pki.issue(ca, STRANGER),
        expired=pki.issue(ca, PEER, not_before=now - datetime.timedelta(days=30), days=29),
        foreign=pki.issue(foreign_ca, PEER),
        not_yet_valid=pki.issue(ca, PEER, not_before=now + datetime.timedelta(days=2)),
    )


def temp_dir(test: Any) -> Path:
    """A private directory removed after ``test`` (trial's mktemp writes under the working
    directory, which is the checkout under pytest)."""
    path = Path(tempfile.mkdtemp(prefix="dmdelegation-web-"))
    test.addCleanup(shutil.rmtree, path, True)
    return path


def write_tls(directory: Path, issued: pki.Issued, *cas: pki.Issued) -> TLSConfig:
    """Write ``issued`` and the CAs as PEM files; the configuration that names them."""
    directory.mkdir(parents=True, exist_ok=True)
    certificate, key = directory / "server.crt", directory / "server.key"
    certificate.write_bytes(pki.certificate_pem(issued))
    key.write_bytes(pki.key_pem(issued))
    paths = []
    for i, ca in enumerate(cas or (certs().ca,)):
        path = directory / f"ca{i}.crt"
        path.write_bytes(pki.certificate_pem(ca))
        paths.append(path)
    return TLSConfig(certificate=certificate, key=key, ca=tuple(paths))


def peer_configs(url_of: dict[str, str] | None = None) -> tuple[PeerConfig, ...]:
    """PEER (by name) and PINNED (by pin), as the server under test knows them."""
    urls = url_of or {}
    return (
        PeerConfig(
            server_id=PEER,
            url=urls.get(PEER, "https://dms2.enterprise.example:8443/delegation"),
            name=PEER,
        ),
        PeerConfig(
            server_id=PINNED,
            url=urls.get(PINNED, "https://dms3.pinned.example:8443/delegation"),
            name=PINNED,
            pin_sha256=pki.fingerprint(certs().pinned.certificate),
        ),
    )


def registry() -> PeerRegistry:
    return PeerRegistry(peer_configs())


def client_creator(
    issued: pki.Issued | None, host: str = "localhost"
) -> IOpenSSLClientConnectionCreator:
    """A bare client: presents ``issued`` (or nothing) and trusts the test CA."""
    trust = trustRootFromCertificates([Certificate.loadPEM(pki.certificate_pem(certs().ca))])
    extra = {}
    if issued is not None:
        extra = {"privateKey": issued.key, "certificate": issued.certificate}
    return optionsForClientTLS(host, trustRoot=trust, extraCertificateOptions=extra)


def pem(issued: pki.Issued) -> bytes:
    return issued.certificate.public_bytes(serialization.Encoding.PEM)
