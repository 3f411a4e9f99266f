"""DMS-2 over DM sessions: its enrolments (durable, private, forgotten when the delegation
ends), the DMAcc and Bootstrap Server URL delegations where DMS-2 reaches the simulated device
only through its own DM endpoint on 127.0.0.1, the bootstrap exchange and its refusals, the
DevInfo in DMS-2's DELEGATION_REQ, DMS-1's 404 for a device it does not manage, and the dry run
of a DM-session device."""

from __future__ import annotations

import json
import os
import stat
from io import BytesIO
from pathlib import Path
from typing import Any, cast

import pytest
import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock, deferLater
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import Site
from twisted.web.test.requesthelper import DummyRequest

from dmdelegation.client.store import ClientTreeStore
from dmdelegation.dm import message as sm
from dmdelegation.dm import xml_codec
from dmdelegation.dm.bootstrap import (
    BootstrapResource,
    BootstrapServer,
    Routes,
    account_node_name,
)
from dmdelegation.dm.devices import Credentials, DMDevice
from dmdelegation.dm.enrolment import DeviceLists, EnrolmentStore
from dmdelegation.engine.engine import Refused
from dmdelegation.engine.model import Outcome, Process, Role, Session
from dmdelegation.engine.policy import ConfigPolicy
from dmdelegation.lab.device.simulator import SimulatedDevice
from dmdelegation.protocol import AuthLevel, AuthType, DelegationMethod
from dmdelegation.tree.bootconfig import BOOTCONFIG_ROOT
from dmdelegation.tree.dmacc import DMACC_ROOT
from dmdelegation.web.admin import Admin
from tests.engine.harness import granted

from ..web.certs import temp_dir
from .bootstrap_device import device_bootstrap, first_message, post_xml
from .flows import DMWorld
from .harness import DEVICE, DMS1, DMS2, SUBTREE

BOOTSTRAP_BASE = "/bs"


def _accounts(records: list[Any]) -> set[str]:
    return {
        str(r.value.data)
        for r in records
        if r.uri.is_within(DMACC_ROOT) and r.uri.name == "ServerID"
    }


class DMS2World(DMWorld):
    """`DMWorld` whose DMS-2 knows no device beforehand: its device list is its enrolments
    alone (SQLite), and its DM listener serves its bootstrap server too."""

    def __init__(self, tmp: Path, **kw: Any) -> None:
        super().__init__(tmp, **kw)
        self.enrol_path = tmp / "dms2-enrolment.sqlite3"
        self.enrolment = EnrolmentStore(self.enrol_path)
        self.devices2 = DeviceLists(None, self.enrolment)  # type: ignore[assignment]
        self.ep2.server.devices = self.devices2
        self.ep2.server.devinfo_seen = self.enrolment.save_devinfo
        server = self.dms2_server
        server.enrolment = self.devices2
        url = self.ep2.url.rsplit("/", 1)[0]
        self.bootstrap_url = url + BOOTSTRAP_BASE
        server.bootstrap_url_value = self.bootstrap_url
        server.tokens = self.enrolment
        server.clock = self.clock
        server.token_lifetime = 600.0
        self.bootstrap = BootstrapServer(server, self.enrolment, self.clock, url=self.bootstrap_url)
        site: Site = self.ep2.port.factory  # type: ignore[attr-defined]
        site.resource = Routes(site.resource, BootstrapResource(self.bootstrap, b"/bs"))
        self.bootstrapped_from: list[str] = []

    def manages(self, device_id: str) -> bool:
        return self.devices1.device(device_id) is not None

    async def run_with_bootstrap(self, session: Session, engine: Any = None) -> Session:
        """`run`, the device bootstrapping from the URL DMS-1 wrote in its BootConfig."""
        ended: Deferred[Session] = (engine or self.dms1).wait(session.session_id)
        while not ended.called:
            for record in self.device.records():
                url = str(record.value.data)
                if (
                    record.uri.is_within(BOOTCONFIG_ROOT)
                    and record.uri.name == "BootstrapURL"
                    and url not in self.bootstrapped_from
                ):
                    self.bootstrapped_from.append(url)
                    await device_bootstrap(self.device, url)
            self.clock.advance(0)
            await deferLater(reactor, 0, lambda: None)
        return await ended

    def stop(self) -> Deferred[Any]:
        d = super().stop()
        self.enrolment.close()
        return d


