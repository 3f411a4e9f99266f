"""DMS-1's changes for real DM Clients: every AppAuth of DMS-2's account gets AAuthData."""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer
from zope.interface.verify import verifyObject

from dmdelegation.dm.interop import DMClientChanges, with_auth_data
from dmdelegation.engine.interfaces import IClientChanges
from dmdelegation.engine.model import Process, Role, Session
from dmdelegation.protocol import AddrType, AppAddr, AppAuth, AuthLevel, AuthType, DMAcc

ACCOUNT = DMAcc(
    server_id="dms2",
    app_addrs=(AppAddr(addr="https://dms2/dm", addr_type=AddrType.URI),),
    app_auths=(
        AppAuth(level=AuthLevel.SERVER, type=AuthType.HMAC, name="dms2", secret="a"),
        AppAuth(level=AuthLevel.CLIENT, type=AuthType.HMAC, name="d", secret="b", data=b"N"),
    ),
)


@implementer(IClientChanges)
class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def _record(self, name: str, arg: object = None) -> Deferred[None]:
        self.calls.append((name, arg))
        return succeed(None)

    def prepare_dmacc(self, session: Session, dmacc: DMAcc | None) -> Deferred[None]:
        return self._record("prepare_dmacc", dmacc)

    def add_bootstrap_entry(self, session: Session, url: str) -> Deferred[None]:
        return self._record("add_bootstrap_entry", url)

    def grant(self, session: Session) -> Deferred[None]:
        return self._record("grant")

    def undo(self, session: Session) -> Deferred[None]:
        return self._record("undo")

    def commit(self, session: Session) -> Deferred[None]:
        return self._record("commit")

    def remove_delegate(self, session: Session) -> Deferred[None]:
        return self._record("remove_delegate")


SESSION = Session(
    session_id="0123456789abcdef0123",
    role=Role.DMS1,
    process=Process.DELEGATION_DMACC,
    state="preparing",
    peer="dms2",
    device_id="IMEI:1",
    subtree="./A",
    full=False,
    initiator=Role.DMS1,
)


def test_every_app_auth_gets_auth_data() -> None:
    filled = with_auth_data(ACCOUNT)
    assert [a.data for a in filled.app_auths] == [b"", b"N"]
    assert filled.app_auths[0].secret == "a"
    assert with_auth_data(filled) == filled


def test_wrapper_passes_everything_else_through() -> None:
    inner = Recorder()
    changes = DMClientChanges(inner)
    assert verifyObject(IClientChanges, changes)
    assert verifyObject(IClientChanges, inner)
    changes.prepare_dmacc(SESSION, ACCOUNT)
    changes.prepare_dmacc(SESSION, None)
    changes.add_bootstrap_entry(SESSION, "https://bs")
    for name in ("grant", "undo", "commit", "remove_delegate"):
        getattr(changes, name)(SESSION)
    assert inner.calls == [
        ("prepare_dmacc", with_auth_data(ACCOUNT)),
        ("prepare_dmacc", None),
        ("add_bootstrap_entry", "https://bs"),
        ("grant", None),
        ("undo", None),
        ("commit", None),
        ("remove_delegate", None),
    ]
