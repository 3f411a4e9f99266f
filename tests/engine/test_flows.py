"""Every process of the table, from each initiator, between two engines back to back."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmdelegation.engine.model import Outcome, Role
from dmdelegation.protocol import DelegationMethod
from dmdelegation.tree import DMACC_ROOT

from .harness import DEVICE, DMS1, DMS2, SUBTREE, Pair, rights_of, text_of


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
    owner_account = _account_uri(pair, DMS1)
    before = rights_of(pair, skip=owner_account if full else None)
    if initiator is Role.DMS1:
        session = pair.dms1.delegate(DEVICE, DMS2, SUBTREE, full=full, method=method)
        ended = pair.dms1.wait(session.session_id)
    else:
        session = pair.dms2.request_delegation(DEVICE, DMS1, SUBTREE, full=full, method=method)
        ended = pair.dms2.wait(session.session_id)
    pair.settle()
    result = ended.result  # type: ignore[attr-defined]
    assert result.outcome is Outcome.DELEGATED, result.reason
    assert pair.open_sessions() == (0, 0)
    assert DMS2 in _accounts(pair)
    assert (DMS1 in _accounts(pair)) is not full
    named = _named(pair, DMS2)
    assert named and all(uri == SUBTREE or uri.startswith(SUBTREE + "/") for uri in named)
    (d1,) = pair.dms1.store.delegations(DEVICE)
    (d2,) = pair.dms2.store.delegations(DEVICE)
    assert (d1.role, d1.peer, d1.subtree, d1.full) == (Role.DMS1, DMS2, SUBTREE, full)
    assert (d2.role, d2.peer, d2.subtree, d2.full) == (Role.DMS2, DMS1, SUBTREE, full)

    revocation = pair.dms1.revoke(DEVICE, SUBTREE)
    done = pair.dms1.wait(revocation.session_id)
    pair.settle()
    assert done.result.outcome is Outcome.REVOKED  # type: ignore[attr-defined]
    assert pair.open_sessions() == (0, 0)
    assert DMS2 not in _accounts(pair)
    assert _named(pair, DMS2) == []
    assert DMS2 not in text_of(pair.tree())
    assert pair.dms1.store.delegations(DEVICE) == []
    assert pair.dms2.store.delegations(DEVICE) == []
    assert rights_of(pair, skip=owner_account if full else None) == before
