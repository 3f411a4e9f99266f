"""Messages the engine refuses: each with its status, and nothing changed anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest
from zope.interface.verify import verifyObject

from dmdelegation.client.testing import fired_error
from dmdelegation.engine import messages_out as out
from dmdelegation.engine.client_changes import JournaledClientChanges
from dmdelegation.engine.engine import Engine, Refused
from dmdelegation.engine.interfaces import (
    IClientChanges,
    IDelegatedServer,
    IDelegationPolicy,
    IPeerTransport,
)
from dmdelegation.engine.model import Outcome
from dmdelegation.engine.policy import ConfigPolicy
from dmdelegation.protocol import (
    BootstrapConfirmed,
    DelegationConfirmed,
    DelegationFailure,
    DelegationRequest,
    DelegationResponse,
    DelegationRevocationRequest,
    DelegationRevoked,
    DelegationTerminationRequest,
    Message,
)

from .harness import DEVICE, DMS1, DMS2, SUBTREE, Pair, fired, text_of
from .harness import delegation_request as request

STRANGER = "stranger.example"


def snapshot(pair: Pair) -> tuple[object, ...]:
    return (
        text_of(pair.tree()),
        pair.dms1.store.sessions(),
        pair.dms2.store.sessions(),
        pair.dms1.store.delegations(),
        pair.dms2.store.delegations(),
        pair.dms1.store.outbox(),
        pair.dms2.store.outbox(),
    )


def refused(engine: Engine, peer: str, message: Message) -> Refused:
    return fired_error(engine.receive(peer, message), Refused)


def test_implementers_provide_their_interfaces(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    verifyObject(IPeerTransport, pair.wire.endpoint(DMS1))
    verifyObject(IDelegationPolicy, ConfigPolicy())
    verifyObject(IDelegatedServer, pair.dms2_server)
    verifyObject(
        IClientChanges,
        JournaledClientChanges(DMS1, lambda d: pair.clients.session(d, DMS1), pair.journals),
    )


def test_unknown_session_is_404(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    before = snapshot(pair)
    for message in (
        DelegationConfirmed(reason_code=200, session_id="a" * 32),
        DelegationFailure(reason_code=500, session_id="a" * 32),
        BootstrapConfirmed(reason_code=200, session_id="a" * 32),
    ):
        assert refused(pair.dms1, DMS2, message).status == 404
    assert snapshot(pair) == before


def test_server_id_of_another_server_is_403(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    before = snapshot(pair)
    e = refused(pair.dms1, DMS2, request(server_id=STRANGER))
    assert e.status == 403
    assert STRANGER in e.reason
    assert snapshot(pair) == before


def test_a_peer_not_party_to_the_session_is_answered_as_for_an_unknown_one(
    tmp_path: Path,
) -> None:
    """No oracle: another peer's session is, to this peer, a session that does not exist."""
    pair = Pair(tmp_path)
    pair.wire.drop.add("DELEGATION_CONFIRMED")
    session = pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.settle_until(lambda: pair.sent("DELEGATION_CONFIRMED"))
    before = snapshot(pair)
    confirmed = DelegationConfirmed(reason_code=200, session_id=session.session_id)
    theirs = refused(pair.dms1, STRANGER, confirmed)
    unknown = refused(
        pair.dms1, STRANGER, DelegationConfirmed(reason_code=200, session_id="0" * 32)
    )
    assert (theirs.status, theirs.reason.replace(session.session_id, "0" * 32)) == (
        unknown.status,
        unknown.reason,
    )
    assert theirs.status == 404
    assert snapshot(pair) == before


