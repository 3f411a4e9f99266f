"""DMS-1's DM session endpoint on a real socket on 127.0.0.1, and a simulated device whose
owner account points at it; the same device provisioned in the embedded store, for comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IListeningPort
from zope.interface import implementer

from dmdelegation.client.provisioning import DeviceProvision
from dmdelegation.client.store import ClientTreeStore
from dmdelegation.dm.devices import Credentials, DMDevice, INotificationTransport, MemoryDeviceList
from dmdelegation.dm.resource import DMSessionResource
from dmdelegation.dm.server import DMSessionServer
from dmdelegation.lab.device.simulator import SimulatedDevice
from dmdelegation.protocol import AddrType, AppAddr, AppAuth, AuthLevel, AuthType, DMAcc
from dmdelegation.tree import ACL, URI, Value
from dmdelegation.tree.devinfo import DevInfo
from dmdelegation.tree.memory import MemoryTree
from dmdelegation.web.delegation import make_site

DMS1 = "dms1.operator.example"
DMS2 = "dms2.enterprise.example"
DEVICE = "IMEI:490154203237518"
SUBTREE = "./Vendor/Enterprise"
CLIENT_SECRET = "client-secret-1"
SERVER_SECRET = "server-secret-1"


def provision(url: str, auth_type: AuthType = AuthType.HMAC) -> DeviceProvision:
    owner = DMAcc(
        server_id=DMS1,
        name="Operator DM",
        app_addrs=(AppAddr(addr=url, addr_type=AddrType.URI),),
        app_auths=(
            AppAuth(level=AuthLevel.SERVER, type=auth_type, name=DMS1, secret=SERVER_SECRET),
            AppAuth(level=AuthLevel.CLIENT, type=auth_type, name=DEVICE, secret=CLIENT_SECRET),
        ),
    )
    return DeviceProvision(
        devinfo=DevInfo(dev_id=DEVICE, man="Acme", mod="Phone 3"),
        owner=owner,
        nodes=(
            (URI.parse("./Vendor/Enterprise/VPN/Server"), Value.text("vpn.example")),
            (URI.parse("./Vendor/Enterprise/VPN/Port"), Value.integer(443)),
            (URI.parse("./Vendor/Enterprise/Apps/Mail"), Value.text("enabled")),
            (URI.parse("./Vendor/Enterprise/Cert"), Value.binary(b"\x00\x01\xfe\xff")),
            (URI.parse("./Vendor/Enterprise/On"), Value.boolean(True)),
            (URI.parse("./Vendor/Radio/Band"), Value.text("auto")),
            (URI.parse("./BootConfig"), Value.interior()),
        ),
        acls=((URI.parse("./Vendor/Enterprise/Apps"), ACL.parse(f"Get={DMS1}+*&Replace={DMS1}")),),
    )


def dm_device(auth_type: AuthType = AuthType.HMAC, *, atomic: bool = True) -> DMDevice:
    """DMS-1's entry for the device: the credentials of its account on the device."""
    return DMDevice(
        device_id=DEVICE,
        client=Credentials(auth_type, DEVICE, CLIENT_SECRET),
        server=Credentials(auth_type, DMS1, SERVER_SECRET),
        atomic=atomic,
    )


def embedded_store(path: Path, prov: DeviceProvision) -> ClientTreeStore:
    store = ClientTreeStore(path)
    store.provision(prov)
    return store


@implementer(INotificationTransport)
class DirectNotifier:
    """Carries package #0 straight to the simulated devices (the host's SMS, in a real one)."""

    def __init__(self) -> None:
        self.devices: dict[str, SimulatedDevice] = {}
        self.sent: list[tuple[str, bytes]] = []

    def notify(self, device_id: str, package0: bytes) -> Deferred[None]:
        self.sent.append((device_id, package0))
        device = self.devices.get(device_id)
        if device is not None:
            device.receive_notification(package0)
        return succeed(None)


class Endpoint:
    """A `DMSessionServer` behind its resource, listening on 127.0.0.1."""

    def __init__(
        self,
        server_id: str,
        devices: MemoryDeviceList,
        *,
        notifier: INotificationTransport | None = None,
        max_msg_size: int = 64 * 1024,
        clock: Any = reactor,
    ) -> None:
        self.server = DMSessionServer(
            server_id, "", devices, clock, notifier=notifier, max_msg_size=max_msg_size
        )
        site = make_site(DMSessionResource(self.server), "/dm", 4 * max_msg_size)
        tcp: Any = reactor
        self.port: IListeningPort = tcp.listenTCP(0, site, interface="127.0.0.1")
        self.url = f"http://127.0.0.1:{self.port.getHost().port}/dm"
        self.server.url = self.url

    def stop(self) -> Deferred[None]:
        d = self.port.stopListening()
        return d if d is not None else succeed(None)


def simulator(store: ClientTreeStore, **kw: Any) -> SimulatedDevice:
    prov_devinfo = DevInfo(dev_id=DEVICE, man="Acme", mod="Phone 3")
    return SimulatedDevice(devinfo=prov_devinfo, tree=MemoryTree(store.records(DEVICE)), **kw)
