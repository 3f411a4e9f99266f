"""A failure injected at every step of every delegation process leaves the client exactly as it
was before the process began, and neither side with an open session (5.3)."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from twisted.internet.defer import Deferred, fail, succeed

from dmdelegation.client.interfaces import IDMClientSession
from dmdelegation.client.testing import Fault, FaultyClientSession
from dmdelegation.engine.client_changes import JournaledClientChanges
from dmdelegation.engine.embedded_dms2 import EmbeddedDelegatedServer
from dmdelegation.engine.engine import Engine, Refused
from dmdelegation.engine.model import Outcome, Role, Session
from dmdelegation.engine.policy import ConfigPolicy, PeerRule
from dmdelegation.protocol import (
    DelegationConfirmed,
    DelegationFailure,
    DelegationMethod,
    DMAcc,
)

from .harness import DEVICE, DMS1, DMS2, SUBTREE, Pair, fired, text_of

MUTATIONS = ("add", "replace", "delete", "replace_acl")

VARIANTS = [
    (method, initiator, full)
    for method in DelegationMethod
    for initiator in (Role.DMS1, Role.DMS2)
    for full in (False, True)
]
IDS = [f"{m.value}-{i.value}-{'full' if f else 'partial'}" for m, i, f in VARIANTS]

MESSAGES = {
    DelegationMethod.DMACC: [
        "DELEGATION_REQ",
        "BOOTSTRAP_CONFIRMED",
        "DELEGATION_PREPARED",
        "DELEGATION_CONFIRMED",
    ],
    DelegationMethod.BOOTSTRAP_SERVER_URL: [
        "DELEGATION_REQ",
        "BOOTSTRAP_SRV_URL_REQ",
        "BOOTSTRAP_CONFIRMED",
        "DELEGATION_PREPARED",
        "DELEGATION_CONFIRMED",
    ],
}


def start(pair: Pair, method: DelegationMethod, initiator: Role, full: bool) -> Session:
    if initiator is Role.DMS1:
        return pair.dms1.delegate(DEVICE, DMS2, SUBTREE, full=full, method=method)
    return pair.dms2.request_delegation(DEVICE, DMS1, SUBTREE, full=full, method=method)


def assert_restored(pair: Pair, before: str) -> None:
    assert pair.open_sessions() == (0, 0)
    assert text_of(pair.tree()) == before
    assert pair.dms1.store.delegations() == [] == pair.dms2.store.delegations()
    outcomes = {s.outcome for e in (pair.dms1, pair.dms2) for s in e.store.sessions(DEVICE)}
    assert outcomes <= {Outcome.FAILED, Outcome.REFUSED}, outcomes


def faulty_dms1(pair: Pair, fail_at: int, fault: Fault) -> FaultyClientSession:
    """DMS-1's engine rebuilt so that its ``fail_at``-th change to the client fails."""
    inner = pair.clients.session(DEVICE, DMS1)
    faulty = FaultyClientSession(inner, fail_at, fault, counted=MUTATIONS)

    def session_for(device_id: str) -> IDMClientSession:
        assert device_id == DEVICE
        return faulty

    pair.dms1.stop()
    pair.dms1 = pair.build(
        DMS1, client_changes=JournaledClientChanges(DMS1, session_for, pair.journals)
    )
    return faulty


def count_mutations(tmp: Path, method: DelegationMethod, initiator: Role, full: bool) -> int:
    pair = Pair(tmp)
    counter = faulty_dms1(pair, None, Fault.REFUSE)  # type: ignore[arg-type]
    start(pair, method, initiator, full)
    pair.settle()
    assert {s.outcome for s in pair.dms1.store.sessions(DEVICE)} == {Outcome.DELEGATED}
    return counter.count


@pytest.mark.parametrize(("method", "initiator", "full"), VARIANTS, ids=IDS)
def test_every_tree_command_failing(
    tmp_path: Path, method: DelegationMethod, initiator: Role, full: bool
) -> None:
    total = count_mutations(tmp_path / "count", method, initiator, full)
    assert total >= 3
    for fault in Fault:
        for n in range(1, total + 1):
            pair = Pair(tmp_path / f"{fault.name}-{n}")
            before = text_of(pair.tree())
            faulty_dms1(pair, n, fault)
            start(pair, method, initiator, full)
            pair.settle()
            assert_restored(pair, before)


