"""What a configured peer may do, over the real mutual-TLS listener: nothing it was not granted
(deny by default, the device scope, full delegation as a grant of its own), no more open
processes than its cap, and no word about other peers' sessions or delegations."""

from __future__ import annotations

import time
from typing import Any

from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from dmdelegation.engine.admission import CappedPolicy, OpenProcesses
from dmdelegation.engine.interfaces import IDelegationPolicy
from dmdelegation.engine.observer import IEngineObserver
from dmdelegation.engine.policy import ConfigPolicy, IDeviceGroups, PatternGroups, PeerRule
from dmdelegation.protocol import DelegationResponse, Message, decode
from tests.engine.harness import granted
from tests.web.certs import PINNED, certs, client_creator, temp_dir
from tests.web.serving import exchange, post

from .server import DELEGATED, DEVICE, DEVICE2, PEER, SUBTREE, Daemon, request_from, start

OTHER = "./Vendor/Radio"  # a subtree disjoint from SUBTREE


def _session(n: int) -> str:
    return f"grants{n:010d}" + "g" * 16


async def ask(daemon: Daemon, peer: str, n: int, **changes: Any) -> tuple[int, Message | str]:
    """``peer`` sends a DELEGATION_REQ (session ``_session(n)``); the HTTP status and the
    decoded answer (the text of a refusal)."""
    issued = certs().peer if peer == PEER else certs().pinned
    request = request_from(peer, _session(n), **changes)
    got = await exchange(daemon.port, client_creator(issued), post(bytes(request.encode())))
    assert got.status is not None, got.data[:300]
    if got.status == 200:
        return 200, decode(got.body)
    return got.status, got.body.decode()


def acknowledged(answer: Message | str) -> bool:
    return isinstance(answer, DelegationResponse) and answer.is_acknowledged


class Grants(TestCase):
    async def test_a_configured_peer_without_grants_gets_nothing(self) -> None:
        """The defaults of PeerRule (as of ``[[peers]]`` with no grant): every request, for
        any device and subtree, full or not, is refused 403 in its DELEGATION_RESP."""
        daemon = await start(self, temp_dir(self), policy=ConfigPolicy({PEER: PeerRule(True)}))
        asked: list[dict[str, Any]] = [
            {},
            {"device_id": DEVICE2},
            {"dm_tree_uri": "."},
            {"is_delegation_full": True},
        ]
        for n, changes in enumerate(asked):
            status, answer = await ask(daemon, PEER, n, **changes)
            assert status == 200
            assert isinstance(answer, DelegationResponse)
            assert (answer.is_acknowledged, answer.reason_code) == (False, 403)
        assert daemon.store.delegations() == []

    async def test_the_device_scope_holds_per_device_and_per_group(self) -> None:
        """Granted SUBTREE on DEVICE2 only (an exact id), PEER is refused it on DEVICE; granted
        it on the group "lab" (a pattern matching DEVICE only), PINNED gets it on DEVICE and not
        on DEVICE2."""
        groups = PatternGroups({"lab": (DEVICE[:-3] + "*",)})
        verifyObject(IDeviceGroups, groups)
        rules = {
            PEER: PeerRule(True, accept=True, subtrees=(SUBTREE,), devices=(DEVICE2,)),
            PINNED: PeerRule(True, accept=True, subtrees=(SUBTREE,), device_groups=("lab",)),
        }
        daemon = await start(self, temp_dir(self), policy=ConfigPolicy(rules, groups))
        assert not acknowledged((await ask(daemon, PINNED, 1, device_id=DEVICE2))[1])
        assert not acknowledged((await ask(daemon, PEER, 2))[1])
        assert acknowledged((await ask(daemon, PEER, 3, device_id=DEVICE2))[1])
        assert acknowledged((await ask(daemon, PINNED, 4))[1])

    async def test_full_delegation_is_a_grant_of_its_own(self) -> None:
        """Even ``subtrees = ["."]`` does not grant a full delegation; ``allow_full`` does."""
        everything = PeerRule(True, accept=True, subtrees=(".",), devices=("*",))
        daemon = await start(self, temp_dir(self), policy=ConfigPolicy({PEER: everything}))
        _status, answer = await ask(daemon, PEER, 1, dm_tree_uri=".", is_delegation_full=True)
        assert isinstance(answer, DelegationResponse)
        assert (answer.is_acknowledged, answer.reason_code) == (False, 403)
        full = PeerRule(True, accept=True, devices=("*",), full_allowed=True)
        daemon = await start(self, temp_dir(self), policy=ConfigPolicy({PEER: full}))
        _status, answer = await ask(daemon, PEER, 2, dm_tree_uri=".", is_delegation_full=True)
        assert acknowledged(answer)

    async def test_a_peer_holds_no_more_open_processes_than_its_cap(self) -> None:
        """With a cap of 2, PEER's third request is refused 429 before any session or lock
        exists, while another peer is still served; once one of PEER's ends, it may ask again."""
        counts = OpenProcesses()
        verifyObject(IEngineObserver, counts)
        everything = PeerRule(True, accept=True, subtrees=(".",), devices=("*",))
        policy = CappedPolicy(
            ConfigPolicy({PEER: everything, PINNED: everything}), counts, lambda _: 2
        )
        verifyObject(IDelegationPolicy, policy)
        daemon = await start(self, temp_dir(self), policy=policy, observers=[counts])
        assert acknowledged((await ask(daemon, PEER, 1))[1])
        assert acknowledged((await ask(daemon, PEER, 2, device_id=DEVICE2))[1])
        await daemon.settle()
        before = daemon.store.sessions()
        status, reason = await ask(daemon, PEER, 3, dm_tree_uri=OTHER)
        assert (status, reason) == (429, f"{PEER} already holds 2 open processes\n")
        assert daemon.store.sessions() == before
        assert daemon.store.get(_session(3)) is None
        # the subtree it named is not locked: another peer gets it at once
        assert acknowledged((await ask(daemon, PINNED, 4, dm_tree_uri=OTHER))[1])
        daemon.engine.abort(_session(1), "test")
        await daemon.settle()
        assert acknowledged(
            (await ask(daemon, PEER, 5, device_id=DEVICE2, dm_tree_uri=OTHER + "/X"))[1]
        )


