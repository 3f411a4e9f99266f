"""The two seams a host provides to the DM session layer: its device list (who may open a DM
session, with which credentials both ways) and its notification transport (how package #0
reaches a device: SMS, WAP Push, a push service...)."""

from __future__ import annotations

from collections.abc import Iterable

from attrs import evolve, field, frozen
from twisted.internet.defer import Deferred, succeed
from zope.interface import Interface, implementer

from dmdelegation.protocol.dmacc import SECRET_MASK, AuthLevel, AuthType


def _mask(value: object) -> str:
    return repr(SECRET_MASK)


@frozen
class Credentials:
    """One side's credentials in the device's account of this server (an ``AppAuth``).

    ``nonce`` is the nonce the *other* side gave last: for the client's credentials, the one
    this server issued (the device digests with it); for the server's, the one the device
    issued. Neither ``secret`` nor ``nonce`` appear in a repr."""

    auth_type: AuthType
    name: str
    secret: str = field(repr=_mask)
    nonce: bytes = field(default=b"", repr=_mask)


@frozen
class DMDevice:
    """A DM Client this server manages over DM sessions."""

    device_id: str
    client: Credentials  # CLCRED: how the device authenticates itself to this server
    server: Credentials  # SRVCRED: how this server authenticates itself to the device
    atomic: bool = True  # the client carries out Atomic (else: commands one by one, journaled)


class IDeviceList(Interface):
    """The devices this server reaches through its DM session endpoint.

    ``device`` is called on every message and must answer at once (keep the list in memory, or
    cache it); ``save_nonce`` is called before a new nonce is sent, and fires once it is durable
    (a device whose nonce is lost must be re-provisioned or challenged again)."""

    def device(device_id: str) -> DMDevice | None:
        """The device with this DevId, or None if it is not one of ours."""

    def save_nonce(device_id: str, level: AuthLevel, nonce: bytes) -> Deferred[None]:
        """Remember the nonce of ``level`` (CLCRED: issued by us; SRVCRED: issued by the
        device) for the device's next authentication."""


class INotificationTransport(Interface):
    """How a server-initiated session is asked for: the host carries package #0 to the device
    (SMS, WAP Push, ...). The device then opens a session with Alert 1200."""

    def notify(device_id: str, package0: bytes) -> Deferred[None]:
        """Deliver ``package0`` to the device; fires once it is handed over."""


class IDeviceEnrolment(Interface):
    """Optional, for a device list this server may add devices to (DMS-2's new accounts)."""

    def add(device: DMDevice) -> None:
        """Add (or replace) ``device``."""

    def remove(device_id: str) -> None:
        """Forget the device."""


@implementer(IDeviceList, IDeviceEnrolment)
class MemoryDeviceList:
    """A device list held in memory (the embedded default, and the tests')."""

    def __init__(self, devices: Iterable[DMDevice] = ()) -> None:
        self._devices = {d.device_id: d for d in devices}

    def add(self, device: DMDevice) -> None:
        self._devices[device.device_id] = device

    def remove(self, device_id: str) -> None:
        self._devices.pop(device_id, None)

    def device(self, device_id: str) -> DMDevice | None:
        return self._devices.get(device_id)

    def save_nonce(self, device_id: str, level: AuthLevel, nonce: bytes) -> Deferred[None]:
        device = self._devices.get(device_id)
        if device is not None:
            if level is AuthLevel.CLIENT:
                device = evolve(device, client=evolve(device.client, nonce=nonce))
            else:
                device = evolve(device, server=evolve(device.server, nonce=nonce))
            self._devices[device_id] = device
        return succeed(None)
