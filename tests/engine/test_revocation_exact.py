"""A revocation puts the device's tree back exactly as it was before the delegation, touching
only what the delegation changed; undo and revocation go on past a step the device refuses,
the delegated server's account and rights first, and report what they could not restore."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer
from zope.interface.verify import verifyObject

from dmdelegation.client.interfaces import IDMClientSession, IUndoJournal
from dmdelegation.client.revocation import RECORD_COMPLETE
from dmdelegation.engine.client_changes import JournaledClientChanges
from dmdelegation.engine.embedded_dms2 import EmbeddedDelegatedServer
from dmdelegation.engine.model import Outcome, Session
from dmdelegation.protocol import DelegationMethod
from dmdelegation.tree import ACL, DMACC_ROOT, URI, Value
from dmdelegation.tree.journal import ReplaceACLStep
from dmdelegation.tree.results import ACLResult, GetResult, Result
from dmdelegation.tree.status import Status

from .harness import DEVICE, DMS1, DMS2, SUBTREE, Pair, fired, text_of

KINDS = ("asked", "requested", "forced")


@implementer(IDMClientSession)
class QuirkyDevice:
    """DMS-1's DM session with the device, counting the DM commands it sends; it may answer
    500 to a Replace of an empty ACL (``refusals`` times; -1: always), as some devices do."""

    def __init__(self, inner: IDMClientSession, refusals: int = 0) -> None:
        self.inner = inner
        self.device_id = inner.device_id
        self.server_id = inner.server_id
        self.refusals = refusals
        self.commands: list[str] = []

    def get(self, uri: URI) -> Deferred[GetResult]:
        self.commands.append(f"Get {uri}")
        return self.inner.get(uri)

    def add(self, uri: URI, value: Value) -> Deferred[Result]:
        self.commands.append(f"Add {uri}")
        return self.inner.add(uri, value)

    def replace(self, uri: URI, value: Value) -> Deferred[Result]:
        self.commands.append(f"Replace {uri}")
        return self.inner.replace(uri, value)

    def delete(self, uri: URI) -> Deferred[Result]:
        self.commands.append(f"Delete {uri}")
        return self.inner.delete(uri)

    def get_acl(self, uri: URI) -> Deferred[ACLResult]:
        self.commands.append(f"Get ACL {uri}")
        return self.inner.get_acl(uri)

    def replace_acl(self, uri: URI, acl: ACL) -> Deferred[Result]:
        self.commands.append(f"Replace ACL {uri}")
        if acl.is_empty and self.refusals != 0:
            self.refusals -= 1
            return succeed(Result(Status.COMMAND_FAILED))
        return self.inner.replace_acl(uri, acl)


def quirky_dms1(pair: Pair, refusals: int = 0) -> QuirkyDevice:
    """From now on DMS-1 reaches the device through a `QuirkyDevice`."""
    device = QuirkyDevice(pair.clients.session(DEVICE, DMS1), refusals)
    verifyObject(IDMClientSession, device)
    changes = pair.dms1.client_changes
    assert isinstance(changes, JournaledClientChanges)
    changes.session_for = lambda device_id: device
    return device


def delegate(pair: Pair, method: DelegationMethod, full: bool) -> None:
    session = pair.dms1.delegate(DEVICE, DMS2, SUBTREE, full=full, method=method)
    ended = pair.dms1.wait(session.session_id)
    pair.settle()
    result = fired(ended)
    assert result.outcome is Outcome.DELEGATED, result.reason


def revoke(pair: Pair, kind: str) -> Session:
    if kind == "requested":
        session = pair.dms2.give_back(DEVICE, SUBTREE)
        ended = pair.dms2.wait(session.session_id)
        pair.settle()
        fired(ended)
        ours = pair.dms1.store.get(session.session_id)
        assert ours is not None
        return ours
    session = pair.dms1.revoke(DEVICE, SUBTREE, forced=kind == "forced", notify=True)
    ended = pair.dms1.wait(session.session_id)
    pair.settle()
    return fired(ended)


def accounts(pair: Pair) -> set[str]:
    return {
        str(r.value.data)
        for r in pair.clients.records(DEVICE, DMACC_ROOT)
        if r.uri.name == "ServerID"
    }


def named(pair: Pair, server: str) -> list[str]:
    return [
        str(r.uri) for r in pair.tree() if any(server in servers for _, servers in r.acl.entries)
    ]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("full", [False, True], ids=["partial", "full"])
@pytest.mark.parametrize("method", list(DelegationMethod))
def test_revocation_leaves_the_tree_exactly_as_before(
    tmp_path: Path, method: DelegationMethod, full: bool, kind: str
) -> None:
    pair = Pair(tmp_path)
    before = text_of(pair.tree())
    delegate(pair, method, full)
    assert text_of(pair.tree()) != before
    assert pair.journals.journal_ids()  # the grant record, kept while the delegation holds

    result = revoke(pair, kind)

    assert result.outcome is Outcome.REVOKED, result.reason
    assert text_of(pair.tree()) == before
    assert pair.journals.journal_ids() == []  # no record, no before-image, no credential left
    assert pair.open_sessions() == (0, 0)


def test_a_node_dms1_may_not_read_inside_the_subtree(tmp_path: Path) -> None:
    """DMS-2 made a node of its own that only allows Exec to anyone, and set an ACL DMS-1 may
    not read on a node the grant changed: the revocation reads neither walk nor that node, and
    puts the latter's ACL back as it was before the delegation."""
    pair = Pair(tmp_path)
    before = text_of(pair.tree())
    delegate(pair, DelegationMethod.DMACC, False)
    dms2 = pair.clients.session(DEVICE, DMS2)
    own = URI.parse(SUBTREE + "/Run")
    assert fired(dms2.add(own, Value.text("job"))).status is Status.ITEM_ADDED
    assert fired(dms2.replace_acl(own, ACL.parse("Exec=*"))).status is Status.OK
    apps = URI.parse(SUBTREE + "/Apps")
    assert fired(dms2.replace_acl(apps, ACL.parse(f"Exec=*&Replace={DMS2}"))).status is Status.OK
    assert fired(pair.clients.session(DEVICE, DMS1).get(own)).status is Status.PERMISSION_DENIED

    result = revoke(pair, "asked")

    assert result.outcome is Outcome.REVOKED, result.reason
    after = [r for r in pair.tree() if r.uri != own]
    assert text_of(after) == before  # DMS-2's own node is its data, left for it to clean
    assert DMS2 not in text_of(pair.tree())