class DMS2OverDMSessions(TestCase):
    timeout = 120  # whole delegations over HTTP

    async def test_dmacc_delegation_reaches_the_device_through_dms2s_own_endpoint(self) -> None:
        tmp = temp_dir(self)
        world = DMS2World(tmp / "dm")
        self.addCleanup(world.stop)
        assert world.devices2.device(DEVICE) is None  # DMS-2 knows nothing of the device

        session = world.dms1.delegate(DEVICE, DMS2, SUBTREE, method=DelegationMethod.DMACC)
        result = await world.run(session)
        assert result.outcome is Outcome.DELEGATED, result.reason
        assert _accounts(world.device.records()) == {DMS1, DMS2}
        # The device was admitted because it is enrolled; DMS-2's Get went in its session.
        enrolled = world.enrolment.device(DEVICE)
        assert enrolled is not None
        assert world.dms2_server.managed == {DEVICE: {SUBTREE}}
        assert any(c.name == "Get" for m in world.device.received for c in m.commands)
        # The DevInfo of the device's session with DMS-2 is kept.
        assert world.enrolment.devinfo(DEVICE)["Man"] == "Acme"
        assert oct(stat.S_IMODE(os.stat(world.enrol_path).st_mode)) == "0o600"

        # DMS-2 restarts: its enrolment survives, and the device authenticates with it.
        world.enrolment.close()
        world.enrolment = EnrolmentStore(world.enrol_path)
        world.devices2 = DeviceLists(None, world.enrolment)  # type: ignore[assignment]
        world.ep2.server.devices = world.devices2
        world.ep2.server.devinfo_seen = world.enrolment.save_devinfo
        world.dms2_server.enrolment = world.devices2
        again = world.enrolment.device(DEVICE)
        assert again is not None
        assert (again.client.secret, again.server.secret) == (
            enrolled.client.secret,
            enrolled.server.secret,
        )
        opened: list[str] = []
        world.device.on_session = opened.append
        await world.device.connect(DMS2)
        assert DMS2 in opened  # the session was authenticated both ways and ended

        # The revocation: DMS-2 drops its queue, DMS-1 removes the account, DMS-2 forgets.
        revocation = world.dms1.revoke(DEVICE, SUBTREE)
        result = await world.run(revocation)
        assert result.outcome is Outcome.REVOKED, result.reason
        assert _accounts(world.device.records()) == {DMS1}
        assert world.enrolment.device(DEVICE) is None
        assert EnrolmentStore(world.enrol_path).enrolled() == []

    async def test_bootstrap_url_delegation_through_the_bootstrap_exchange(self) -> None:
        tmp = temp_dir(self)
        world = DMS2World(tmp / "dm")
        self.addCleanup(world.stop)
        session = world.dms1.delegate(
            DEVICE, DMS2, SUBTREE, method=DelegationMethod.BOOTSTRAP_SERVER_URL
        )
        result = await world.run_with_bootstrap(session)
        assert result.outcome is Outcome.DELEGATED, result.reason
        (url,) = world.bootstrapped_from
        assert url.startswith(world.bootstrap_url + "/")
        assert len(url) > len(world.bootstrap_url) + 30  # a token, not the bare URL
        assert _accounts(world.device.records()) == {DMS1, DMS2}
        assert world.device.account(DMS2).app_addrs[0].addr == world.ep2.url
        assert world.enrolment.device(DEVICE) is not None
        assert world.dms2_server.managed == {DEVICE: {SUBTREE}}
        assert world.enrolment.devinfo(DEVICE)["Mod"] == "Phone 3"
        # The token was single-use.
        reply = await post_xml(url, first_message(world.device, url))
        assert reply.statuses[0].code == 401
        assert reply.commands == ()


