"""The session layer against the simulator over HTTP: values and ACLs both ways, MaxMsgSize and
multi-message packages, Atomic (and a device without it), cancellation, the interfaces."""

from __future__ import annotations

import base64
import hashlib

from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred, fail, gatherResults
from twisted.internet.task import Clock, deferLater
from twisted.trial.unittest import TestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from dmdelegation.client.interfaces import IDMClientSession, ISubtreeWriter
from dmdelegation.dm import auth, xml_codec
from dmdelegation.dm import message as sm
from dmdelegation.dm.client_session import AtomicDMClientSession, DMClientSession
from dmdelegation.dm.delegated import DMDelegatedServer
from dmdelegation.dm.devices import (
    DMDevice,
    IDeviceEnrolment,
    IDeviceList,
    INotificationTransport,
    MemoryDeviceList,
)
from dmdelegation.dm.notification import UIMode, build_package0, parse_package0, verify_package0
from dmdelegation.engine.interfaces import IDelegatedServer
from dmdelegation.lab.device.simulator import SimulatedDevice
from dmdelegation.protocol import AuthLevel, AuthType
from dmdelegation.tree import ACL, URI, Status, Value
from dmdelegation.tree.rights import effective_acl

from ..web.certs import temp_dir
from .harness import (
    DEVICE,
    DMS1,
    DirectNotifier,
    Endpoint,
    dm_device,
    embedded_store,
    provision,
    simulator,
)
from .raw import digest, opening, post


def test_md5_digest_and_hmac_follow_dm_security() -> None:
    def b64md5(data: bytes) -> bytes:
        return base64.b64encode(hashlib.md5(data).digest())

    inner = b64md5(b"alice:secret")
    assert auth.md5_digest("alice", "secret", b"N") == b64md5(inner + b":N").decode()
    mac = b64md5(inner + b":N:" + b64md5(b"<SyncML/>")).decode()
    assert auth.hmac_mac("alice", "secret", b"N", b"<SyncML/>") == mac
    header = auth.parse_hmac_header(auth.hmac_header("alice", "secret", b"N", b"<SyncML/>"))
    assert header == auth.HMACHeader(username="alice", mac=mac)
    assert auth.parse_hmac_header('algorithm=SHA1, username="a", mac=x') is None
    assert auth.parse_hmac_header("garbage") is None


def test_package0() -> None:
    data = build_package0("dms1", "s3cret", b"nonce", 0xBEEF, ui_mode=UIMode.BACKGROUND)
    package = parse_package0(data)
    assert (package.version, package.ui_mode, package.server_initiated) == (
        12,
        UIMode.BACKGROUND,
        True,
    )
    assert (package.session_id, package.server_id, package.vendor) == (0xBEEF, "dms1", b"")
    assert len(data) == 16 + 7 + 1 + 4
    assert verify_package0(package, "s3cret", b"nonce")
    assert not verify_package0(package, "s3cret", b"other nonce")
    assert not verify_package0(package, "wrong", b"nonce")


