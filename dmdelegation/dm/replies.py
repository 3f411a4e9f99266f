"""The answers of `DMSessionServer` to a client message: the codecs by media type, the HTTP
`Reply`, the statuses (the SyncHdr's with its ``<Chal>``), the session's answer (our
credentials, the queued operations packed into the client's MaxMsgSize, Atomic included, with
Final only when they all fit; an ``Alert 1222`` while the client's package is open), and the
answers to a refused message and to one whose header could not be read.

Building an answer takes the operations it carries off the queue and records them in flight;
ending or continuing the session is the server's.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any

from attrs import evolve, frozen
from twisted.logger import Logger

from dmdelegation.dm import auth, wbxml, xml_codec
from dmdelegation.dm import message as sm
from dmdelegation.dm.admission import Refusal
from dmdelegation.dm.pending import Pending
from dmdelegation.dm.session import DMSession
from dmdelegation.protocol.dmacc import AuthType

log = Logger(namespace="dmdelegation.dm.server")

MAX_SERVER_AUTH_FAILURES = 3
"""After this many refusals of our credentials in a session, the session ends."""

Encode = Callable[[sm.Message], bytes]
Decode = Callable[[bytes, int], sm.Message]


@frozen
class Reply:
    code: int  # HTTP status
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class MessageTooLarge(Exception):
    """A single command does not fit the device's MaxMsgSize."""


_XML = (xml_codec.decode, xml_codec.encode)
_WBXML = (wbxml.decode, wbxml.encode)
CODECS: dict[str, tuple[Decode, Encode]] = {
    xml_codec.CONTENT_TYPE: _XML,
    "application/vnd.syncml+xml": _XML,  # the SyncML (DS) type, which some DM clients send
    wbxml.CONTENT_TYPE: _WBXML,
    "application/vnd.syncml+wbxml": _WBXML,
}
CONTENT_TYPES = tuple(CODECS)
"""The media types a client may post (parameters such as ``charset`` aside); the answer is in
the type the client used."""


def status(msg_ref: str, cmd_ref: str, cmd: str, code: int, **kw: Any) -> sm.Status:
    """A Status, numbered when the answer is built."""
    return sm.Status(cmd_id="", msg_ref=msg_ref, cmd_ref=cmd_ref, cmd=cmd, code=code, **kw)


def header_status(header: sm.Header, issued: sm.Chal) -> sm.Status:
    """The Status of an authenticated message's SyncHdr: 212, with the next nonce."""
    return status(
        header.msg_id,
        "0",
        sm.SYNCHDR,
        212,
        target_ref=header.target,
        source_ref=header.source,
        chal=issued,
    )


@frozen
class Answer:
    """A session's answer, encoded: ``sent`` the operations it carries, ``final`` whether it
    carries Final."""

    data: bytes
    headers: tuple[tuple[str, str], ...]
    sent: tuple[Pending, ...]
    final: bool


def answer(
    session: DMSession,
    statuses: list[sm.Status | sm.Command],
    queue: deque[Pending],
    *,
    source: str,
    max_msg_size: int,
    encode: Encode,
) -> Answer:
    """The next message of ``session`` from ``source`` (our URL): ``statuses``, then the
    operations of ``queue`` that fit the client's MaxMsgSize (taken off the queue and put in
    flight; one that fits no message, or holds a value the codec cannot carry, fails)."""
    number = [0]

    def next_id() -> str:
        number[0] += 1
        return str(number[0])

    msg_id = session.next_msg_id()
    body: list[sm.BodyElement] = []
    for element in statuses:
        body.append(evolve(element, cmd_id=next_id()))
    device = session.device
    cred = None
    if device.server.auth_type is AuthType.DIGEST and session.send_server_cred:
        cred = sm.Cred(
            type=auth.MD5_TYPE,
            data=auth.md5_digest(device.server.name, device.server.secret, device.server.nonce),
        )
        session.send_server_cred = False
    header = sm.Header(
        session_id=session.session_id,
        msg_id=msg_id,
        target=session.device_id,
        source=source,
        cred=cred,
        max_msg_size=max_msg_size,
    )
    limit = session.client_max_msg_size or max_msg_size
    final = True
    sent: list[Pending] = []
    if session.server_auth_failures >= MAX_SERVER_AUTH_FAILURES:
        log.warn("{device_id} keeps refusing our credentials", device_id=session.device_id)
    elif session.client_package_open:
        body.append(sm.Command(name="Alert", cmd_id=next_id(), data=sm.ALERT_NEXT_MESSAGE))
        final = False
    else:
        while queue:
            pending = queue[0]
            saved = number[0]
            command = pending.numbered(next_id)
            candidate = sm.Message(header, (*body, command), final=True)
            try:
                size = len(encode(candidate))
            except ValueError:  # a character the codec cannot carry (XML: controls)
                number[0] = saved
                queue.popleft()
                pending.deferred.errback(
                    ValueError(f"{pending.label}: a value this codec cannot carry")
                )
                continue
            if size > limit:
                number[0] = saved
                if not sent:
                    queue.popleft()
                    pending.deferred.errback(
                        MessageTooLarge(f"{pending.label} exceeds the device's MaxMsgSize")
                    )
                    continue
                final = False
                break
            queue.popleft()
            body.append(command)
            sent.append(pending)
    for pending in sent:
        pending.sent_in = msg_id
        for cmd_id in pending.ids.values():
            session.in_flight[(msg_id, cmd_id)] = pending
    data = encode(sm.Message(header, tuple(body), final=final))
    headers: tuple[tuple[str, str], ...] = ()
    if device.server.auth_type is AuthType.HMAC:
        value = auth.hmac_header(
            device.server.name, device.server.secret, device.server.nonce, data
        )
        headers = ((auth.HMAC_HEADER, value),)
    return Answer(data, headers, tuple(sent), final)


def refusal(
    message: sm.Message, refused: Refusal, source: str, encode: Encode, content_type: str
) -> Reply:
    """The answer to a refused message: its SyncHdr's status (with the challenge of an
    authentication refusal), and ``Retry-After`` when backing off."""
    header = message.header
    reply = sm.Message(
        sm.Header(
            session_id=header.session_id,
            msg_id="1",
            target=header.source,
            source=source,
        ),
        (
            sm.Status(
                cmd_id="1",
                msg_ref=header.msg_id,
                cmd_ref="0",
                cmd=sm.SYNCHDR,
                code=refused.code,
                target_ref=header.target,
                source_ref=header.source,
                chal=refused.chal,
            ),
        ),
        final=True,
    )
    headers: tuple[tuple[str, str], ...] = ()
    if refused.retry_after > 0:
        headers = (("retry-after", str(math.ceil(refused.retry_after))),)
    return Reply(200, content_type, encode(reply), headers)


def bare_refusal(code: int, source: str, encode: Encode, content_type: str) -> Reply:
    """The answer to a message whose header could not be read: the status alone."""
    reply = sm.Message(
        sm.Header(session_id="0", msg_id="1", target="unknown", source=source),
        (sm.Status(cmd_id="1", msg_ref="0", cmd_ref="0", cmd=sm.SYNCHDR, code=code),),
        final=True,
    )
    return Reply(code, content_type, encode(reply))
