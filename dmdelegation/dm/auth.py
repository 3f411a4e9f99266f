"""OMA DM 1.2 authentication (DM Security, "Authentication"): the MD5 digest carried in
``<Cred>`` and the HMAC-MD5 of the whole message carried in the ``x-syncml-hmac`` HTTP header.

Both take the account's name, its secret and the nonce its peer gave last; a nonce is used
once: the verifier hands out the next one in the ``<Chal>`` of its answer.

- MD5 digest: ``B64(H(B64(H(name:secret)):nonce))``, type ``syncml:auth-md5``;
- HMAC: ``B64(H(B64(H(name:secret)):nonce:B64(H(body))))``, header
  ``algorithm=MD5, username="name", mac=...``, type ``syncml:auth-MAC``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from attrs import frozen

from dmdelegation.protocol.dmacc import AuthType

NONCE_SIZE = 16
"""Bytes of the nonces this server issues."""
MD5_TYPE = "syncml:auth-md5"
HMAC_TYPE = "syncml:auth-MAC"
HMAC_HEADER = "x-syncml-hmac"
SUPPORTED = (AuthType.DIGEST, AuthType.HMAC)


def chal_type(auth_type: AuthType) -> str:
    return HMAC_TYPE if auth_type is AuthType.HMAC else MD5_TYPE


def _b64md5(data: bytes) -> bytes:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest())


def _secret_hash(name: str, secret: str) -> bytes:
    return _b64md5(f"{name}:{secret}".encode())


def md5_digest(name: str, secret: str, nonce: bytes) -> str:
    return _b64md5(_secret_hash(name, secret) + b":" + nonce).decode("ascii")


def hmac_mac(name: str, secret: str, nonce: bytes, body: bytes) -> str:
    return _b64md5(_secret_hash(name, secret) + b":" + nonce + b":" + _b64md5(body)).decode("ascii")


def hmac_header(name: str, secret: str, nonce: bytes, body: bytes) -> str:
    return f'algorithm=MD5, username="{name}", mac={hmac_mac(name, secret, nonce, body)}'


@frozen
class HMACHeader:
    username: str
    mac: str
    algorithm: str = "MD5"


_PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))\s*(?:,|$)')


def parse_hmac_header(value: str) -> HMACHeader | None:
    """The parameters of an ``x-syncml-hmac`` header; None if it is not one."""
    if len(value) > 1024:
        return None
    params: dict[str, str] = {}
    pos = 0
    while pos < len(value):
        match = _PARAM.match(value, pos)
        if match is None or match.end() == pos:
            return None
        params[match.group(1).lower()] = (
            match.group(2) if match.group(2) is not None else (match.group(3))
        )
        pos = match.end()
    if "username" not in params or "mac" not in params:
        return None
    algorithm = params.get("algorithm", "MD5")
    if algorithm.upper() != "MD5":
        return None
    return HMACHeader(username=params["username"], mac=params["mac"], algorithm="MD5")


def stand_in_nonce(key: bytes, dev_id: str) -> bytes:
    """The nonce offered to a DevId that is not a device: as long as the nonces we issue, and
    the same from one refusal to the next (as a device's current nonce is), so that the answer
    does not tell an unknown DevId from a device with wrong credentials."""
    return hmac.new(key, dev_id.encode("utf-8"), hashlib.sha256).digest()[:NONCE_SIZE]


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
