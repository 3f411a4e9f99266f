"""Every process of the table, from each initiator, between two engines back to back."""

from __future__ import annotations

from base64 import b64encode
from pathlib import Path

import pytest

from dmdelegation.engine.model import Outcome, Role
from dmdelegation.protocol import DelegationMethod
from dmdelegation.tree import DMACC_ROOT

from .harness import DEVICE, DMS1, DMS2, SUBTREE, Pair, fired, rights_of, text_of


def _named(pair: Pair, server: str) -> list[str]:
    """Every URI whose own ACL names ``server``."""
    return [
        str(r.uri) for r in pair.tree() if any(server in servers for _, servers in r.acl.entries)
    ]


def _account_uri(pair: Pair, server: str) -> str:
    (uri,) = [
        str(r.uri.parent)
        for r in pair.clients.records(DEVICE, DMACC_ROOT)
        if r.uri.name == "ServerID" and r.value.data == server
    ]
    return uri


def _accounts(pair: Pair) -> set[str]:
    return {
        str(r.value.data)
        for r in pair.clients.records(DEVICE, DMACC_ROOT)
        if r.uri.name == "ServerID"
    }


@pytest.mark.parametrize("method", list(DelegationMethod))
@pytest.mark.parametrize("initiator", [Role.DMS1, Role.DMS2])
@pytest.mark.parametrize("full", [False, True])
def test_delegation_then_asked_revocation(
    tmp_path: Path, method: DelegationMethod, initiator: Role, full: bool
) -> None:
    pair = Pair(tmp_path)
    before = rights_of(pair)
    if initiator is Role.DMS1:
        session = pair.dms1.delegate(DEVICE, DMS2, SUBTREE, full=full, method=method)
        ended = pair.dms1.wait(session.session_id)
    else:
        session = pair.dms2.request_delegation(DEVICE, DMS1, SUBTREE, full=full, method=method)
        ended = pair.dms2.wait(session.session_id)
    pair.settle()
    result = fired(ended)
    assert result.outcome is Outcome.DELEGATED, result.reason
    assert pair.open_sessions() == (0, 0)
    assert DMS2 in _accounts(pair)
    assert (DMS1 in _accounts(pair)) is not full
    named = _named(pair, DMS2)
    assert named
    assert all(uri == SUBTREE or uri.startswith(SUBTREE + "/") for uri in named)
    (d1,) = pair.dms1.store.delegations(DEVICE)
    (d2,) = pair.dms2.store.delegations(DEVICE)
    assert (d1.role, d1.peer, d1.subtree, d1.full) == (Role.DMS1, DMS2, SUBTREE, full)
    assert (d2.role, d2.peer, d2.subtree, d2.full) == (Role.DMS2, DMS1, SUBTREE, full)

    revocation = pair.dms1.revoke(DEVICE, SUBTREE)
    done = pair.dms1.wait(revocation.session_id)
    pair.settle()
    assert fired(done).outcome is Outcome.REVOKED
    assert pair.open_sessions() == (0, 0)
    assert DMS2 not in _accounts(pair)
    assert _named(pair, DMS2) == []
    assert DMS2 not in text_of(pair.tree())
    assert pair.dms1.store.delegations(DEVICE) == []
    assert pair.dms2.store.delegations(DEVICE) == []
    assert rights_of(pair) == before  # DMS-1's account is back after a full delegation


def _delegated(pair: Pair, full: bool = False) -> None:
    session = pair.dms1.delegate(DEVICE, DMS2, SUBTREE, full=full)
    ended = pair.dms1.wait(session.session_id)
    pair.settle()
    assert fired(ended).outcome is Outcome.DELEGATED


def _clean_of_dms2(pair: Pair) -> None:
    assert DMS2 not in _accounts(pair)
    assert _named(pair, DMS2) == []
    assert DMS2 not in text_of(pair.tree())


@pytest.mark.parametrize("full", [False, True])
def test_requested_revocation(tmp_path: Path, full: bool) -> None:
    pair = Pair(tmp_path)
    before = rights_of(pair)
    _delegated(pair, full)
    session = pair.dms2.give_back(DEVICE, SUBTREE)
    ended = pair.dms2.wait(session.session_id)
    pair.settle()
    assert fired(ended).outcome is Outcome.REVOKED
    (dms1_side,) = [
        s for s in pair.dms1.store.sessions(DEVICE) if s.session_id == session.session_id
    ]
    assert dms1_side.outcome is Outcome.REVOKED
    assert pair.open_sessions() == (0, 0)
    _clean_of_dms2(pair)
    assert rights_of(pair) == before  # DMS-1's account is back after a full delegation
    assert pair.dms1.store.delegations() == [] == pair.dms2.store.delegations()
    assert [root for _, _, root in pair.wire.trace[-2:]] == [
        "DELEGATION_REVOCATION_REQ",
        "DELEGATION_REVOKED",
    ]