def _store(tmp: Path) -> tuple[EnrolmentStore, Clock]:
    clock = Clock()
    clock.advance(1000)
    return EnrolmentStore(tmp / "enrolment.sqlite3"), clock


def test_the_enrolment_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        store = EnrolmentStore(tmp_path / "e.sqlite3")
    finally:
        os.umask(old)
    store.close()
    assert stat.S_IMODE(os.stat(tmp_path / "e.sqlite3").st_mode) == 0o600


def test_enrolments_and_their_nonces_survive_a_restart(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    device = DMDevice(
        DEVICE,
        Credentials(AuthType.HMAC, DEVICE, "c-secret", b"c1"),
        Credentials(AuthType.HMAC, DMS2, "s-secret", b"s1"),
        atomic=False,
    )
    store.add(device)
    store.save_nonce(DEVICE, AuthLevel.CLIENT, b"c2")
    store.save_devinfo(DEVICE, {"Man": "Acme", "Mod": "Phone 3"})
    store.close()
    again, _ = _store(tmp_path)
    got = again.device(DEVICE)
    assert got is not None
    assert (got.client.nonce, got.server.nonce, got.atomic) == (b"c2", b"s1", False)
    assert got.client.secret == "c-secret"
    assert again.devinfo(DEVICE) == {"Man": "Acme", "Mod": "Phone 3"}
    again.remove(DEVICE)
    assert again.device(DEVICE) is None
    again.close()
    assert _store(tmp_path)[0].device(DEVICE) is None


def test_the_configured_list_comes_first_and_new_devices_are_enrolled(tmp_path: Path) -> None:
    from dmdelegation.dm.devices import MemoryDeviceList

    store, _ = _store(tmp_path)
    listed = DMDevice(
        "listed", Credentials(AuthType.HMAC, "listed", "x"), Credentials(AuthType.HMAC, DMS2, "y")
    )
    lists = DeviceLists(MemoryDeviceList([listed]), store)
    assert lists.device("listed") == listed
    lists.add(DMDevice(DEVICE, listed.client, listed.server))
    assert store.device(DEVICE) is not None
    lists.remove("listed")  # the configured list is never written
    assert lists.device("listed") == listed


class BootstrapRefusals(TestCase):
    def _server(self) -> tuple[BootstrapServer, EnrolmentStore, Clock, list[str]]:
        from dmdelegation.dm.delegated import DMDelegatedServer
        from dmdelegation.dm.server import DMSessionServer

        tmp = temp_dir(self)
        store, clock = _store(tmp)
        self.addCleanup(store.close)
        lists = DeviceLists(None, store)
        sessions = DMSessionServer(DMS2, "http://dms2.invalid/dm", lists, clock)
        delegated = DMDelegatedServer(
            DMS2,
            sessions,
            lists,
            dm_url="http://dms2.invalid/dm",
            bootstrap_url="http://dms2.invalid/bs",
            tokens=store,
            clock=clock,
            token_lifetime=60,
        )
        lines: list[str] = []

        def record(event: LogEvent) -> None:
            lines.append(formatEvent(event))

        observe = cast(ILogObserver, record)

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)
        server = BootstrapServer(delegated, store, clock, url="http://dms2.invalid/bs")
        self.delegated = delegated
        return server, store, clock, lines

    def _session(self) -> Session:
        return Session(
            session_id="s-1",
            role=Role.DMS2,
            process=Process.DELEGATION_BOOTSTRAP,
            state="new",
            peer=DMS1,
            device_id=DEVICE,
            subtree=SUBTREE,
            full=False,
            initiator=Role.DMS1,
        )

    def _token(self) -> tuple[str, str]:
        url = self.successResultOf(self.delegated.bootstrap_url(self._session()))
        return url, url.rsplit("/", 1)[1]

    def _device(self) -> SimulatedDevice:
        from dmdelegation.tree.devinfo import DevInfo
        from dmdelegation.tree.memory import MemoryTree

        return SimulatedDevice(devinfo=DevInfo(DEVICE, "Acme", "Phone 3"), tree=MemoryTree())

    def _refused(self, reply: Any, lines: list[str], token: str, store: EnrolmentStore) -> None:
        message = xml_codec.decode(reply.body, 1 << 20)
        assert message.statuses[0].code == 401
        assert message.commands == ()
        assert store.device(DEVICE) is None
        assert any("refused (401)" in line for line in lines)
        assert not any(token in line for line in lines)

    def test_an_unknown_token(self) -> None:
        server, store, _, lines = self._server()
        url, token = self._token()
        reply = server.handle(token + "x", first_message(self._device(), url))
        self._refused(reply, lines, token, store)
        # the right token still works afterwards: the refusal changed nothing
        ok = xml_codec.decode(
            server.handle(token, first_message(self._device(), url)).body, 1 << 20
        )
        assert ok.statuses[0].code == 200
        assert ok.commands[0].name == "Add"
        assert ok.commands[0].items[0].target == f"./DMAcc/{account_node_name(DMS2)}"

    def test_a_used_token(self) -> None:
        server, store, _, lines = self._server()
        url, token = self._token()
        first = server.handle(token, first_message(self._device(), url))
        assert xml_codec.decode(first.body, 1 << 20).statuses[0].code == 200
        other = first_message(self._device(), url).replace(b"<SessionID>B1", b"<SessionID>B2")
        self._refused(server.handle(token, other), lines, token, store)

    def test_an_expired_token(self) -> None:
        server, store, clock, lines = self._server()
        url, token = self._token()
        clock.advance(61)
        self._refused(server.handle(token, first_message(self._device(), url)), lines, token, store)

    def test_another_device(self) -> None:
        server, store, _, lines = self._server()
        url, token = self._token()
        body = first_message(self._device(), url, source="IMEI:someone-else")
        self._refused(server.handle(token, body), lines, token, store)
        # a DevInfo DevId that is not the Source
        body = first_message(self._device(), url).replace(
            f"<Data>{DEVICE}</Data>".encode(), b"<Data>IMEI:someone-else</Data>"
        )
        self._refused(server.handle(token, body), lines, token, store)

    def test_a_refused_add_enrols_nothing(self) -> None:
        server, store, _, _ = self._server()
        url, token = self._token()
        reply = xml_codec.decode(
            server.handle(token, first_message(self._device(), url)).body, 1 << 20
        )
        statuses = tuple(
            sm.Status(
                cmd_id=str(i), msg_ref="1", cmd_ref=c.cmd_id, cmd="Add", code=200 if i else 500
            )
            for i, c in enumerate(reply.commands)
        )
        header = sm.Header(session_id="B1", msg_id="2", target=url, source=DEVICE)
        server.handle(token, xml_codec.encode(sm.Message(header, statuses)))
        assert store.device(DEVICE) is None
        waiting = self.delegated.await_client_bootstrap(self._session())
        assert not waiting.called
        waiting.cancel()
        self.failureResultOf(waiting)