def _revocation_commands(tmp: Path, extra: int) -> list[str]:
    pair = Pair(tmp)
    owner = pair.clients.session(DEVICE, DMS1)
    for i in range(extra):
        uri = URI.parse(f"{SUBTREE}/Bulk/N{i}")
        if i == 0:
            assert fired(owner.add(uri.parent, Value.interior())).status is Status.ITEM_ADDED  # type: ignore[arg-type]
        assert fired(owner.add(uri, Value.integer(i))).status is Status.ITEM_ADDED
    before = text_of(pair.tree())
    delegate(pair, DelegationMethod.DMACC, False)
    device = quirky_dms1(pair)
    assert revoke(pair, "forced").outcome is Outcome.REVOKED
    assert text_of(pair.tree()) == before
    return device.commands


def test_revocation_commands_follow_the_grant_not_the_subtree(tmp_path: Path) -> None:
    small = _revocation_commands(tmp_path / "small", 0)
    large = _revocation_commands(tmp_path / "large", 120)
    assert large == small
    assert len(small) < 80, small  # the account's nodes read one by one, the ACLs granted
    assert not any("Bulk" in command for command in large)


def record(pair: Pair) -> IUndoJournal:
    """The grant record of the delegation in force: the journal of the process that made it."""
    [delegation] = pair.dms1.store.delegations(DEVICE)
    return pair.journals.open(delegation.session_id, DEVICE, DMS1)


def test_a_delegation_without_a_record_is_revoked_by_the_walk(tmp_path: Path) -> None:
    """A delegation made before grant records were kept: every ACL of the tree is cleaned."""
    pair = Pair(tmp_path)
    delegate(pair, DelegationMethod.DMACC, False)
    fired(record(pair).discard())
    device = quirky_dms1(pair)

    assert revoke(pair, "asked").outcome is Outcome.REVOKED

    assert DMS2 not in accounts(pair)
    assert named(pair, DMS2) == []
    assert sum(c.startswith("Get ACL") for c in device.commands) > 20  # the whole tree


