"""``delegate ... --dry-run``: the changes DMS-1 would make to the DM Client, without making
any, and an early refusal of what would fail.

The prediction is not a second model of the delegation: the very ``IClientChanges`` the engine
uses (:class:`JournaledClientChanges`, the journaled delegation operations) runs against a
copy of the device's tree held in memory (:class:`MemoryTree` behind a
:class:`TreeClientSession` acting as DMS-1, with DMS-1's rights checked exactly as on the
device) and an in-memory journal; the prediction is the difference between the copy before and
after. What DMS-2 will supply is stood in for: the ``DMAcc`` of its ``DELEGATION_RESP`` by an
account with masked credentials (the leaves of DMS-2's real account are its own to choose: the
prediction names the account's node, not its leaves), its Bootstrap Server URL by a
placeholder, and, in the Bootstrap Server URL approach, the client's bootstrap from DMS-2 by
the account that bootstrap writes.

Refused early: an unknown peer (404), a subtree already delegated or in a process (409, the
engine's own check), an unknown device or a subtree it does not have (404), a change DMS-1's
rights do not allow on the device (403, with the DM status and node). The admin API runs these
checks before every delegation, dry run or not: one source of truth for what is refused locally.

A device reached over DM sessions is not read for a dry run (reading it would queue a Get and
wait for the device's next session). What the daemon knows of it without a session is its entry
in the device list and the last DevInfo it sent; the prediction runs on a *model* of its tree
(:func:`model_tree`): DMS-1's account with every right at the root, the DevInfo known, and the
subtree's nodes. It names the changes (the account's node, the ACLs set, DMS-1's account
deleted in a full delegation) but cannot tell whether the device's own ACLs would refuse them,
nor whether the subtree exists: a note says so.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from attrs import frozen
from twisted.internet.defer import Deferred
from twisted.logger import ILogObserver, LogEvent
from twisted.python.failure import Failure
from zope.interface import implementer

from dmdelegation.client.checkpoints import log as checkpoints_log
from dmdelegation.client.delegation import log as delegation_log
from dmdelegation.client.journal_store import SQLiteJournalStore
from dmdelegation.client.rollback import log as rollback_log
from dmdelegation.client.session import TreeClientSession
from dmdelegation.client.store import ClientTreeStore, UnknownDevice
from dmdelegation.engine.client_changes import JournaledClientChanges
from dmdelegation.engine.engine import Engine, Refused
from dmdelegation.engine.interfaces import ClientChangeFailed
from dmdelegation.engine.model import Process, Role, Session
from dmdelegation.protocol import AddrType, AppAddr, AppAuth, AuthLevel, AuthType, DMAcc
from dmdelegation.protocol.dmacc import SECRET_MASK
from dmdelegation.protocol.messages import DelegationMethod
from dmdelegation.tree import DMACC_ROOT, URI, Value
from dmdelegation.tree.acl import ACL
from dmdelegation.tree.dmacc import dmacc_nodes
from dmdelegation.tree.memory import MemoryTree
from dmdelegation.tree.storage import NodeRecord, StoredNode

PLACEHOLDER_URL = "https://dms2.invalid/placeholder"
DM_DEVICE_NOTE = (
    "a DM-session device is not read for a dry run: this is a model of its tree (our account "
    "with every right at the root, the subtree's nodes); the device's own ACLs and nodes are "
    "checked when the delegation runs"
)


class DMDevices(Protocol):
    """What the daemon knows of its DM-session devices without opening a session."""

    def manages(self, device_id: str) -> bool: ...

    def devinfo(self, device_id: str) -> dict[str, str]: ...


_T = TypeVar("_T")


def _done(d: Deferred[_T]) -> _T:
    """The result of work on the in-memory copy, which completes before it returns."""
    results: list[_T | Failure] = []
    d.addBoth(results.append)
    if not results:
        raise RuntimeError("a change to the in-memory copy did not complete at once")
    result = results[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result


@frozen
class TreeDiff:
    """What changed between two versions of a tree, node by node: the tops of the subtrees
    added and removed, the own ACL of every node present in both, and the URIs of leaves whose
    value changed (values are not shown: some are credentials)."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    acl: tuple[tuple[str, str, str], ...]  # (uri, before, after)
    values: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "acl": [{"uri": u, "before": b, "after": a} for u, b, a in self.acl],
            "values": list(self.values),
        }


