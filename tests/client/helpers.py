"""A provisioned embedded client, its journal store, and the accounts the client tests use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attrs import frozen
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher
from zope.interface import implementer

from dmdelegation.client import ClientTreeStore, DeviceProvision, SQLiteJournalStore
from dmdelegation.client.journal_store import SQLiteUndoJournal
from dmdelegation.client.session import TreeClientSession
from dmdelegation.protocol.dmacc import AddrType, AppAddr, AppAuth, AuthLevel, AuthType, DMAcc
from dmdelegation.tree import ACL, URI, DevInfo, NodeRecord, Value

OWNER = "dms1.operator.example"
DMS2 = "dms2.example.net"
DEVICE = "IMEI:490154203237518"
OWNER_SECRET = "owner-s3cret-4f1a"
DMS2_SECRET = "dms2-s3cret-9b7c"
DMS2_DATA = b"dms2-data-\x00\x01"


def account(server_id: str, secret: str, data: bytes | None = None) -> DMAcc:
    return DMAcc(
        server_id=server_id,
        app_addrs=(AppAddr(f"https://{server_id}:8443/dm", AddrType.URI, (8443,)),),
        app_auths=(
            AppAuth(AuthLevel.SERVER, AuthType.HTTP_DIGEST, server_id, secret, data),
            AppAuth(AuthLevel.CLIENT, AuthType.HTTP_DIGEST, "device"),
        ),
        name=f"{server_id} DM",
        aauth_pref=AuthType.HTTP_DIGEST,
    )


DMS2_ACCOUNT = account(DMS2, DMS2_SECRET, DMS2_DATA)

PROVISION = DeviceProvision(
    devinfo=DevInfo(DEVICE, "Acme", "Phone 3"),
    owner=account(OWNER, OWNER_SECRET),
    owner_no_auto_initial_session=False,
    nodes=(
        (URI.parse("./Vendor/Enterprise/Policy"), Value.text("strict")),
        (URI.parse("./Vendor/Enterprise/Apps/Mail"), Value.boolean(True)),
        (URI.parse("./Vendor/Enterprise/Apps/Level"), Value.integer(3)),
        (URI.parse("./Vendor/Operator/Apn"), Value.text("internet")),
    ),
    acls=(
        (URI.parse("./Vendor/Enterprise/Apps"), ACL.parse(f"Get=*&Replace={OWNER}")),
        (URI.parse("./Vendor/Operator"), ACL.parse(f"Get={OWNER}+{DMS2}&Replace={OWNER}")),
    ),
)


@frozen
class Client:
    """A device in an embedded store, and a journal store on the same file."""

    path: Path
    trees: ClientTreeStore
    journals: SQLiteJournalStore

    def session(self, server_id: str = OWNER) -> TreeClientSession:
        return self.trees.session(DEVICE, server_id)

    def journal(self, server_id: str = OWNER, name: str = "delegation-1") -> SQLiteUndoJournal:
        return self.journals.open(name, DEVICE, server_id)

    def records(self, top: str = ".") -> list[NodeRecord]:
        return self.trees.records(DEVICE, URI.parse(top))

    def reopened(self) -> Client:
        """The same file through new store objects, as after a restart."""
        self.trees.close()
        self.journals.close()
        return open_client(self.path)

    def close(self) -> None:
        self.trees.close()
        self.journals.close()


def open_client(path: Path) -> Client:
    return Client(path, ClientTreeStore(path), SQLiteJournalStore(path))


def provisioned(directory: Path, provision: DeviceProvision = PROVISION) -> Client:
    client = open_client(directory / "clients.sqlite3")
    client.trees.provision(provision)
    return client


@implementer(ILogObserver)
class LogRecorder:
    """Every log event published while it is installed (``with LogRecorder() as log: ...``)."""

    def __init__(self) -> None:
        self.events: list[LogEvent] = []

    def __call__(self, event: LogEvent) -> None:
        self.events.append(event)

    def __enter__(self) -> LogRecorder:
        globalLogPublisher.addObserver(self)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        globalLogPublisher.removeObserver(self)

    def text(self) -> str:
        """Every event, formatted and as its raw fields."""
        return "\n".join(f"{formatEvent(e)} {e!r}" for e in self.events)
