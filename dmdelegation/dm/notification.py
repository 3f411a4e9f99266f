"""Package #0, the DM notification (OMA DM Notification Initiation Session 1.2): what a server
sends (by a transport of the host's) to ask a device to open a DM session with it.

    digest (128 bits) | version (10) | ui-mode (2) | initiator (1) | future (27)
    | session id (16) | length of server identifier (8) | server identifier | vendor data

``digest = H(B64(H(server-identifier:password)):nonce:B64(H(notification)))``, H being MD5,
with the server's credentials in the device's account (SRVCRED) and the nonce the device gave,
``notification`` being every byte after the digest.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac

from attrs import frozen

VERSION = 12  # 1.2
HEADER_LENGTH = 16 + 7 + 1


class UIMode(enum.IntEnum):
    NOT_SPECIFIED = 0
    BACKGROUND = 1
    INFORMATIVE = 2
    USER_INTERACTION = 3


class NotificationError(ValueError):
    pass


@frozen
class Package0:
    digest: bytes
    version: int
    ui_mode: UIMode
    server_initiated: bool
    session_id: int
    server_id: str
    vendor: bytes
    notification: bytes  # the bytes the digest covers


def _b64md5(data: bytes) -> bytes:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest())


def digest(server_id: str, secret: str, nonce: bytes, notification: bytes) -> bytes:
    inner = _b64md5(f"{server_id}:{secret}".encode())
    return hashlib.md5(
        inner + b":" + nonce + b":" + _b64md5(notification), usedforsecurity=False
    ).digest()


def build_package0(
    server_id: str,
    secret: str,
    nonce: bytes,
    session_id: int,
    *,
    ui_mode: UIMode = UIMode.NOT_SPECIFIED,
    vendor: bytes = b"",
) -> bytes:
    identifier = server_id.encode("utf-8")
    if len(identifier) > 255:
        raise NotificationError("server identifier longer than 255 bytes")
    if not 0 <= session_id <= 0xFFFF:
        raise NotificationError("session id is 16 bits")
    # version(10) ui(2) initiator(1) future(27) = 40 bits, then session id (16): 56 bits in all
    bits = (VERSION << 46) | (int(ui_mode) << 44) | (1 << 43) | session_id
    header = bits.to_bytes(7, "big") + bytes([len(identifier)]) + identifier
    notification = header + vendor
    return digest(server_id, secret, nonce, notification) + notification


def parse_package0(data: bytes) -> Package0:
    if len(data) < HEADER_LENGTH:
        raise NotificationError("package #0 shorter than its header")
    bits = int.from_bytes(data[16:23], "big")
    length = data[23]
    if len(data) < HEADER_LENGTH + length:
        raise NotificationError("package #0 shorter than its server identifier")
    try:
        server_id = data[24 : 24 + length].decode("utf-8")
    except UnicodeDecodeError:
        raise NotificationError("server identifier is not UTF-8") from None
    return Package0(
        digest=data[:16],
        version=bits >> 46,
        ui_mode=UIMode((bits >> 44) & 0x3),
        server_initiated=bool((bits >> 43) & 1),
        session_id=bits & 0xFFFF,
        server_id=server_id,
        vendor=data[24 + length :],
        notification=data[16:],
    )


def verify_package0(package: Package0, secret: str, nonce: bytes) -> bool:
    expected = digest(package.server_id, secret, nonce, package.notification)
    return hmac.compare_digest(expected, package.digest)