def test_dms1_refuses_at_once_a_device_it_does_not_manage() -> None:
    policy = ConfigPolicy({DMS2: granted(we_delegate=True)}, manages=lambda d: d == DEVICE)
    request: Any = type(
        "R", (), {"device_id": "IMEI:unknown", "dm_tree_uri": SUBTREE, "is_delegation_full": False}
    )()
    decided: list[Any] = []
    policy.decide(Role.DMS1, DMS2, request).addCallback(decided.append)
    assert (decided[0].accept, decided[0].reason_code) == (False, 404)
    request.device_id = DEVICE
    policy.decide(Role.DMS1, DMS2, request).addCallback(decided.append)
    assert decided[1].accept


class RequestsAndDryRun(TestCase):
    timeout = 120  # whole delegations over HTTP

    async def test_dms2s_request_carries_devinfo_and_dms1_answers_404_for_others(self) -> None:
        tmp = temp_dir(self)
        world = DMS2World(tmp / "dm")
        self.addCleanup(world.stop)
        world.dms1.policy = ConfigPolicy({DMS2: granted(we_delegate=True)}, manages=world.manages)
        # DMS-2 knows the device's DevInfo from its sessions (here: saved as the endpoint does).
        world.enrolment.save_devinfo(DEVICE, {"DevId": DEVICE, "Man": "Acme", "Mod": "Phone 3"})
        clients = ClientTreeStore(tmp / "empty.sqlite3")
        self.addCleanup(clients.close)
        knowledge = _Knowledge(world)
        admin = Admin(world.dms2, clients, world.clock, dm=knowledge)

        async def post(path: str, body: dict[str, Any]) -> Any:
            request = DummyRequest([path.encode()])
            request.content = BytesIO(json.dumps(body).encode())  # type: ignore[attr-defined]
            d = admin.request_delegation(request)  # type: ignore[arg-type]
            while not d.called:
                world.clock.advance(0)
                await deferLater(reactor, 0, lambda: None)
            return await d

        asked = await post("/request", {"device": DEVICE, "from": DMS1, "subtree": SUBTREE})
        session = world.dms2.store.get(asked["session"])
        assert session is not None
        assert (session.device_man, session.device_mod) == ("Acme", "Phone 3")
        result = await world.run(session, world.dms2)
        assert result.outcome is Outcome.DELEGATED, result.reason
        at_dms1 = world.dms1.store.get(asked["session"])
        assert at_dms1 is not None
        assert (at_dms1.device_man, at_dms1.device_mod) == ("Acme", "Phone 3")

        other = await post("/request", {"device": "IMEI:unknown", "from": DMS1, "subtree": SUBTREE})
        refused = world.dms2.store.get(other["session"])
        assert refused is not None
        result = await world.run(refused, world.dms2)
        assert "declined (reason 404)" in (result.reason or "")
        at_dms1 = world.dms1.store.get(other["session"])
        assert at_dms1 is not None  # refused at once: not acknowledged, the device untouched
        assert (at_dms1.outcome, at_dms1.touched_client) == (Outcome.REFUSED, False)
        assert result.outcome is Outcome.REFUSED