def test_a_record_cut_short_is_not_used(tmp_path: Path) -> None:
    """The process died while writing the grant record: the part written is not taken for the
    whole (DMS-2 would keep its rights on the nodes missing from it); the walk cleans the tree."""
    pair = Pair(tmp_path)
    delegate(pair, DelegationMethod.DMACC, False)
    kept = record(pair)
    steps = [entry.step for entry in fired(kept.entries())]
    assert steps[-1] == RECORD_COMPLETE
    assert any(isinstance(step, ReplaceACLStep) for step in steps[:-1])
    fired(kept.discard())
    fired(kept.append(steps[0]))  # the account's Add, and nothing else
    device = quirky_dms1(pair)

    assert revoke(pair, "asked").outcome is Outcome.REVOKED

    assert DMS2 not in accounts(pair)
    assert named(pair, DMS2) == []
    assert sum(c.startswith("Get ACL") for c in device.commands) > 20  # the whole tree
    assert pair.journals.journal_ids() == []


class _NoDMSession(EmbeddedDelegatedServer):
    def open_dm_session(self, session: Session) -> Deferred[None]:
        return succeed(None).addCallback(lambda _: (_ for _ in ()).throw(RuntimeError("down")))


def _failing_delegation(pair: Pair, refusals: int) -> Session:
    delegated = _NoDMSession(
        DMS2,
        pair.clients,
        dm_url="https://d/dm",
        bootstrap_url=pair.dms2_server.bootstrap_url_value,
        clock=pair.clock,
    )
    pair.dms2.stop()
    pair.dms2 = pair.build(DMS2, delegated=delegated)
    quirky_dms1(pair, refusals)
    session = pair.dms1.delegate(DEVICE, DMS2, SUBTREE, method=DelegationMethod.DMACC)
    ended = pair.dms1.wait(session.session_id)
    pair.settle()
    return fired(ended)


def test_undo_goes_on_past_a_refused_step_and_reports_it(tmp_path: Path) -> None:
    """The device never takes the subtree's old (empty) ACL back: DMS-2's account still goes,
    and its rights, and the process ends unrestored, saying what was left."""
    pair = Pair(tmp_path)
    before = text_of(pair.tree())
    result = _failing_delegation(pair, -1)
    assert result.outcome is Outcome.UNRESTORED, result.reason
    assert f"Replace ACL {SUBTREE}" in result.reason
    assert DMS2 not in accounts(pair)
    assert named(pair, DMS2) == []
    assert DMS2 not in text_of(pair.tree())
    assert text_of(pair.tree()) != before  # the top keeps an explicit copy: reported
    assert pair.open_sessions() == (0, 0)


def test_undo_tries_a_refused_step_again(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    before = text_of(pair.tree())
    result = _failing_delegation(pair, 2)
    assert result.outcome is Outcome.FAILED, result.reason
    assert text_of(pair.tree()) == before
    assert pair.journals.journal_ids() == []


def test_revocation_goes_on_past_a_refused_step_and_tells_dms2(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    before = text_of(pair.tree())
    delegate(pair, DelegationMethod.DMACC, False)
    quirky_dms1(pair, -1)
    result = revoke(pair, "asked")
    assert result.outcome is Outcome.COMPROMISED, result.reason
    assert f"Replace ACL {SUBTREE}" in result.reason
    assert DMS2 not in accounts(pair)
    assert named(pair, DMS2) == []  # its rights went all the same
    assert text_of(pair.tree()) != before
    assert pair.sent("REVOCATION_FAILURE")
    # No credential is kept; the grant record stays for a revocation asked again.
    assert pair.journals.journal_ids() == [record(pair).journal_id]
    assert len(pair.dms1.store.delegations(DEVICE)) == 1

    quirky_dms1(pair, 0)  # the device takes it now
    assert revoke(pair, "forced").outcome is Outcome.REVOKED
    assert text_of(pair.tree()) == before


def test_revocation_tries_a_refused_step_again(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    before = text_of(pair.tree())
    delegate(pair, DelegationMethod.DMACC, True)
    quirky_dms1(pair, 2)
    result = revoke(pair, "asked")
    assert result.outcome is Outcome.REVOKED, result.reason
    assert text_of(pair.tree()) == before