class Sessions(TestCase):
    def start(self, *, atomic_device: bool = True, atomic_known: bool = True, **kw: object) -> None:
        self.devices = MemoryDeviceList([dm_device(AuthType.HMAC, atomic=atomic_known)])
        self.notifier = DirectNotifier()
        self.endpoint = Endpoint(DMS1, self.devices, notifier=self.notifier)
        self.addCleanup(self.endpoint.stop)
        store = embedded_store(temp_dir(self) / "device.sqlite3", provision(self.endpoint.url))
        self.addCleanup(store.close)
        self.device: SimulatedDevice = simulator(store, atomic=atomic_device, **kw)
        self.notifier.devices[DEVICE] = self.device
        self.session = self.endpoint.server.session_for(DEVICE)

    async def done(self) -> None:
        await gatherResults(self.device.sessions)

    async def test_values_acls_and_children_both_ways(self) -> None:
        self.start()
        s = self.session
        values = {
            "./Vendor/Enterprise/T": Value.text("héllo / wörld"),
            "./Vendor/Enterprise/I": Value.integer(2**32 - 1),
            "./Vendor/Enterprise/B": Value.boolean(False),
            "./Vendor/Enterprise/X": Value.binary(b"\x00\xff\x10"),
        }
        added = [s.add(URI.parse(u), v) for u, v in values.items()]
        acl = ACL.parse(f"Get=*&Replace={DMS1}")
        set_acl = s.replace_acl(URI.parse("./Vendor/Enterprise/T"), acl)
        await self.done()
        assert [r.status for r in await gatherResults(added)] == [Status.ITEM_ADDED] * 4
        assert (await set_acl).status is Status.OK
        reads = [s.get(URI.parse(u)) for u in values]
        listing = s.get(URI.parse("./Vendor/Enterprise"))
        own = s.get_acl(URI.parse("./Vendor/Enterprise/T"))
        missing = s.get(URI.parse("./Vendor/Nothing"))
        await self.done()
        got = await gatherResults(reads)
        assert [r.node.value if r.node else None for r in got] == list(values.values())
        node = (await listing).node
        assert node is not None
        assert node.value.is_interior
        assert set(node.children) >= {"T", "I", "B", "X", "VPN", "Apps"}
        assert (await own).acl == acl
        assert (await missing).status is Status.NOT_FOUND
        # what the device holds is what was sent
        held = self.device.tree.node(URI.parse("./Vendor/Enterprise/X"))
        assert held is not None
        assert held.value == values["./Vendor/Enterprise/X"]

    async def test_a_refusal_carries_the_device_status(self) -> None:
        self.start()
        # DMS-1 may not Replace below ./Vendor/Enterprise/Apps... it may (its ACL names it);
        # nobody may add below a leaf, and the root is never deleted
        under_leaf = self.session.add(URI.parse("./Vendor/Radio/Band/X"), Value.text("x"))
        root = self.session.delete(URI.parse("."))
        twice = self.session.add(URI.parse("./Vendor"), Value.interior())
        await self.done()
        assert [(await under_leaf).status, (await root).status, (await twice).status] == [
            Status.COMMAND_NOT_ALLOWED,
            Status.COMMAND_NOT_ALLOWED,
            Status.ALREADY_EXISTS,
        ]

    async def test_max_msg_size_splits_a_package(self) -> None:
        self.start(max_msg_size=1400)
        reads = [self.session.get(URI.parse(f"./Vendor/Enterprise/N{i}")) for i in range(40)]
        await self.done()
        assert [r.status for r in await gatherResults(reads)] == [Status.NOT_FOUND] * 40
        assert self.device.violations == []
        packages = [m for m in self.device.received if m.commands]
        assert len(packages) > 2
        assert not packages[0].final
        assert packages[-1].final

    async def test_atomic_subtree_all_or_nothing(self) -> None:
        self.start()
        assert isinstance(self.session, AtomicDMClientSession)
        top = URI.parse("./Vendor/Enterprise/New")
        nodes = [((), Value.interior()), (("A",), Value.text("a")), (("A", "B"), Value.text("b"))]
        result = self.session.add_subtree(top, nodes)
        await self.done()
        assert (await result).status is Status.COMMAND_NOT_ALLOWED  # B under the leaf A
        assert self.device.tree.node(top) is None
        good = self.session.add_subtree(top, nodes[:2])
        await self.done()
        assert (await good).status is Status.ITEM_ADDED
        assert self.device.tree.node(top.child("A")) is not None

    async def test_a_device_that_refuses_atomic(self) -> None:
        self.start(atomic_device=False)
        top = URI.parse("./Vendor/Enterprise/New")
        result = self.session.add_subtree(top, [((), Value.interior())])  # type: ignore[attr-defined]
        await self.done()
        assert (await result).status is Status.COMMAND_FAILED  # 406 from the device
        assert self.device.tree.node(top) is None

    async def test_a_device_without_atomic_gets_no_subtree_writer(self) -> None:
        self.start(atomic_device=False, atomic_known=False)
        assert type(self.session) is DMClientSession
        assert not ISubtreeWriter.providedBy(self.session)

    async def test_secret_leaves_get_their_acl(self) -> None:
        self.start()
        top = URI.parse("./Vendor/Enterprise/Acc")
        nodes = [
            ((), Value.interior()),
            (("AAuthSecret",), Value.text("s")),
            (("AAuthData",), Value.binary(b"")),
            (("Name",), Value.text("n")),
        ]
        result = self.session.add_subtree(top, nodes)  # type: ignore[attr-defined]
        await self.done()
        assert (await result).status is Status.ITEM_ADDED
        tree = self.device.tree
        inherited = effective_acl(tree, top)
        assert inherited is not None
        assert not inherited.is_empty
        for name, explicit in (("AAuthSecret", True), ("AAuthData", True), ("Name", False)):
            acl = tree.node(top.child(name)).acl  # type: ignore[union-attr]
            assert acl == (inherited if explicit else ACL()), name
            assert effective_acl(tree, top.child(name)) == inherited

    async def test_cancelled_before_it_is_sent(self) -> None:
        self.devices = MemoryDeviceList([dm_device()])
        server = Endpoint(DMS1, self.devices, clock=Clock())
        self.addCleanup(server.stop)
        d = server.server.session_for(DEVICE).get(URI.parse("./Vendor"))
        assert server.server.queued(DEVICE) == 1
        d.cancel()
        self.failureResultOf(d)
        assert server.server.queued(DEVICE) == 0

    async def test_client_package_in_two_messages(self) -> None:
        devices = MemoryDeviceList([dm_device(AuthType.DIGEST)])
        endpoint = Endpoint(DMS1, devices, clock=Clock())
        self.addCleanup(endpoint.stop)
        read = endpoint.server.session_for(DEVICE).get(URI.parse("./Vendor"))
        device = devices.device(DEVICE)
        assert device is not None
        first = opening(endpoint.url, cred=digest(device.client.nonce))
        first = sm.Message(first.header, first.body[:1], final=False)
        answer = await post(endpoint.url, xml_codec.encode(first))
        reply = answer.message()
        assert not reply.final
        assert [(c.name, c.data) for c in reply.commands] == [("Alert", sm.ALERT_NEXT_MESSAGE)]
        (hdr,) = [s for s in reply.statuses if s.cmd == sm.SYNCHDR]
        assert hdr.chal is not None  # every message is authenticated: the next nonce
        second = opening(endpoint.url, msg_id="2", cred=digest(hdr.chal.next_nonce))
        second = sm.Message(second.header, second.body[1:], final=True)
        answer = await post(endpoint.url, xml_codec.encode(second))
        (get,) = [c for c in answer.message().commands if c.name == "Get"]
        assert get.items[0].target == "./Vendor"
        assert not read.called
        endpoint.server.clock.advance(endpoint.server.session_timeout)  # type: ignore[attr-defined]
        self.failureResultOf(read)

    def test_interfaces(self) -> None:
        devices = MemoryDeviceList([dm_device()])
        endpoint = Endpoint(DMS1, devices, clock=Clock())
        self.addCleanup(endpoint.stop)
        atomic = endpoint.server.session_for(DEVICE)
        assert verifyObject(IDMClientSession, atomic)
        assert verifyObject(ISubtreeWriter, atomic)
        assert verifyObject(IDMClientSession, DMClientSession(endpoint.server, DEVICE, DMS1))
        assert verifyObject(IDeviceList, devices)
        assert verifyObject(IDeviceEnrolment, devices)
        assert verifyObject(INotificationTransport, DirectNotifier())
        assert verifyObject(
            IDelegatedServer, DMDelegatedServer("dms2", endpoint.server, devices, dm_url="x")
        )