class _Knowledge:
    def __init__(self, world: DMS2World) -> None:
        self.world = world

    def manages(self, device_id: str) -> bool:
        return self.world.devices2.device(device_id) is not None or device_id == DEVICE

    def devinfo(self, device_id: str) -> dict[str, str]:
        return self.world.enrolment.devinfo(device_id)


def test_a_dry_run_of_a_dm_session_device(tmp_path: Path) -> None:
    from dmdelegation.ops import dryrun
    from tests.engine.harness import Pair

    pair = Pair(tmp_path)

    class Known:
        def manages(self, device_id: str) -> bool:
            return device_id == "IMEI:dm-device"

        def devinfo(self, device_id: str) -> dict[str, str]:
            return {"DevId": device_id, "Man": "Acme", "Mod": "Phone 3"}

    plan = dryrun.plan(
        pair.dms1, pair.clients, "IMEI:dm-device", DMS2, SUBTREE, dm=Known(), full=True
    )
    changes = plan.changes.to_json()
    assert changes["added"] == ["./DMAcc/2"]
    assert changes["removed"] == ["./DMAcc/1"]  # full: our own account goes
    assert any(a["uri"] == SUBTREE and DMS2 in a["after"] for a in changes["acl"])
    assert dryrun.DM_DEVICE_NOTE in plan.notes
    with pytest.raises(Refused) as caught:  # neither embedded nor a DM device
        dryrun.plan(pair.dms1, pair.clients, "IMEI:nobody", DMS2, SUBTREE, dm=Known())
    assert caught.value.status == 404


