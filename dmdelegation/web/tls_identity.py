"""This server's TLS identity as the configuration names it: its certificate chain and private
key (`load_identity`) and the CAs it trusts for its peers (`load_authorities`), each read and
checked with a refusal that names the file at fault and never shows the key's content.
`dmdelegation.web.tls` builds the contexts of both directions from them (and re-exports them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attrs import frozen
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from dmdelegation.web.peer_config import TLSConfig

TLSPrivateKey = (
    ec.EllipticCurvePrivateKey
    | rsa.RSAPrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
    | dsa.DSAPrivateKey
)
_TLS_KEYS = (
    ec.EllipticCurvePrivateKey,
    rsa.RSAPrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
    dsa.DSAPrivateKey,
)


@frozen
class Identity:
    """This server's certificate (with the rest of its chain, if any) and private key."""

    certificate: x509.Certificate
    key: TLSPrivateKey
    chain: tuple[x509.Certificate, ...] = ()


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ValueError(f"{what}: cannot read {path}: {e.strerror}") from None


def _certificates(path: Path, what: str) -> list[x509.Certificate]:
    try:
        certificates = x509.load_pem_x509_certificates(_read(path, what))
    except ValueError:
        raise ValueError(f"{what}: {path} holds no PEM certificate") from None
    return certificates


def _public(key: Any) -> bytes:
    return bytes(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def load_identity(tls: TLSConfig) -> Identity:
    """Read ``tls.certificate`` and ``tls.key``; a ``ValueError`` names the file at fault
    (missing, unreadable, not PEM, encrypted, or a key that does not match the certificate).
    Nothing of the key's content ever appears in a message."""
    certificates = _certificates(tls.certificate, "tls.certificate")
    data = _read(tls.key, "tls.key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ValueError(f"tls.key: {tls.key} is encrypted; an unencrypted key is needed") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError(f"tls.key: {tls.key} holds no usable PEM private key") from None
    finally:
        del data
    if not isinstance(key, _TLS_KEYS):
        raise ValueError(f"tls.key: {tls.key}: this kind of key cannot sign a TLS handshake")
    if _public(key.public_key()) != _public(certificates[0].public_key()):
        raise ValueError(f"tls.key: {tls.key} does not match the certificate in {tls.certificate}")
    return Identity(certificates[0], key, tuple(certificates[1:]))


def load_authorities(tls: TLSConfig) -> tuple[x509.Certificate, ...]:
    """Every CA certificate of ``tls.ca`` (a file may hold several)."""
    found: list[x509.Certificate] = []
    for i, path in enumerate(tls.ca):
        found += _certificates(path, f"tls.ca[{i}]")
    return tuple(found)