class Linger(TestCase):
    async def test_an_operation_queued_while_lingering_goes_in_the_reply(self) -> None:
        devices = MemoryDeviceList([dm_device(AuthType.DIGEST)])
        clock = Clock()
        endpoint = Endpoint(DMS1, devices, clock=clock)
        endpoint.server.linger = 5.0
        self.addCleanup(endpoint.stop)
        device = devices.device(DEVICE)
        assert device is not None
        answer = ensureDeferred(
            post(endpoint.url, xml_codec.encode(opening(endpoint.url, cred=digest(b""))))
        )
        while not endpoint.server.sessions or endpoint.server.sessions[DEVICE].work is None:
            await deferLater(reactor, 0, lambda: None)
        read = endpoint.server.session_for(DEVICE).get(URI.parse("./Vendor"))
        (get,) = [c for c in (await answer).message().commands if c.name == "Get"]
        assert get.items[0].target == "./Vendor"
        assert not read.called
        clock.advance(endpoint.server.session_timeout)
        self.failureResultOf(read)

    async def test_lingering_ends_after_its_time(self) -> None:
        devices = MemoryDeviceList([dm_device(AuthType.DIGEST)])
        clock = Clock()
        endpoint = Endpoint(DMS1, devices, clock=clock)
        endpoint.server.linger = 5.0
        self.addCleanup(endpoint.stop)
        answer = ensureDeferred(
            post(endpoint.url, xml_codec.encode(opening(endpoint.url, cred=digest(b""))))
        )
        while not endpoint.server.sessions or endpoint.server.sessions[DEVICE].work is None:
            await deferLater(reactor, 0, lambda: None)
        clock.advance(5.0)
        reply = (await answer).message()
        assert reply.final
        assert not reply.commands
        assert endpoint.server.sessions == {}


