"""The device's notification endpoint: ``POST /notify`` with a package #0 as the body (the lab's
stand-in for the WAP Push or SMS a real device receives).

The package is verified as `SimulatedDevice.verify_notification` does (the digest with the
account's SRVCRED secret and the server nonce): 202 and a session with that server; 400 for a
body that is not a package #0 (or the wrong Content-Type), 401 for one that does not verify or
names no account of the device; each refusal is logged, and changes nothing.
"""

from __future__ import annotations

from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import Request

from dmdelegation.dm import message as sm
from dmdelegation.lab.device.runner import DeviceRunner
from dmdelegation.lab.device.simulator import NotificationRefused

CONTENT_TYPE = "application/vnd.syncml.notification"
MAX_PACKAGE0 = 4096

log = Logger(namespace="dmdelegation.device")


class NotifyResource(Resource):
    isLeaf = True

    def __init__(self, runner: DeviceRunner) -> None:
        super().__init__()
        self.runner = runner

    def render_POST(self, request: Request) -> bytes:
        content_type = (request.getHeader("content-type") or "").split(";")[0].strip().lower()
        assert request.content is not None
        body = request.content.read(MAX_PACKAGE0 + 1)
        try:
            if content_type != CONTENT_TYPE:
                raise NotificationRefused(400, f"Content-Type {content_type[:64]!r}")
            if len(body) > MAX_PACKAGE0:
                raise NotificationRefused(400, "larger than a package #0")
            server_id, session_id = self.runner.device.verify_notification(body)
        except NotificationRefused as e:
            log.warn("notification refused ({code}): {reason}", code=e.code, reason=str(e))
            request.setResponseCode(e.code)
            request.setHeader("content-type", "text/plain; charset=utf-8")
            return f"{e}\n".encode()
        log.info(
            "notified by {server_id} (session {session_id})",
            server_id=server_id,
            session_id=session_id,
        )
        self.runner.open_session(server_id, sm.ALERT_SERVER_INITIATED, session_id)
        request.setResponseCode(202)
        return b""


def notify_root(runner: DeviceRunner) -> Resource:
    """The site's root: ``/notify`` only."""
    root = Resource()
    root.putChild(b"notify", NotifyResource(runner))
    return root
