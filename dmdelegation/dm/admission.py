"""The admission of a client message by `DMSessionServer`, before its body is read: the SyncML
and DM versions, the session it belongs to (or opens) and its MsgID, then the client's
credentials, on every message (HMAC or MD5 digest with the nonce of our last ``<Chal>``), with
the per-DevId back-off and the stand-in credentials of a DevId that is not a device, so that it
is refused exactly as a device with wrong (or missing) credentials.

Each check raises `Refusal`, which the server answers (`dmdelegation.dm.replies.refusal`) and
logs; a refusal changes nothing but the back-off's count of wrong credentials.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from dmdelegation.dm import auth
from dmdelegation.dm import message as sm
from dmdelegation.dm.backoff import AuthBackoff
from dmdelegation.dm.devices import Credentials, DMDevice, IDeviceList
from dmdelegation.dm.session import DMSession, Phase
from dmdelegation.protocol.dmacc import AuthLevel, AuthType


class Refusal(Exception):
    """A client message refused with the SyncHdr status ``code``; ``chal`` is the challenge of
    an authentication refusal, ``retry_after`` the seconds of a back-off (417)."""

    def __init__(
        self, code: int, reason: str, chal: sm.Chal | None = None, retry_after: float = 0.0
    ) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.chal = chal
        self.retry_after = retry_after


def admit(
    message: sm.Message, devices: IDeviceList, sessions: Mapping[str, DMSession]
) -> tuple[DMDevice | None, DMSession | None, bool]:
    """The device (None for a DevId that is not one: it is refused by `authenticate`, as a
    device with wrong credentials is), its session, and whether the message opens one."""
    header = message.header
    if header.ver_dtd != sm.VER_DTD or header.ver_proto != sm.VER_PROTO:
        raise Refusal(505, f"version {header.ver_dtd}/{header.ver_proto} not supported")
    if not header.msg_id.isdigit() or len(header.msg_id) > 9:
        raise Refusal(400, "MsgID is not a number")
    device = devices.device(header.source)
    session = None if device is None else sessions.get(device.device_id)
    alerts = [c.data for c in message.commands if c.name == "Alert"]
    opens = any(a in (sm.ALERT_SERVER_INITIATED, sm.ALERT_CLIENT_INITIATED) for a in alerts)
    # A client that numbers every session 1 opens a new one with MsgID 1 and its Alert.
    reopens = opens and int(header.msg_id) == 1
    if session is not None and session.session_id == header.session_id and not reopens:
        if session.phase is not Phase.WAITING:
            raise Refusal(400, "a message of this session is being answered already")
        if int(header.msg_id) != session.client_msg_id + 1:
            raise Refusal(400, f"MsgID {header.msg_id} is not the next of the session")
        return device, session, False
    if not opens:
        raise Refusal(400, "no session open: Alert 1200 or 1201 expected")
    return device, None, True


def stand_in(
    key: bytes, unknown_auth: AuthType, message: sm.Message, hmac_header: str | None
) -> Credentials:
    """Credentials for a DevId that is not a device, which no message can match: of the type
    its message shows (``unknown_auth`` when it shows none), with a nonce of the usual length
    that is the same every time (derived from ``key``)."""
    if hmac_header is not None:
        kind = AuthType.HMAC
    elif message.header.cred is not None:
        kind = AuthType.DIGEST
    else:
        kind = unknown_auth
    source = message.header.source
    nonce = auth.stand_in_nonce(key, source)
    return Credentials(kind, source, key.hex(), nonce)


async def authenticate(
    devices: IDeviceList,
    backoff: AuthBackoff,
    device: DMDevice | None,
    creds: Credentials,
    message: sm.Message,
    body: bytes,
    hmac_header: str | None,
) -> sm.Chal:
    """Check the client's credentials, on every message of a session; the challenge (with a
    new nonce, saved) to send in our SyncHdr Status. ``creds`` are the device's client
    credentials, or for a DevId that is not a device (``device`` None) those of `stand_in`: it
    is refused exactly as a device whose credentials are wrong (or missing)."""
    source = message.header.source
    if creds.auth_type not in auth.SUPPORTED:
        raise Refusal(401, f"authentication type {creds.auth_type} not supported")
    kind = auth.chal_type(creds.auth_type)
    chal = sm.Chal(type=kind, next_nonce=creds.nonce)
    if creds.auth_type is AuthType.HMAC:
        parsed = None if hmac_header is None else auth.parse_hmac_header(hmac_header)
        if parsed is None:
            raise Refusal(407, "no valid x-syncml-hmac header", chal)
        expected = auth.hmac_mac(creds.name, creds.secret, creds.nonce, body)
        right = parsed.username == creds.name and auth.same(parsed.mac, expected)
        wrong = "wrong HMAC (credentials or nonce)"
    else:
        cred = message.header.cred
        if cred is None:
            raise Refusal(407, "no credentials", chal)
        expected = auth.md5_digest(creds.name, creds.secret, creds.nonce)
        right = cred.type == auth.MD5_TYPE and auth.same(cred.data, expected)
        wrong = "wrong digest (credentials or nonce)"
    if device is None or not right:
        delay = backoff.failed(source)
        reason = wrong if device is not None else "not a device of the DM device list"
        if delay:
            reason += f"; backing off {delay:.0f} s"
        raise Refusal(401, reason, chal)
    backoff.succeeded(source)
    nonce = secrets.token_bytes(auth.NONCE_SIZE)
    await devices.save_nonce(device.device_id, AuthLevel.CLIENT, nonce)
    return sm.Chal(type=kind, next_nonce=nonce)