class Schedule(TestCase):
    async def test_a_device_at_its_own_schedule_takes_what_is_queued(self) -> None:
        devices = MemoryDeviceList([dm_device(AuthType.DIGEST)])
        endpoint = Endpoint(DMS1, devices)  # no notification transport
        self.addCleanup(endpoint.stop)
        store = embedded_store(
            temp_dir(self) / "device.sqlite3", provision(endpoint.url, AuthType.DIGEST)
        )
        self.addCleanup(store.close)
        device = simulator(store, codec="wbxml")
        read = endpoint.server.session_for(DEVICE).get(URI.parse("./Vendor/Radio/Band"))
        assert not read.called
        await device.connect(DMS1)
        got = await read
        assert got.node is not None
        assert got.node.value == Value.text("auto")
        assert endpoint.server.sessions == {}

    async def test_a_forged_notification_is_ignored(self) -> None:
        devices = MemoryDeviceList([dm_device()])
        endpoint = Endpoint(DMS1, devices)
        self.addCleanup(endpoint.stop)
        store = embedded_store(temp_dir(self) / "device.sqlite3", provision(endpoint.url))
        self.addCleanup(store.close)
        device = simulator(store)
        device.receive_notification(build_package0(DMS1, "not the secret", b"", 1))
        assert (device.notifications_refused, device.sessions) == (1, [])

    async def test_get_is_not_allowed_on_the_endpoint(self) -> None:
        import treq

        devices = MemoryDeviceList([dm_device()])
        endpoint = Endpoint(DMS1, devices, clock=Clock())
        self.addCleanup(endpoint.stop)
        response = await treq.get(endpoint.url, persistent=False)
        await response.content()
        assert response.code == 405
        assert response.headers.getRawHeaders("allow") == ["POST"]


@implementer(IDeviceList)
class UnsavableNonces:
    """A device list whose storage fails."""

    def __init__(self, inner: MemoryDeviceList) -> None:
        self.inner = inner

    def device(self, device_id: str) -> DMDevice | None:
        return self.inner.device(device_id)

    def save_nonce(self, device_id: str, level: AuthLevel, nonce: bytes) -> Deferred[None]:
        return fail(OSError("disk full"))


class StorageFailure(TestCase):
    async def test_a_nonce_that_cannot_be_saved_is_never_sent(self) -> None:
        inner = MemoryDeviceList([dm_device(AuthType.DIGEST)])
        devices = UnsavableNonces(inner)
        assert verifyObject(IDeviceList, devices)
        endpoint = Endpoint(DMS1, inner, clock=Clock())
        endpoint.server.devices = devices
        self.addCleanup(endpoint.stop)
        read = endpoint.server.session_for(DEVICE).get(URI.parse("./Vendor"))
        answer = await post(endpoint.url, xml_codec.encode(opening(endpoint.url, cred=digest(b""))))
        assert answer.code == 500
        assert answer.body == b""
        assert endpoint.server.sessions == {}
        assert endpoint.server.queued(DEVICE) == 1
        assert not read.called
        self.flushLoggedErrors(OSError)


class Uncarriable(TestCase):
    async def test_a_value_xml_cannot_carry_fails_alone(self) -> None:
        devices = MemoryDeviceList([dm_device(AuthType.DIGEST)])
        endpoint = Endpoint(DMS1, devices, clock=Clock())
        self.addCleanup(endpoint.stop)
        session = endpoint.server.session_for(DEVICE)
        bad = session.replace(URI.parse("./Vendor/Radio/Band"), Value.text("a\x01b"))
        good = session.get(URI.parse("./Vendor"))
        answer = await post(endpoint.url, xml_codec.encode(opening(endpoint.url, cred=digest(b""))))
        self.failureResultOf(bad, ValueError)
        assert [c.name for c in answer.message().commands] == ["Get"]
        assert not good.called
        endpoint.server.clock.advance(endpoint.server.session_timeout)  # type: ignore[attr-defined]
        self.failureResultOf(good)