class NoOracle(TestCase):
    async def test_a_409_names_no_other_peer_and_no_process(self) -> None:
        """PINNED asks for the subtree PEER holds, then for one in PEER's process: each 409
        says the subtree is not free, and names neither PEER nor PEER's session."""
        daemon = await start(self, temp_dir(self))
        await daemon.reach(DELEGATED)
        status, reason = await ask(daemon, PINNED, 1)
        assert status == 409
        assert reason == f"{DEVICE} {SUBTREE} is not free\n"
        assert acknowledged((await ask(daemon, PEER, 2, device_id=DEVICE2))[1])
        status, reason = await ask(daemon, PINNED, 3, device_id=DEVICE2)
        assert (status, reason) == (409, f"{DEVICE2} {SUBTREE} is not free\n")
        assert PEER not in str(reason)
        assert _session(2) not in str(reason)


class Retention(TestCase):
    async def test_ended_sessions_and_their_logs_are_pruned_but_not_a_delegation_in_force(
        self,
    ) -> None:
        """Refused requests leave ended sessions with message logs; pruning forgets those that
        ended before the cut (logs and inbox with them), not the session of the delegation in
        force."""
        policy = ConfigPolicy({PEER: granted(we_delegate=True), PINNED: PeerRule(True)})
        daemon = await start(self, temp_dir(self), policy=policy)
        await daemon.reach(DELEGATED)
        for n in range(3):
            assert not acknowledged((await ask(daemon, PINNED, 10 + n, device_id=DEVICE2))[1])
        await daemon.settle()
        ended = [s for s in daemon.store.sessions() if s.peer == PINNED]
        assert len(ended) == 3
        assert all(not s.is_open for s in ended)
        assert all(daemon.store.message_log(s.session_id) for s in ended)
        cut = time.time() + 1  # the store's clock is the reactor's: wall time
        assert daemon.store.prune(cut) == 3
        assert [s.peer for s in daemon.store.sessions()] == [PEER]
        assert all(daemon.store.message_log(s.session_id) == [] for s in ended)
        assert daemon.store.delegations()
        assert daemon.store.prune(cut) == 0
