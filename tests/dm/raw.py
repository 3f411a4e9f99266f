"""Hand-made client messages posted to the endpoint over HTTP, for the refusal tests."""

from __future__ import annotations

from typing import Any

import treq.client
from attrs import frozen
from twisted.internet import reactor
from twisted.web.client import Agent, HTTPConnectionPool

from dmdelegation.dm import auth, wbxml, xml_codec
from dmdelegation.dm import message as sm

from .harness import CLIENT_SECRET, DEVICE

CODECS: dict[str, Any] = {"xml": xml_codec, "wbxml": wbxml}


@frozen
class Answer:
    code: int
    headers: dict[str, str]
    body: bytes

    def message(self, codec: str = "xml") -> sm.Message:
        decoded: sm.Message = CODECS[codec].decode(self.body, 1 << 20)
        return decoded

    def header_status(self, codec: str = "xml") -> sm.Status:
        (status,) = [s for s in self.message(codec).statuses if s.cmd == sm.SYNCHDR]
        return status


def opening(
    url: str,
    *,
    session_id: str = "1",
    msg_id: str = "1",
    cred: sm.Cred | None = None,
    source: str = DEVICE,
    devid: str = DEVICE,
    padding: str = "",
) -> sm.Message:
    """The first message of a client-initiated session: Alert 1201 and DevInfo."""
    items = tuple(
        sm.Item(target=f"./DevInfo/{name}", meta=sm.Meta(format="chr"), data=value)
        for name, value in (("DevId", devid), ("Man", "Acme" + padding), ("Mod", "Phone 3"))
    )
    return sm.Message(
        sm.Header(session_id=session_id, msg_id=msg_id, target=url, source=source, cred=cred),
        (
            sm.Command(name="Alert", cmd_id="1", data=sm.ALERT_CLIENT_INITIATED),
            sm.Command(name="Replace", cmd_id="2", items=items),
        ),
    )


def digest(nonce: bytes, secret: str = CLIENT_SECRET) -> sm.Cred:
    return sm.Cred(type=auth.MD5_TYPE, data=auth.md5_digest(DEVICE, secret, nonce))


def hmac(body: bytes, nonce: bytes, secret: str = CLIENT_SECRET) -> dict[str, str]:
    return {auth.HMAC_HEADER: auth.hmac_header(DEVICE, secret, nonce, body)}


async def post(
    url: str,
    body: bytes,
    *,
    content_type: str = xml_codec.CONTENT_TYPE,
    headers: dict[str, str] | None = None,
) -> Answer:
    pool = HTTPConnectionPool(reactor, persistent=False)
    http = treq.client.HTTPClient(Agent(reactor, pool=pool))
    sent: dict[bytes | str, bytes | str] = {"Content-Type": content_type}
    sent.update(headers or {})
    response = await http.post(url, data=body, headers=sent)
    data: bytes = await response.content()
    got = {k.decode().lower(): v[0].decode() for k, v in response.headers.getAllRawHeaders()}
    return Answer(response.code, got, data)
