"""Done-when: a complete DMAcc delegation and its revocation where the device is the simulator,
reached only through the DM session endpoints over HTTP; the device's tree ends as the embedded
store's does after the same run."""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from dmdelegation.engine.model import Outcome
from dmdelegation.protocol import AuthType, DelegationMethod
from dmdelegation.tree import ACL, URI, Value, commands
from dmdelegation.tree.dmacc import DMACC_ROOT
from dmdelegation.tree.status import Status

from ..web.certs import temp_dir
from .flows import DMWorld, EmbeddedWorld, exact, rights
from .harness import DEVICE, DMS1, DMS2, SUBTREE


def _accounts(records: list) -> set[str]:  # type: ignore[type-arg]
    return {
        str(r.value.data)
        for r in records
        if r.uri.is_within(DMACC_ROOT) and r.uri.name == "ServerID"
    }


class DelegationThroughDMSessions(TestCase):
    timeout = 120  # a whole delegation over HTTP; a hang fails instead of blocking the suite

    async def _delegate_and_revoke(
        self, *, codec: str, auth: AuthType, atomic: bool, full: bool, requested: bool = False
    ) -> DMWorld:
        tmp = temp_dir(self)
        world = DMWorld(tmp / "dm", codec=codec, auth=auth, atomic=atomic)
        self.addCleanup(world.stop)
        embedded = EmbeddedWorld(tmp / "embedded", world.provision, world.ep2.url, auth)
        self.addCleanup(embedded.stop)
        before = exact(world.device.records())
        assert before == exact(embedded.records())
        rights_before = rights(world.device.records(), world.device.tree)

        # The delegation, both ways.
        session = world.dms1.delegate(
            DEVICE, DMS2, SUBTREE, full=full, method=DelegationMethod.DMACC
        )
        result = await world.run(session)
        assert result.outcome is Outcome.DELEGATED, result.reason
        reference = embedded.dms1.delegate(
            DEVICE, DMS2, SUBTREE, full=full, method=DelegationMethod.DMACC
        )
        ended = embedded.dms1.wait(reference.session_id)
        embedded.settle()
        assert self.successResultOf(ended).outcome is Outcome.DELEGATED

        device = world.device.records()
        assert _accounts(device) == ({DMS2} if full else {DMS1, DMS2})
        assert rights(device, world.device.tree) == rights(
            embedded.records(), embedded.clients.storage(DEVICE)
        )
        # Real clients' rules: every AppAuth of DMS-2's account has AAuthData, and every
        # secret leaf holds its ACL itself.
        (account,) = {
            r.uri.parent for r in device if r.uri.name == "ServerID" and r.value.data == DMS2
        }
        assert account is not None
        auths = [r for r in device if r.uri.is_within(account.child("AppAuth"))]
        assert sum(r.uri.name == "AAuthData" for r in auths) == 2
        secrets = [r for r in auths if r.uri.name in ("AAuthSecret", "AAuthData")]
        assert len(secrets) == 4
        assert all(not r.acl.is_empty for r in secrets)
        # DMS-2 really managed the device: its own session, its own Get of the subtree.
        assert world.dms2_server.managed == {DEVICE: {SUBTREE}}
        assert world.notifier2.sent
        assert world.device.violations == []
        if full:
            return world  # see test_full_delegation

        # The revocation.
        if requested:  # DMS-2 gives the subtree back
            revocation = world.dms2.give_back(DEVICE, SUBTREE)
            result = await world.run(revocation, world.dms2)
            reference = embedded.dms2.give_back(DEVICE, SUBTREE)
            ended = embedded.dms2.wait(reference.session_id)
        else:
            revocation = world.dms1.revoke(DEVICE, SUBTREE)
            result = await world.run(revocation)
            reference = embedded.dms1.revoke(DEVICE, SUBTREE)
            ended = embedded.dms1.wait(reference.session_id)
        assert result.outcome is Outcome.REVOKED, result.reason
        embedded.settle()
        assert self.successResultOf(ended).outcome is Outcome.REVOKED

        after = exact(world.device.records())
        assert after == exact(embedded.records())
        # The device's tree, ACLs included, is exactly as before the delegation: the top of
        # the subtree inherits its ACL again.
        assert after == before
        assert rights(world.device.records(), world.device.tree) == rights_before
        assert DMS2 not in "\n".join(after)
        assert world.dms2_server.managed == {}
        assert world.devices2.device(DEVICE) is None  # DMS-2 forgot its account's credentials
        assert world.ep1.server.sessions == {}
        assert world.ep2.server.sessions == {}
        assert world.device.violations == []
        return world

    async def test_xml_hmac_atomic(self) -> None:
        world = await self._delegate_and_revoke(
            codec="xml", auth=AuthType.HMAC, atomic=True, full=False
        )
        sent = [c.name for m in world.device.received for c in m.commands]
        assert "Atomic" in sent

    async def test_wbxml_digest_atomic(self) -> None:
        await self._delegate_and_revoke(
            codec="wbxml", auth=AuthType.DIGEST, atomic=True, full=False
        )

    async def test_xml_digest_without_atomic(self) -> None:
        world = await self._delegate_and_revoke(
            codec="xml", auth=AuthType.DIGEST, atomic=False, full=False
        )
        sent = [c.name for m in world.device.received for c in m.commands]
        assert "Atomic" not in sent

    async def test_wbxml_hmac_without_atomic(self) -> None:
        await self._delegate_and_revoke(codec="wbxml", auth=AuthType.HMAC, atomic=False, full=False)

    async def test_requested_revocation(self) -> None:
        await self._delegate_and_revoke(
            codec="xml", auth=AuthType.HMAC, atomic=True, full=False, requested=True
        )

    async def test_full_delegation(self) -> None:
        """A full delegation removes DMS-1's own account from the device: the device then
        has no address or credentials to open a session with DMS-1, so a revocation needs
        DMS-2 (or the operator) to give DMS-1 an account again (docs/dm-sessions.md)."""
        world = await self._delegate_and_revoke(
            codec="wbxml", auth=AuthType.HMAC, atomic=True, full=True
        )
        assert DMS1 not in _accounts(world.device.records())


