"""Timed delegations expire under a Clock: revoked (asked first), said so in the audit trail,
and no trace of DMS-2 left on the device; the expiry survives a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmdelegation.engine.engine import Refused
from dmdelegation.engine.model import Outcome, Process
from dmdelegation.ops.expiry import EXPIRED
from tests.engine.harness import SUBTREE, text_of

from .helpers import DEVICE, DMS1, DMS2, Observed


def no_trace_of_dms2(pair: Observed) -> None:
    assert DMS2 not in text_of(pair.tree())
    assert pair.dms1.store.delegations(DEVICE) == []
    assert pair.dms2.store.delegations(DEVICE) == []
    assert pair.open_sessions() == (0, 0)


def revocations(pair: Observed) -> list[tuple[Process, Outcome | None]]:
    return [
        (s.process, s.outcome)
        for s in pair.dms1.store.sessions(DEVICE)
        if not s.process.is_delegation
    ]


def test_a_timed_delegation_expires(tmp_path: Path) -> None:
    pair = Observed(tmp_path)
    start = pair.clock.seconds()
    code, session = pair.admin(DMS1).call(
        "POST", "/delegate", {"device": DEVICE, "to": DMS2, "subtree": SUBTREE, "for": 600}
    )
    assert code == 200
    pair.settle(seconds=300)
    assert [d.peer for d in pair.dms1.store.delegations(DEVICE)] == [DMS2]
    assert DMS2 in text_of(pair.tree())
    assert revocations(pair) == []
    pair.settle_until(lambda: not pair.dms1.store.delegations(DEVICE))
    assert pair.clock.seconds() == start + 600  # revoked at the expiry, not before
    pair.settle()
    no_trace_of_dms2(pair)
    assert revocations(pair) == [(Process.REVOCATION_ASKED, Outcome.REVOKED)]
    code, history = pair.admin(DMS1).call("GET", f"/history?device={DEVICE}")
    (period,) = history["periods"]
    assert period["through"] == session["session"]
    assert period["expires"] == start + 600
    assert period["until"] == start + 600
    assert period["cause"] == EXPIRED
    assert period["outcome"].startswith("revoked")


def test_the_expiry_is_re_armed_after_a_restart(tmp_path: Path) -> None:
    pair = Observed(tmp_path)
    start = pair.clock.seconds()
    assert pair.watch is not None
    pair.watch.delegate(DEVICE, DMS2, SUBTREE, 600)
    pair.settle(seconds=100)
    assert pair.dms1.store.delegations(DEVICE)
    pair.restart(DMS1)  # the old watch's timer is gone; the new one reads the store
    pair.settle_until(lambda: not pair.dms1.store.delegations(DEVICE))
    assert pair.clock.seconds() == start + 600
    pair.settle()
    no_trace_of_dms2(pair)


def test_an_expiry_passed_while_down_is_acted_on_at_start(tmp_path: Path) -> None:
    pair = Observed(tmp_path)
    assert pair.watch is not None
    pair.watch.delegate(DEVICE, DMS2, SUBTREE, 60)
    pair.settle(seconds=30)
    pair.watch.stop()  # DMS-1 "down" from here
    pair.dms1.stop()
    pair.clock.advance(3600)
    assert pair.dms1.store.delegations(DEVICE)
    down_until = pair.clock.seconds()
    pair.restart(DMS1)
    pair.settle_until(lambda: not pair.dms1.store.delegations(DEVICE))
    assert pair.clock.seconds() == down_until
    pair.settle()
    no_trace_of_dms2(pair)


def test_dms2_unreachable_at_expiry_is_revoked_all_the_same(tmp_path: Path) -> None:
    """Asked first; DMS-2 cannot be asked, so DMS-1 removes it from the client (5.3)."""
    pair = Observed(tmp_path)
    assert pair.watch is not None
    pair.watch.delegate(DEVICE, DMS2, SUBTREE, 600)
    pair.settle(seconds=300)
    pair.wire.down.add(DMS2)
    pair.settle_until(lambda: not pair.dms1.store.delegations(DEVICE))
    assert DMS2 not in text_of(pair.tree())
    assert revocations(pair) == [(Process.REVOCATION_ASKED, Outcome.REVOKED)]
    pair.wire.down.clear()
    pair.settle()
    no_trace_of_dms2(pair)


def test_dms2_silent_after_its_ack_is_removed_after_the_termination_timeout(
    tmp_path: Path,
) -> None:
    """DMS-2 acknowledges but its DELEGATION_TERMINATION_RESP never arrives: DMS-1 waits
    ``timeouts.termination``, then removes DMS-2 from the client anyway."""
    pair = Observed(tmp_path)
    assert pair.watch is not None
    start = pair.clock.seconds()
    pair.watch.delegate(DEVICE, DMS2, SUBTREE, 600)
    pair.settle(seconds=300)
    pair.wire.drop.add("DELEGATION_TERMINATION_RESP")
    pair.settle_until(lambda: not pair.dms1.store.delegations(DEVICE))
    assert pair.clock.seconds() == start + 600 + pair.timeouts.termination
    assert DMS2 not in text_of(pair.tree())


def test_a_timed_delegation_that_never_came_into_force_is_left_alone(tmp_path: Path) -> None:
    pair = Observed(tmp_path)
    assert pair.watch is not None
    pair.wire.down.add(DMS2)
    session = pair.watch.delegate(DEVICE, DMS2, SUBTREE, 30)
    pair.settle()
    failed = pair.dms1.store.get(session.session_id)
    assert failed is not None
    assert failed.outcome is Outcome.FAILED
    assert revocations(pair) == []
    assert pair.dms1.store.delegations(DEVICE) == []


def test_an_operator_revocation_before_expiry_wins(tmp_path: Path) -> None:
    pair = Observed(tmp_path)
    assert pair.watch is not None
    pair.watch.delegate(DEVICE, DMS2, SUBTREE, 600)
    pair.settle(seconds=100)
    pair.dms1.revoke(DEVICE, SUBTREE, forced=True)
    pair.settle()
    assert revocations(pair) == [(Process.REVOCATION_FORCED, Outcome.REVOKED)]
    no_trace_of_dms2(pair)


@pytest.mark.parametrize("duration", [0, -5])
def test_a_duration_must_be_positive(tmp_path: Path, duration: float) -> None:
    pair = Observed(tmp_path)
    assert pair.watch is not None
    with pytest.raises(Refused):
        pair.watch.delegate(DEVICE, DMS2, SUBTREE, duration)
    code, answer = pair.admin(DMS1).call(
        "POST", "/delegate", {"device": DEVICE, "to": DMS2, "subtree": SUBTREE, "for": duration}
    )
    assert code == 400
    assert "for" in answer["error"]
    assert pair.dms1.store.sessions(DEVICE) == []


def test_status_shows_when_a_timed_delegation_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from typing import Any

    from dmdelegation.cli import main
    from dmdelegation.commands import operate
    from dmdelegation.ops.history import when

    pair = Observed(tmp_path)
    start = pair.clock.seconds()
    admin = pair.admin(DMS1)
    admin.call("POST", "/delegate", {"device": DEVICE, "to": DMS2, "subtree": SUBTREE, "for": 600})
    pair.settle(seconds=300)
    code, status = admin.call("GET", "/status")
    assert code == 200
    (delegation,) = status["delegations"]
    assert delegation["expires"] == start + 600

    class Client:
        def call(self, method: str, path: str, body: Any = None) -> Any:
            return admin.call(method, path, body)[1]

    monkeypatch.setattr(operate, "client_for", lambda args: Client())
    assert main(["status"]) == 0
    line = f"  {DEVICE} {SUBTREE} to {DMS2} until {when(start + 600)}"
    assert line in capsys.readouterr().out.splitlines()