def diff(before: list[NodeRecord], after: list[NodeRecord]) -> TreeDiff:
    old = {r.uri: r for r in before}
    new = {r.uri: r for r in after}
    added = [u for u in new if u not in old and (u.parent is None or u.parent in old)]
    removed = [u for u in old if u not in new and (u.parent is None or u.parent in new)]
    acl, values = [], []
    for uri, was in old.items():
        now = new.get(uri)
        if now is None:
            continue
        if now.acl != was.acl:
            acl.append((str(uri), was.acl.render(), now.acl.render()))
        if now.value != was.value or now.value.data != was.value.data:
            values.append(str(uri))
    return TreeDiff(
        tuple(sorted(map(str, added))),
        tuple(sorted(map(str, removed))),
        tuple(sorted(acl)),
        tuple(sorted(values)),
    )


@frozen
class Plan:
    device: str
    to: str
    subtree: str
    full: bool
    method: DelegationMethod
    changes: TreeDiff
    notes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "to": self.to,
            "subtree": self.subtree,
            "full": self.full,
            "method": self.method.value,
            "changes": self.changes.to_json(),
            "notes": list(self.notes),
        }


def stand_in_account(server_id: str, device_id: str) -> DMAcc:
    """What DMS-2's DELEGATION_RESP is stood in for by: an account with masked credentials."""
    return DMAcc(
        server_id=server_id,
        name=f"{server_id} (delegated)",
        app_addrs=(AppAddr(addr=PLACEHOLDER_URL, addr_type=AddrType.URI),),
        app_auths=(
            AppAuth(level=AuthLevel.SERVER, type=AuthType.HMAC, name=server_id, secret=SECRET_MASK),
            AppAuth(level=AuthLevel.CLIENT, type=AuthType.HMAC, name=device_id, secret=SECRET_MASK),
        ),
    )


def _client_bootstraps(tree: MemoryTree, server_id: str, device_id: str) -> str:
    """The client bootstrapping from DMS-2's server writes DMS-2's account (not DMS-1's
    change, but the grant that follows needs it)."""
    names = set(tree.children(DMACC_ROOT))
    index = 1
    while str(index) in names:
        index += 1
    base = DMACC_ROOT.child(str(index))
    account = stand_in_account(server_id, device_id)
    for path, value in dmacc_nodes(account, no_auto_initial_session=True):
        tree.insert(base.child(*path), StoredNode(value, ACL.parse("")))
    return str(base)


def model_tree(server_id: str, device_id: str, subtree: str, devinfo: dict[str, str]) -> MemoryTree:
    """The model of a DM-session device's tree a dry run works on (see above)."""
    owner = stand_in_account(server_id, device_id)
    every = "&".join(f"{c}={server_id}" for c in ("Add", "Delete", "Exec", "Get", "Replace"))
    tree = MemoryTree([NodeRecord(URI.parse("."), Value.interior(), ACL.parse(every))])
    tree.insert(DMACC_ROOT, StoredNode(Value.interior(), ACL.parse("")))
    for path, value in dmacc_nodes(owner):
        tree.insert(DMACC_ROOT.child("1", *path), StoredNode(value, ACL.parse("")))
    tree.insert(URI.parse("./DevInfo"), StoredNode(Value.interior(), ACL.parse("")))
    for name, data in sorted(devinfo.items()):
        tree.insert(URI.parse(f"./DevInfo/{name}"), StoredNode(Value.text(data), ACL.parse("")))
    uri = URI.parse(subtree)
    chain = []
    while uri.parent is not None and tree.node(uri) is None:
        chain.append(uri)
        uri = uri.parent
    for node in reversed(chain):
        tree.insert(node, StoredNode(Value.interior(), ACL.parse("")))
    return tree


# The loggers of the delegation operations: on the in-memory copy their "created ..." lines
# would read as changes made to the device.
_OPERATION_LOGGERS = (delegation_log, rollback_log, checkpoints_log)