@pytest.mark.parametrize("notify", [True, False])
def test_forced_revocation(tmp_path: Path, notify: bool) -> None:
    pair = Pair(tmp_path)
    before = rights_of(pair)
    _delegated(pair)
    sent_before = len(pair.wire.trace)
    session = pair.dms1.revoke(DEVICE, SUBTREE, forced=True, notify=notify)
    ended = pair.dms1.wait(session.session_id)
    pair.settle()
    assert fired(ended).outcome is Outcome.REVOKED
    assert pair.open_sessions() == (0, 0)
    _clean_of_dms2(pair)
    assert rights_of(pair) == before
    assert pair.dms1.store.delegations() == []
    sent = [root for _, _, root in pair.wire.trace[sent_before:]]
    if notify:
        assert sent == ["DELEGATION_REVOKED"]
        assert pair.dms2.store.delegations() == []
        (notice,) = [
            s for s in pair.dms2.store.sessions(DEVICE) if s.process.value.endswith("forced")
        ]
        assert notice.outcome is Outcome.REVOKED
    else:
        # No notice: nothing tells DMS-2, which keeps its record (5.2.5: the notice is optional).
        assert sent == []
        assert len(pair.dms2.store.delegations()) == 1


def test_asked_revocation_proceeds_when_dms2_never_answers(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    _delegated(pair)
    pair.wire.drop.add("DELEGATION_TERMINATION_RESP")
    session = pair.dms1.revoke(DEVICE, SUBTREE)
    ended = pair.dms1.wait(session.session_id)
    pair.settle(pair.timeouts.termination - 1)
    assert pair.dms1.store.get(session.session_id).state == "await-termination"  # type: ignore[union-attr]
    pair.settle()
    assert fired(ended).outcome is Outcome.REVOKED
    _clean_of_dms2(pair)
    assert pair.open_sessions() == (0, 0)


def test_already_bootstrapped_client(tmp_path: Path) -> None:
    """DMS-2 has an account on the client already: DMS-1 creates none, and still grants."""
    pair = Pair(tmp_path)
    pair.dms2_server._bootstrap(DEVICE)  # as if DMS-2 had bootstrapped the device earlier
    account_nodes = len(pair.clients.records(DEVICE, DMACC_ROOT))
    _delegated(pair)
    assert _accounts(pair) == {DMS1, DMS2}
    assert len(pair.clients.records(DEVICE, DMACC_ROOT)) == account_nodes  # no second account
    assert _named(pair, DMS2)  # the subtree was granted all the same
    messages = [root for _, _, root in pair.wire.trace]
    assert "BOOTSTRAP_CONFIRMED" in messages
    log = pair.dms1.store.message_log(pair.dms1.store.sessions(DEVICE)[0].session_id)
    (confirmed,) = [line for line in log if line.root == "BOOTSTRAP_CONFIRMED"]
    assert "<isClientBootstapped>true</isClientBootstapped>" in confirmed.document
    assert "<DMAcc>" not in confirmed.document


def test_message_log_never_holds_a_credential(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    _delegated(pair)
    session_id = pair.dms1.store.sessions(DEVICE)[0].session_id
    documents = [line.document for line in pair.dms1.store.message_log(session_id)]
    documents += [line.document for line in pair.dms2.store.message_log(session_id)]
    dms2_account = _account_uri(pair, DMS2)
    secrets = [
        r.value.data
        for r in pair.clients.records(DEVICE, DMACC_ROOT)
        if r.uri.name in ("AAuthSecret", "AAuthData") and str(r.uri).startswith(dms2_account)
    ]
    assert len(secrets) == 4
    text = "\n".join(documents)
    assert "<AAuthSecret>***</AAuthSecret>" in text
    for secret in secrets:
        assert isinstance(secret, str | bytes)
        shown = [secret] if isinstance(secret, str) else [secret.hex(), b64encode(secret).decode()]
        assert not any(s in text for s in shown)


@pytest.mark.parametrize("method", list(DelegationMethod))
def test_a_message_that_overtakes_an_answer_is_held_not_refused(
    tmp_path: Path, method: DelegationMethod
) -> None:
    """DMS-2 sends its next message as soon as it has answered; when that message arrives
    before the answer does, DMS-1 holds it until the answer is in."""
    pair = Pair(tmp_path)
    pair.wire.answer_delay = 0.5
    session = pair.dms1.delegate(DEVICE, DMS2, SUBTREE, method=method)
    ended = pair.dms1.wait(session.session_id)
    pair.settle()
    assert fired(ended).outcome is Outcome.DELEGATED
    assert pair.wire.refusals == []