class FailureThroughDMSessions(TestCase):
    async def _failed_delegation(self, *, atomic: bool) -> None:
        """The device refuses one change midway: DMS-1 undoes what it did, through DM sessions
        (an Atomic that was rolled back by the device, or the journal's undo node by node)."""
        tmp = temp_dir(self)
        world = DMWorld(tmp / "dm", codec="wbxml", auth=AuthType.HMAC, atomic=atomic)
        self.addCleanup(world.stop)
        before = exact(world.device.records())
        # the grant on the subtree comes after the account: refused, the account must go
        world.device.refuse.add(SUBTREE + "?prop=ACL")
        session = world.dms1.delegate(DEVICE, DMS2, SUBTREE, method=DelegationMethod.DMACC)
        result = await world.run(session)
        assert result.outcome is Outcome.FAILED, result.reason
        assert exact(world.device.records()) == before
        sent = [c.name for m in world.device.received for c in m.commands]
        assert ("Atomic" in sent) is atomic
        assert "Delete" in sent  # the undo of the account
        assert world.ep1.server.sessions == {}

    async def test_with_atomic(self) -> None:
        await self._failed_delegation(atomic=True)

    async def test_without_atomic(self) -> None:
        await self._failed_delegation(atomic=False)


class ExactRevocationThroughDMSessions(TestCase):
    timeout = 120

    async def test_a_node_dms1_may_not_read_and_few_commands(self) -> None:
        """DMS-2 made a node inside the subtree that only allows Exec to anyone: the revocation,
        through DM sessions, never reads it, sends commands for what the grant changed only, and
        leaves the device's tree exactly as before the delegation (that node aside: DMS-2's)."""
        tmp = temp_dir(self)
        world = DMWorld(tmp / "dm", codec="xml", auth=AuthType.HMAC, atomic=True)
        self.addCleanup(world.stop)
        before = exact(world.device.records())
        session = world.dms1.delegate(DEVICE, DMS2, SUBTREE, method=DelegationMethod.DMACC)
        result = await world.run(session)
        assert result.outcome is Outcome.DELEGATED, result.reason
        own = URI.parse(SUBTREE + "/Run")
        tree = world.device.tree
        assert commands.add(tree, DMS2, own, Value.text("job")).status is Status.ITEM_ADDED
        assert commands.replace_acl(tree, DMS2, own, ACL.parse("Exec=*")).status is Status.OK
        assert commands.get(tree, DMS1, own).status is Status.PERMISSION_DENIED
        received = len(world.device.received)

        revocation = world.dms1.revoke(DEVICE, SUBTREE)
        result = await world.run(revocation)

        assert result.outcome is Outcome.REVOKED, result.reason
        after = exact([r for r in world.device.records() if r.uri != own])
        assert after == before
        sent = [
            (c.name, str(item.target))
            for m in world.device.received[received:]
            for c in m.commands
            for item in getattr(c, "items", ())
            if getattr(item, "target", None) is not None
        ]
        assert not any(own_target.startswith(str(own)) for _, own_target in sent)

        # No walk: the account (read to journal its deletion, then deleted), the ACLs the grant
        # changed (each read, then put back), the look for a Bootstrap Config entry; no other.
        def within(path: str, top: str) -> bool:
            return path == top or path.startswith(top + "/")

        paths = [(name, target.split("?")[0], target) for name, target in sent]
        in_subtree = [target for _, path, target in paths if within(path, SUBTREE)]
        assert all(target.endswith("?prop=ACL") for target in in_subtree), in_subtree
        assert len(in_subtree) <= 4, in_subtree
        others = [
            (name, target)
            for name, path, target in paths
            if not (within(path, SUBTREE) or within(path, "./DMAcc/2"))
        ]
        assert others == [("Get", "./BootConfig")], others
        assert world.device.violations == []