@pytest.mark.parametrize(("method", "initiator", "full"), VARIANTS, ids=IDS)
def test_every_message_lost(
    tmp_path: Path, method: DelegationMethod, initiator: Role, full: bool
) -> None:
    """A lost message: the sender retries, then gives up; or the waiting side times out."""
    for root in MESSAGES[method]:
        pair = Pair(tmp_path / root)
        before = text_of(pair.tree())
        pair.wire.drop.add(root)
        start(pair, method, initiator, full)
        pair.settle()
        assert_restored(pair, before)


@pytest.mark.parametrize(("method", "initiator", "full"), VARIANTS, ids=IDS)
def test_failure_message_at_every_step(
    tmp_path: Path, method: DelegationMethod, initiator: Role, full: bool
) -> None:
    """The message a side waits for is replaced by DELEGATION_FAILURE from its peer (the last
    message, CONFIRMED, is replaced by a failure in ``test_dms2_side_failures``)."""
    for root in MESSAGES[method][1:-1]:
        pair = Pair(tmp_path / root)
        before = text_of(pair.tree())
        pair.wire.drop.add(root)
        session = start(pair, method, initiator, full)
        pair.settle_until(lambda: pair.sent(root))  # noqa: B023
        _, receiver, _ = next(t for t in pair.wire.trace if t[2] == root)
        sender = DMS1 if receiver == DMS2 else DMS2
        engine = pair.dms1 if receiver == DMS1 else pair.dms2
        failure = DelegationFailure(reason_code=500, session_id=session.session_id)
        assert fired(engine.receive(sender, failure)) is None
        pair.settle()
        assert_restored(pair, before)


@pytest.mark.parametrize(("method", "initiator", "full"), VARIANTS, ids=IDS)
def test_abort_at_every_wait(
    tmp_path: Path, method: DelegationMethod, initiator: Role, full: bool
) -> None:
    """The side waiting for each message gives up (operator abort): it sends the failure."""
    for root in MESSAGES[method][1:]:
        pair = Pair(tmp_path / root)
        before = text_of(pair.tree())
        pair.wire.drop.add(root)
        session = start(pair, method, initiator, full)
        pair.settle_until(lambda: pair.sent(root))  # noqa: B023
        sender, receiver, _ = next(t for t in pair.wire.trace if t[2] == root)
        pair.wire.drop.clear()
        waiting = [
            e
            for e in (pair.wire.engines[receiver], pair.wire.engines[sender])
            if e.store.get(session.session_id).is_open  # type: ignore[union-attr]
        ]
        # A lost synchronous request fails its sender at once: nobody is left waiting.
        assert waiting or root in ("BOOTSTRAP_SRV_URL_REQ",)
        if waiting:
            waiting[0].abort(session.session_id, "test")
        pair.settle()
        assert_restored(pair, before)
        assert "DELEGATION_FAILURE" in [r for _, _, r in pair.wire.trace]


@pytest.mark.parametrize(("method", "initiator", "full"), VARIANTS, ids=IDS)
def test_out_of_order_message_in_place_of_the_expected_one(
    tmp_path: Path, method: DelegationMethod, initiator: Role, full: bool
) -> None:
    for root in MESSAGES[method][1:-1]:
        pair = Pair(tmp_path / root)
        before = text_of(pair.tree())
        pair.wire.drop.add(root)
        session = start(pair, method, initiator, full)
        pair.settle_until(lambda: pair.sent(root))  # noqa: B023
        _, receiver, _ = next(t for t in pair.wire.trace if t[2] == root)
        sender = DMS1 if receiver == DMS2 else DMS2
        engine = pair.dms1 if receiver == DMS1 else pair.dms2
        state = engine.store.get(session.session_id)
        tree = text_of(pair.tree())
        early = DelegationConfirmed(reason_code=200, session_id=session.session_id)
        with pytest.raises(Refused) as refused:
            fired(engine.receive(sender, early))
        assert refused.value.status == 409
        assert engine.store.get(session.session_id) == state  # nothing changed
        assert text_of(pair.tree()) == tree
        pair.settle()
        assert_restored(pair, before)


