"""A development PKI: one CA and one certificate per DM ServerID, made with cryptography.

ECDSA P-256 keys (a mutual-TLS handshake costs about a third less CPU than with RSA-2048). Each
server certificate names its ServerID as a DNS name and as a URI (``dm-server:<ServerID>``),
plus ``localhost`` and 127.0.0.1, and is valid for TLS server and client authentication, so the
same pair serves both directions. For production, use the operator's own CA.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from attrs import frozen
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DAY = datetime.timedelta(days=1)


@frozen
class Issued:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dmdelegation development PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
        ]
    )


def make_ca(
    name: str = "dmdelegation development CA",
    *,
    not_before: datetime.datetime | None = None,
    days: int = 3650,
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or datetime.datetime.now(datetime.UTC) - DAY
    subject = _name(name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + days * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def issue(
    ca: Issued,
    server_id: str,
    *,
    not_before: datetime.datetime | None = None,
    days: int = 825,
    names: tuple[str, ...] = ("localhost",),
) -> Issued:
    """A certificate for the DM server ``server_id``, signed by ``ca``."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or datetime.datetime.now(datetime.UTC) - DAY
    alt: list[x509.GeneralName] = [
        x509.DNSName(server_id),
        x509.UniformResourceIdentifier(f"dm-server:{server_id}"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    alt += [x509.DNSName(n) for n in names if n != server_id]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(server_id))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + days * DAY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(cert, key)


def certificate_pem(issued: Issued) -> bytes:
    return issued.certificate.public_bytes(serialization.Encoding.PEM)


def key_pem(issued: Issued) -> bytes:
    return issued.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lowercase hex (the configuration's ``pin_sha256``)."""
    return certificate.fingerprint(hashes.SHA256()).hex()


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def init(directory: Path, server_ids: list[str]) -> dict[str, Path]:
    """Write ``ca.crt``/``ca.key`` and ``<ServerID>.crt``/``<ServerID>.key`` into ``directory``
    (keys mode 0600). Existing files are kept: running it again adds only what is missing."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_crt, ca_key = directory / "ca.crt", directory / "ca.key"
    if ca_crt.exists() and ca_key.exists():
        loaded = serialization.load_pem_private_key(ca_key.read_bytes(), None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        ca = Issued(x509.load_pem_x509_certificate(ca_crt.read_bytes()), loaded)
    else:
        ca = make_ca()
        _write(ca_key, key_pem(ca), 0o600)
        _write(ca_crt, certificate_pem(ca), 0o644)
    written = {"ca": ca_crt}
    for server_id in server_ids:
        crt, key = directory / f"{server_id}.crt", directory / f"{server_id}.key"
        if not (crt.exists() and key.exists()):
            issued = issue(ca, server_id)
            _write(key, key_pem(issued), 0o600)
            _write(crt, certificate_pem(issued), 0o644)
        written[server_id] = crt
    return written
