"""A lab notification transport (a trial feature, not a bearer of OMA's): package #0 is POSTed to
the ``notify`` URL of the device's entry in the device list, so that a queued command brings a
lab device at once instead of at its next scheduled session.

Only ``http://`` to the loopback interface (``127.0.0.1``, ``::1``, ``localhost``) is accepted:
package #0 travels in clear and the lab device listens on the same machine. A failure (refused
connection, an HTTP status other than 2xx) is logged and changes nothing: the device comes at
its own schedule. A device without a ``notify`` URL is not notified.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import treq
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from zope.interface import implementer

from dmdelegation.dm.devices import INotificationTransport

log = Logger()

NOTIFY_TIMEOUT = 10.0
NOTIFICATION_TYPE = "application/vnd.syncml.notification"


def check_notify_url(url: str) -> str:
    """``url`` if it is ``http://`` to the loopback interface; ValueError (the reason) if not."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"expected an http:// URL to the loopback interface, got {url!r}")
    host = parts.hostname
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"only the loopback interface is accepted (lab use), got {host!r}")
    try:
        parts.port  # noqa: B018  (a port out of range raises)
    except ValueError as e:
        raise ValueError(f"{url!r}: {e}") from None
    return url


@implementer(INotificationTransport)
class LabHTTPNotifier:
    """POSTs package #0 (``application/vnd.syncml.notification``) to each device's URL."""

    def __init__(self, urls: Mapping[str, str], reactor: Any = None) -> None:
        self.urls = dict(urls)
        self.reactor = reactor

    def notify(self, device_id: str, package0: bytes) -> Deferred[None]:
        url = self.urls.get(device_id)
        if url is None:
            return succeed(None)  # the device comes at its own schedule
        return Deferred.fromCoroutine(self._post(device_id, url, package0))

    async def _post(self, device_id: str, url: str, package0: bytes) -> None:
        kw: dict[str, Any] = {} if self.reactor is None else {"reactor": self.reactor}
        headers: dict[bytes | str, bytes | str] = {"Content-Type": NOTIFICATION_TYPE}
        try:
            response = await treq.post(
                url,
                data=package0,
                headers=headers,
                timeout=NOTIFY_TIMEOUT,
                persistent=False,
                **kw,
            )
            await response.content()
        except Exception as e:
            log.warn(
                "lab notification of {device_id} failed: {error}; it comes at its own schedule",
                device_id=device_id,
                error=str(e) or type(e).__name__,
            )
            return
        if not 200 <= response.code < 300:
            log.warn(
                "lab notification of {device_id} answered HTTP {code}; it comes at its own "
                "schedule",
                device_id=device_id,
                code=response.code,
            )
