"""The DM session endpoint: POST of ``application/vnd.syncml.dm+xml`` or ``+wbxml`` (or the
SyncML types ``application/vnd.syncml+xml`` and ``+wbxml``, which some clients send; parameters
such as ``; charset=utf-8`` are ignored), with the ``x-syncml-hmac`` header when the device
authenticates with HMAC; answered in the codec and the media type the client used.

Serve it behind `dmdelegation.web.delegation.make_site` (which refuses a body over its limit as
it arrives) or any twisted.web site; TLS, if any, is the host's listener's.
"""

from __future__ import annotations

from typing import Any, cast

from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from dmdelegation.dm.auth import HMAC_HEADER
from dmdelegation.dm.server import CONTENT_TYPES, DMSessionServer, Reply

log = Logger()


def media_type(request: IRequest) -> str:
    raw = request.getHeader("content-type") or ""
    return raw.split(";", 1)[0].strip().lower()


class DMSessionResource(Resource):
    isLeaf = True

    def __init__(self, server: DMSessionServer) -> None:
        super().__init__()
        self.sessions = server

    def render_POST(self, request: IRequest) -> bytes | int:
        kind = media_type(request)
        if kind not in CONTENT_TYPES:
            log.info("DM endpoint: content type {kind!r} refused (415)", kind=kind[:64])
            request.setResponseCode(415)
            request.setHeader("content-type", "text/plain; charset=utf-8")
            return b"expected application/vnd.syncml.dm+xml or +wbxml (or vnd.syncml+xml, +wbxml)\n"
        assert request.content is not None
        body = request.content.read()
        finished: list[bool] = []
        cast(Request, request).notifyFinish().addBoth(lambda _: finished.append(True))

        def answer(reply: Reply) -> None:
            if finished:
                return
            request.setResponseCode(reply.code)
            request.setHeader("content-type", reply.content_type)
            for name, value in reply.headers:
                request.setHeader(name, value)
            request.write(reply.body)
            request.finish()

        def failed(failure: Failure) -> None:
            log.failure("DM endpoint: unexpected failure", failure)
            if finished:
                return
            request.setResponseCode(500)
            request.finish()

        d = self.sessions.handle(body, kind, request.getHeader(HMAC_HEADER))
        d.addCallbacks(answer, failed)
        return NOT_DONE_YET

    def render_GET(self, request: IRequest) -> Any:
        request.setResponseCode(405)
        request.setHeader("allow", "POST")
        return b""