def test_policy_refusal_is_a_negative_response(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    tree = text_of(pair.tree())
    answer = fired(pair.dms1.receive(STRANGER, request(server_id=STRANGER)))
    assert answer is not None
    assert answer.is_acknowledged is False  # type: ignore[attr-defined]
    assert answer.reason_code == 403  # type: ignore[attr-defined]
    assert text_of(pair.tree()) == tree
    (session,) = pair.dms1.store.sessions()
    assert session.outcome is Outcome.REFUSED


def test_second_process_on_the_same_subtree_is_409(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    pair.wire.drop.add("DELEGATION_CONFIRMED")
    pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.settle_until(lambda: pair.sent("DELEGATION_CONFIRMED"))
    before = snapshot(pair)
    for subtree in (SUBTREE, SUBTREE + "/VPN", "./Vendor", "."):
        with pytest.raises(Refused) as e:
            pair.dms1.delegate(DEVICE, DMS2, subtree)
        assert e.value.status == 409
        assert "already in process" in e.value.reason
        assert refused(pair.dms1, DMS2, request(dm_tree_uri=subtree)).status == 409
    assert snapshot(pair) == before
    pair.dms1.delegate(DEVICE, "other.example", "./Vendor/Radio")  # a disjoint subtree is free


def test_delegated_subtree_cannot_be_delegated_again(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.settle()
    before = snapshot(pair)
    with pytest.raises(Refused, match="already delegated"):
        pair.dms1.delegate(DEVICE, "other.example", SUBTREE + "/VPN")
    with pytest.raises(Refused, match="already holds"):
        pair.dms1.delegate(DEVICE, DMS2, "./Vendor/Radio")
    assert snapshot(pair) == before


def test_revocation_of_what_is_not_delegated_is_409(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    before = snapshot(pair)
    with pytest.raises(Refused, match="not delegated"):
        pair.dms1.revoke(DEVICE, SUBTREE)
    with pytest.raises(Refused, match="not delegated"):
        pair.dms2.give_back(DEVICE, SUBTREE)
    for engine, peer, message in (
        (pair.dms2, DMS1, DelegationTerminationRequest(device_id=DEVICE, session_id="b" * 32)),
        (pair.dms1, DMS2, DelegationRevocationRequest(device_id=DEVICE, session_id="b" * 32)),
        (
            pair.dms2,
            DMS1,
            DelegationRevoked(device_id=DEVICE, reason_code=200, session_id="b" * 32),
        ),
    ):
        assert refused(engine, peer, message).status == 409
    assert snapshot(pair) == before


def test_revocation_from_a_peer_that_does_not_hold_the_delegation(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.settle()
    before = snapshot(pair)
    revoke = DelegationRevocationRequest(device_id=DEVICE, session_id="c" * 32)
    assert refused(pair.dms1, STRANGER, revoke).status == 409
    wrong_subtree = attrs.evolve(revoke, dm_tree_uri="./Vendor/Radio")
    assert refused(pair.dms1, DMS2, wrong_subtree).status == 409
    assert snapshot(pair) == before


def test_replayed_messages_are_not_acted_on_twice(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    started = pair.dms2.request_delegation(DEVICE, DMS1, SUBTREE)
    pair.settle()
    session = pair.dms1.store.get(started.session_id)
    assert session is not None
    assert session.outcome is Outcome.DELEGATED
    after = snapshot(pair)
    replayed_request = out.delegation_request(started, DMS2)
    answer = fired(pair.dms1.receive(DMS2, replayed_request))
    assert answer == DelegationResponse(
        reason_code=200, is_acknowledged=True, session_id=started.session_id
    )
    confirmed = DelegationConfirmed(reason_code=200, session_id=started.session_id)
    assert fired(pair.dms1.receive(DMS2, confirmed)) is None
    assert snapshot(pair) == after


def test_out_of_order_message_is_409_and_changes_nothing(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    pair.wire.drop.add("BOOTSTRAP_CONFIRMED")
    session = pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.settle_until(lambda: pair.sent("BOOTSTRAP_CONFIRMED"))
    before = snapshot(pair)
    e = refused(
        pair.dms1, DMS2, DelegationConfirmed(reason_code=200, session_id=session.session_id)
    )
    assert e.status == 409
    assert "DELEGATION_CONFIRMED is not expected" in e.reason
    assert snapshot(pair) == before


def test_unusable_content_is_400(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    pair.wire.drop.add("BOOTSTRAP_CONFIRMED")
    session = pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.settle_until(lambda: pair.sent("BOOTSTRAP_CONFIRMED"))
    before = snapshot(pair)
    for message in (
        BootstrapConfirmed(reason_code=200, session_id=session.session_id),
        BootstrapConfirmed(
            reason_code=200, session_id=session.session_id, is_client_bootstrapped=False
        ),
    ):
        assert refused(pair.dms1, DMS2, message).status == 400
    assert snapshot(pair) == before


def test_a_policy_refusal_code_out_of_range_is_sent_as_403(tmp_path: Path) -> None:
    from twisted.internet.defer import succeed as done_with
    from zope.interface import implementer

    from dmdelegation.engine.inputs import PolicyDecided
    from dmdelegation.engine.model import Role

    @implementer(IDelegationPolicy)
    class Odd:
        def role_for(self, peer: str, request: DelegationRequest) -> Role:
            return Role.DMS1

        def decide(self, role: Role, peer: str, request: DelegationRequest) -> Any:
            return done_with(PolicyDecided(False, 1234, "no"))

    verifyObject(IDelegationPolicy, Odd())
    pair = Pair(tmp_path)
    pair.dms1.stop()
    pair.dms1 = pair.build(DMS1, policy=Odd())
    answer = fired(pair.dms1.receive(DMS2, request()))
    assert isinstance(answer, DelegationResponse)
    assert (answer.is_acknowledged, answer.reason_code) == (False, 403)


def test_a_tree_uri_the_tree_refuses_is_400_and_spellings_meet(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    before = snapshot(pair)
    for bad in ("./Vendor/../Vendor", "./Vendor/.", "./" + "n" * 200):
        e = refused(pair.dms1, DMS2, request(dm_tree_uri=bad))
        assert e.status == 400
        assert "DMTreeURI" in e.reason
    assert snapshot(pair) == before
    # an escaped spelling of a subtree in a process is the same subtree
    pair.wire.drop.add("DELEGATION_CONFIRMED")
    pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.settle_until(lambda: pair.sent("DELEGATION_CONFIRMED"))
    escaped = SUBTREE.replace("Enterprise", "Enterpris%65")
    assert refused(pair.dms1, DMS2, request(dm_tree_uri=escaped)).status == 409
    with pytest.raises(Refused, match="already in process"):
        pair.dms1.delegate(DEVICE, "other.example", escaped)
