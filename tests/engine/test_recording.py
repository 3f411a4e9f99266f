"""The recording client session: every command passed on and recorded (command, URI, status,
never a value) under its process's session id; what the device's session provides, it does."""

from __future__ import annotations

from pathlib import Path

from twisted.internet.defer import fail
from twisted.internet.task import Clock
from zope.interface import directlyProvides
from zope.interface.verify import verifyObject

from dmdelegation.client.interfaces import (
    IDMClientSession,
    ISubtreeSnapshot,
    ISubtreeWriter,
    ITransactionalSession,
)
from dmdelegation.client.store import ClientTreeStore
from dmdelegation.engine.recording import RecordingSession
from dmdelegation.store.interfaces import DeviceCommand
from dmdelegation.store.sessions import SessionStore
from dmdelegation.tree import URI
from dmdelegation.tree.value import Format, Value
from tests.engine.harness import DEVICE, DMS1, provision


def test_commands_are_passed_on_and_recorded_without_their_values(tmp_path: Path) -> None:
    clients = ClientTreeStore(tmp_path / "clients.sqlite3")
    clients.provision(provision())
    inner = clients.session(DEVICE, DMS1)
    store = SessionStore(tmp_path / "sessions.sqlite3")
    clock = Clock()
    clock.advance(5)
    recording = RecordingSession(inner, "s1", store, clock)
    assert verifyObject(IDMClientSession, recording)
    for optional in (ISubtreeSnapshot, ISubtreeWriter, ITransactionalSession):
        assert optional.providedBy(recording) == optional.providedBy(inner)
    secret = Value(Format.CHR, "a-secret-value")
    statuses: list[int] = []
    recording.add(URI.parse("./Vendor/Recorded"), secret).addCallback(
        lambda r: statuses.append(int(r.status))
    )
    recording.get(URI.parse("./Nowhere")).addCallback(lambda r: statuses.append(int(r.status)))
    assert statuses == [201, 404]
    store.flush()
    assert store.device_commands("s1") == [
        DeviceCommand("s1", "Add", "./Vendor/Recorded", 201, 5.0),
        DeviceCommand("s1", "Get", "./Nowhere", 404, 5.0),
    ]
    assert "a-secret-value" not in repr(store.device_commands("s1"))
    store.close()
    clients.close()


def test_a_command_without_an_answer_is_recorded_with_no_status(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions.sqlite3")

    class Lost:
        device_id, server_id = DEVICE, DMS1

        def delete(self, uri: URI) -> object:
            return fail(ConnectionError("the device went away"))

    recording = RecordingSession(Lost(), "s1", store)  # type: ignore[arg-type]
    failures: list[object] = []
    recording.delete(URI.parse("./DMAcc/2")).addErrback(failures.append)
    assert len(failures) == 1  # the failure goes on to the operation
    (recorded,) = store.device_commands("s1")
    assert (recorded.command, recorded.uri, recorded.status) == ("Delete", "./DMAcc/2", None)
    store.close()


def test_what_a_session_provides_on_its_own_is_provided_too(tmp_path: Path) -> None:
    """The interfaces of the session's class are declared on a recording class made once per
    class; those one session provides by itself are declared on its recording session."""
    clients = ClientTreeStore(tmp_path / "clients.sqlite3")
    clients.provision(provision())
    store = SessionStore(tmp_path / "sessions.sqlite3")

    class Plain:
        device_id, server_id = DEVICE, DMS1

    plain, special = Plain(), Plain()
    directlyProvides(special, ISubtreeSnapshot)
    assert not ISubtreeSnapshot.providedBy(RecordingSession(plain, "s1", store))  # type: ignore[arg-type]
    assert ISubtreeSnapshot.providedBy(RecordingSession(special, "s2", store))  # type: ignore[arg-type]
    one = RecordingSession(clients.session(DEVICE, DMS1), "s3", store)
    two = RecordingSession(clients.session(DEVICE, DMS1), "s4", store)
    assert type(one) is type(two)
    assert ITransactionalSession.providedBy(one) == ITransactionalSession.providedBy(
        clients.session(DEVICE, DMS1)
    )
    store.close()
    clients.close()