class LabNotification(TestCase):
    """package #0 POSTed to the device's loopback ``notify`` URL; failures only logged."""

    async def test_package0_is_posted_to_the_devices_url(self) -> None:
        from twisted.web.resource import Resource

        from dmdelegation.dm.lab_notify import LabHTTPNotifier

        got: list[tuple[bytes | None, bytes]] = []

        class Notify(Resource):
            isLeaf = True

            def render_POST(self, request: Any) -> bytes:
                got.append((request.getHeader(b"content-type"), request.content.read()))
                return b""

        tcp: Any = reactor
        port: Any = tcp.listenTCP(0, Site(Notify()), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        url = f"http://127.0.0.1:{port.getHost().port}/notify"
        notifier = LabHTTPNotifier({DEVICE: url})
        await notifier.notify(DEVICE, b"\x01package0")
        assert got == [(b"application/vnd.syncml.notification", b"\x01package0")]
        await notifier.notify("IMEI:no-url", b"ignored")  # no URL: its own schedule
        assert len(got) == 1

    async def test_a_failure_is_logged_and_changes_nothing(self) -> None:
        from dmdelegation.dm.lab_notify import LabHTTPNotifier

        tcp: Any = reactor
        port: Any = tcp.listenTCP(0, Site(Resource()), interface="127.0.0.1")
        number = port.getHost().port
        await port.stopListening()  # nobody listens there now
        lines: list[str] = []
        observe = cast(ILogObserver, lambda event: lines.append(formatEvent(event)))
        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)
        await LabHTTPNotifier({DEVICE: f"http://127.0.0.1:{number}/notify"}).notify(DEVICE, b"p0")
        assert any("lab notification of" in line and "own schedule" in line for line in lines)


@pytest.mark.parametrize(
    ("url", "fault"),
    [
        ("https://127.0.0.1:1/notify", "http://"),
        ("http://192.0.2.1:8700/notify", "loopback"),
        ("http://dev.example:8700/notify", "loopback"),
    ],
)
def test_a_notify_url_off_the_loopback_is_refused(url: str, fault: str) -> None:
    from dmdelegation.dm.device_file import DeviceListError, parse_device_file

    with pytest.raises(DeviceListError, match=rf"device\[0\]\.notify: .*{fault}"):
        parse_device_file({"device": [{"DevId": DEVICE, "notify": url}]})


def test_a_notify_only_entry_admits_nobody(tmp_path: Path) -> None:
    from dmdelegation.dm.device_file import parse_device_file

    devices, notify = parse_device_file(
        {"device": [{"DevId": DEVICE, "notify": "http://127.0.0.1:8700/notify"}]}
    )
    assert devices == []
    assert notify == {DEVICE: "http://127.0.0.1:8700/notify"}


def test_the_new_classes_provide_their_interfaces(tmp_path: Path) -> None:
    from zope.interface.verify import verifyObject

    from dmdelegation.daemon.dm_endpoint import RoutedDelegatedServer
    from dmdelegation.dm.devices import IDeviceEnrolment, IDeviceList, INotificationTransport
    from dmdelegation.dm.lab_notify import LabHTTPNotifier
    from dmdelegation.engine.interfaces import IDelegatedServer

    store, _ = _store(tmp_path)
    lists = DeviceLists(None, store)
    for provider in (store, lists):
        assert verifyObject(IDeviceList, provider)
        assert verifyObject(IDeviceEnrolment, provider)
    assert verifyObject(INotificationTransport, LabHTTPNotifier({}))
    routed: Any = RoutedDelegatedServer(cast(Any, None), cast(Any, None), lambda d: False)
    assert verifyObject(IDelegatedServer, routed)
    store.close()


class BootstrapOverHTTP(TestCase):
    async def test_another_content_type_is_refused_with_415(self) -> None:
        tmp = temp_dir(self)
        world = DMS2World(tmp / "dm")
        self.addCleanup(world.stop)
        headers: dict[bytes | str, bytes | str] = {"Content-Type": "application/json"}
        url = world.bootstrap_url + "/some-token"
        response = await treq.post(url, data=b"{}", headers=headers, persistent=False)
        assert response.code == 415
        await response.content()
        response = await treq.get(world.bootstrap_url + "/some-token", persistent=False)
        assert response.code == 405
        await response.content()
