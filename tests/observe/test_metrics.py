"""/metrics after a scripted run: the counts the run must have produced."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dmdelegation.client.testing import fired_failure
from dmdelegation.ops.metrics import refusal_reason
from dmdelegation.protocol import DelegationConfirmed
from dmdelegation.store.interfaces import StoreUnavailable
from tests.engine.harness import SUBTREE

from .helpers import DEVICE, DMS1, DMS2, Observed


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, frozenset(s.labels.items()))] = s.value
    return found


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_metrics_after_a_scripted_run(tmp_path: Path) -> None:
    pair = Observed(tmp_path)
    admin = pair.admin(DMS1)

    # 1. A delegation: while it runs (DELEGATION_RESP takes a second), one open session.
    pair.wire.answer_delay = 1.0
    code, started = admin.call(
        "POST", "/delegate", {"device": DEVICE, "to": DMS2, "subtree": SUBTREE}
    )
    assert code == 200
    code, body, kind = admin.raw("GET", "/metrics")
    assert code == 200
    assert kind.startswith("text/plain")
    m = samples(body.decode())
    open_now = pair.dms1.store.get(started["session"])
    assert open_now is not None
    assert open_now.is_open
    assert (
        value(
            m,
            "dmdelegation_open_sessions",
            role="dms1",
            kind="delegation-dmacc",
            state=open_now.state,
        )
        == 1
    )
    pair.settle()
    pair.wire.answer_delay = 0.0

    # 2. The same subtree again: refused by the operator's command check (409).
    code, _ = admin.call("POST", "/delegate", {"device": DEVICE, "to": DMS2, "subtree": SUBTREE})
    assert code == 409

    # 3. Forced revocation while DMS-2 is unreachable: DELEGATION_REVOKED fails twice, then is
    #    delivered (retries after 0.5 s and 1 s: the harness's backoff).
    pair.wire.down.add(DMS2)
    code, _ = admin.call(
        "POST", "/revoke", {"device": DEVICE, "subtree": SUBTREE, "mode": "forced"}
    )
    assert code == 200
    pair.clock.advance(0)  # first attempt: refused connection
    pair.clock.advance(0.5)  # second attempt: refused connection
    pair.wire.down.clear()
    pair.clock.advance(1.0)  # third attempt: delivered
    pair.settle()

    m = samples(admin.raw("GET", "/metrics")[1].decode())
    processes = "dmdelegation_processes_total"
    assert value(m, processes, kind="delegation-dmacc", role="dms1", outcome="delegated") == 1
    assert value(m, processes, kind="revocation-forced", role="dms1", outcome="revoked") == 1
    assert (
        value(m, "dmdelegation_processes_started_total", kind="delegation-dmacc", role="dms1") == 1
    )
    assert value(m, "dmdelegation_refusals_total", source="operator", reason="conflict") == 1
    assert value(m, "dmdelegation_rollbacks_total", kind="delegation-dmacc") == 0
    out = "dmdelegation_messages_total"
    assert value(m, out, direction="out", type="DELEGATION_REVOKED", status="0") == 2
    assert value(m, out, direction="out", type="DELEGATION_REVOKED", status="204") == 1
    assert value(m, "dmdelegation_peer_retries_total", peer=DMS2) == 2
    assert value(m, out, direction="out", type="DELEGATION_REQ", status="200") == 1
    # Every message DMS-1 put on the wire is counted once, with its type.
    on_wire = Counter(root for sender, _, root in pair.wire.trace if sender == DMS1)
    counted: Counter[str] = Counter()
    for (name, labels), n in m.items():
        label = dict(labels)
        if name == out and label["direction"] == "out":
            counted[label["type"]] += int(n)
    assert counted == on_wire
    # ... and every message DMS-1 received, with the status it answered.
    received = Counter(root for sender, _, root in pair.wire.trace if sender == DMS2)
    counted_in: Counter[str] = Counter()
    for (name, labels), n in m.items():
        label = dict(labels)
        if name == out and label["direction"] == "in":
            assert label["status"] in ("200", "204"), label
            counted_in[label["type"]] += int(n)
    assert counted_in == received
    # Latency: one observation per answered attempt.
    answered = sum(
        n
        for (name, labels), n in m.items()
        if name == out and dict(labels)["direction"] == "out" and dict(labels)["status"] != "0"
    )
    assert value(m, "dmdelegation_peer_latency_seconds_count", peer=DMS2) == answered
    # Nothing open at the end: the gauge has no sample left.
    assert not any(name == "dmdelegation_open_sessions" for name, _ in m)


def test_each_engine_has_its_own_registry(tmp_path: Path) -> None:
    pair = Observed(tmp_path)
    pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.settle()
    one = samples(pair.metrics1.exposition().decode())
    two = samples(pair.metrics2.exposition().decode())
    processes = "dmdelegation_processes_total"
    assert value(one, processes, kind="delegation-dmacc", role="dms1", outcome="delegated") == 1
    assert value(one, processes, kind="delegation-dmacc", role="dms2", outcome="delegated") == 0
    assert value(two, processes, kind="delegation-dmacc", role="dms2", outcome="delegated") == 1
    assert value(two, processes, kind="delegation-dmacc", role="dms1", outcome="delegated") == 0


def test_rollback_and_peer_refusal_counted(tmp_path: Path) -> None:
    """DMS-1 aborts a delegation after changing the client (DMS-2's DELEGATION_PREPARED never
    arrives): the client is rolled back, and DMS-2 refuses the late message (404 or 409)."""
    pair = Observed(tmp_path)
    pair.wire.drop.add("DELEGATION_PREPARED")
    session = pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.settle_until(lambda: pair.sent("DELEGATION_PREPARED"))
    assert pair.dms1.store.get(session.session_id).touched_client  # type: ignore[union-attr]
    pair.dms1.abort(session.session_id, "test")
    pair.wire.drop.clear()
    pair.settle()
    one = samples(pair.metrics1.exposition().decode())
    processes = "dmdelegation_processes_total"
    assert value(one, processes, kind="delegation-dmacc", role="dms1", outcome="failed") == 1
    assert value(one, "dmdelegation_rollbacks_total", kind="delegation-dmacc") == 1
    two = samples(pair.metrics2.exposition().decode())
    assert value(two, processes, kind="delegation-dmacc", role="dms2", outcome="failed") == 1
    refused_by_two = [status for root, status in pair.wire.refusals]
    by_reason = Counter(refusal_reason(s) for s in refused_by_two)
    for reason, n in by_reason.items():
        assert value(two, "dmdelegation_refusals_total", source="peer", reason=reason) == n


def test_a_message_met_by_a_store_out_of_reach_is_counted_as_the_503_it_is_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = Observed(tmp_path)
    admin = pair.admin(DMS1)

    def down(*_: object) -> None:
        raise StoreUnavailable("the state store is out of reach")

    monkeypatch.setattr(pair.dms1.store, "get", down)
    confirmed = DelegationConfirmed(reason_code=200, session_id="f" * 32)
    failure = fired_failure(pair.dms1.receive(DMS2, confirmed))
    assert isinstance(failure.value, StoreUnavailable)
    monkeypatch.undo()
    m = samples(admin.raw("GET", "/metrics")[1].decode())
    messages = "dmdelegation_messages_total"
    assert value(m, messages, direction="in", type=confirmed.ROOT, status="503") == 1
    assert value(m, messages, direction="in", type=confirmed.ROOT, status="500") == 0