@contextmanager
def _silenced() -> Iterator[None]:
    """No log line from the operations run on the copy (a dry run changes nothing, and says
    nothing as if it had). The copy's work completes before this returns (``_done``), so no
    other work logs through these loggers meanwhile."""
    saved = [(logger, logger.observer) for logger in _OPERATION_LOGGERS]
    for logger, _ in saved:
        logger.observer = _discard
    try:
        yield
    finally:
        for logger, observer in saved:
            logger.observer = observer


@implementer(ILogObserver)
class _Discard:
    """An observer that keeps nothing."""

    def __call__(self, event: LogEvent) -> None:
        pass


_discard = _Discard()


def precheck(
    engine: Engine,
    clients: ClientTreeStore,
    device_id: str,
    to: str,
    subtree: str = ".",
    *,
    dm: DMDevices | None = None,
    peers: Collection[str] | None = None,
) -> str:
    """The refusals a delegation meets before anything is sent, the dry run's first: an unknown
    peer (``peers``: the configured ServerIDs, when given), the engine's own checks (409), an
    unknown device, a subtree the device does not have (404; not known of a DM-session device
    without a session). The admin API runs it before every delegation, so that these are
    refused before a message is sent or a session recorded, with the dry run's answer. Fires
    with the canonical subtree; reads one node, never the whole tree."""
    if peers is not None and to not in peers:
        raise Refused(404, f"{to} is not a configured peer")
    canonical = engine.check_delegation(device_id, to, subtree)
    try:
        storage = clients.storage(device_id)
    except UnknownDevice as e:
        if dm is None or not dm.manages(device_id):
            raise Refused(404, str(e)) from None
        return canonical
    if storage.node(URI.parse(canonical)) is None:
        raise Refused(404, f"no node {canonical} on {device_id}")
    return canonical


def plan(
    engine: Engine,
    clients: ClientTreeStore,
    device_id: str,
    to: str,
    subtree: str = ".",
    *,
    full: bool = False,
    method: DelegationMethod = DelegationMethod.DMACC,
    dm: DMDevices | None = None,
    peers: Collection[str] | None = None,
) -> Plan:
    """What ``engine.delegate(device_id, to, subtree, ...)`` would do to the client (for a
    device of ``dm``, the DM-session devices, to a model of its tree), after `precheck`."""
    canonical = precheck(engine, clients, device_id, to, subtree, dm=dm, peers=peers)
    notes = []
    try:
        before = clients.records(device_id)
    except UnknownDevice:
        assert dm is not None  # precheck let it through: a DM-session device
        before = model_tree(engine.server_id, device_id, canonical, dm.devinfo(device_id)).records()
        notes.append(DM_DEVICE_NOTE)
    copy = MemoryTree(before)
    bootstrap = method is DelegationMethod.BOOTSTRAP_SERVER_URL
    session = Session(
        session_id="dry-run",
        role=Role.DMS1,
        process=Process.DELEGATION_BOOTSTRAP if bootstrap else Process.DELEGATION_DMACC,
        state="new",
        peer=to,
        device_id=device_id,
        subtree=canonical,
        full=full,
        initiator=Role.DMS1,
    )
    journals = SQLiteJournalStore(":memory:")
    changes = JournaledClientChanges(
        engine.server_id,
        lambda device: TreeClientSession(copy, device, engine.server_id),
        journals,
    )
    with _silenced():
        try:
            if bootstrap:
                _done(changes.add_bootstrap_entry(session, PLACEHOLDER_URL))
                account = _client_bootstraps(copy, to, device_id)
                notes.append(f"{account} is written by the client's bootstrap from {to}, not by us")
                _done(changes.grant(session))
            else:
                _done(changes.prepare_dmacc(session, stand_in_account(to, device_id)))
                notes.append(f"the leaves of {to}'s account are those of its DELEGATION_RESP")
        except ClientChangeFailed as e:
            raise Refused(
                403, f"{engine.server_id} cannot make this delegation: {e.reason}"
            ) from None
        finally:
            journals.close()
    return Plan(device_id, to, canonical, full, method, diff(before, copy.records()), tuple(notes))