@pytest.mark.parametrize("initiator", [Role.DMS1, Role.DMS2])
def test_refusal(tmp_path: Path, initiator: Role) -> None:
    pair = Pair(tmp_path)
    before = text_of(pair.tree())
    receiver = DMS2 if initiator is Role.DMS1 else DMS1
    sender = DMS1 if receiver == DMS2 else DMS2
    pair.wire.engines[receiver].stop()
    engine = pair.build(
        receiver,
        policy=ConfigPolicy({sender: PeerRule(we_delegate=receiver == DMS1, accept=False)}),
    )
    if receiver == DMS1:
        pair.dms1 = engine
    else:
        pair.dms2 = engine
    session = start(pair, DelegationMethod.DMACC, initiator, False)
    pair.settle()
    assert_restored(pair, before)
    initiator_engine = pair.dms1 if initiator is Role.DMS1 else pair.dms2
    assert initiator_engine.store.get(session.session_id).outcome is Outcome.REFUSED  # type: ignore[union-attr]


class _BadBootstrap(EmbeddedDelegatedServer):
    """Supplies a DMAcc naming another server: DMS-1 must refuse it (400)."""

    def bootstrap_data(self, session: Session) -> Deferred[DMAcc | None]:
        account = self.account(session.device_id)
        return succeed(
            DMAcc(
                server_id="impostor.example",
                app_addrs=account.app_addrs,
                app_auths=account.app_auths,
            )
        )


class _NoDMSession(EmbeddedDelegatedServer):
    def open_dm_session(self, session: Session) -> Deferred[None]:
        return fail(RuntimeError("the device did not answer"))


@pytest.mark.parametrize(
    ("server", "method"),
    [
        # no DMAcc travels in the Bootstrap Server URL approach
        (_BadBootstrap, DelegationMethod.DMACC),
        (_NoDMSession, DelegationMethod.DMACC),
        (_NoDMSession, DelegationMethod.BOOTSTRAP_SERVER_URL),
    ],
)
def test_dms2_side_failures(tmp_path: Path, server: type, method: DelegationMethod) -> None:
    pair = Pair(tmp_path)
    before = text_of(pair.tree())
    delegated = server(
        DMS2,
        pair.clients,
        dm_url="https://d/dm",
        bootstrap_url=pair.dms2_server.bootstrap_url_value,
        clock=pair.clock,
    )
    pair.dms2.stop()
    pair.dms2 = pair.build(DMS2, delegated=delegated)
    start(pair, method, Role.DMS1, False)
    pair.settle()
    assert_restored(pair, before)
    assert isinstance(pair.dms2, Engine)


def test_transport_that_raises_instead_of_failing(tmp_path: Path) -> None:
    """A seam that raises (an unknown peer, say) fails the process like one that fails."""
    pair = Pair(tmp_path)
    before = text_of(pair.tree())
    session = pair.dms1.delegate(DEVICE, "nobody.example", SUBTREE)
    pair.settle()
    ended = pair.dms1.store.get(session.session_id)
    assert ended is not None
    assert ended.outcome is Outcome.FAILED
    assert "nobody.example" in ended.reason
    assert text_of(pair.tree()) == before


class _TooManyAuths(EmbeddedDelegatedServer):
    """A host's DMS-2 that supplies a DMAcc no valid BOOTSTRAP_CONFIRMED can carry."""

    def bootstrap_data(self, session: Session) -> Deferred[DMAcc | None]:
        account = self.account(session.device_id)
        return succeed(attrs.evolve(account, app_auths=account.app_auths * 3))


def test_bootstrap_data_that_cannot_be_sent_fails_the_delegation(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    before = text_of(pair.tree())
    delegated = _TooManyAuths(
        DMS2, pair.clients, dm_url="https://d/dm", bootstrap_url="https://b/bs", clock=pair.clock
    )
    pair.dms2.stop()
    pair.dms2 = pair.build(DMS2, delegated=delegated)
    session = pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.settle()
    assert_restored(pair, before)
    dms2_side = pair.dms2.store.get(session.session_id)
    assert dms2_side is not None
    assert "unusable bootstrap data" in dms2_side.reason
