"""``delegate --dry-run``: the predicted changes are the changes a real run then makes, nothing
is changed by the prediction, and what would fail is refused early."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmdelegation.engine.engine import Refused
from dmdelegation.engine.model import Outcome
from dmdelegation.ops.dryrun import diff, plan
from dmdelegation.protocol import DelegationMethod
from dmdelegation.tree import URI
from dmdelegation.tree.acl import ACL
from tests.engine.harness import SUBTREE, fired, text_of

from .helpers import DEVICE, DMS1, DMS2, Observed


@pytest.mark.parametrize("method", list(DelegationMethod))
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("subtree", [SUBTREE, "./Vendor"])
def test_prediction_equals_the_real_changes(
    tmp_path: Path, method: DelegationMethod, full: bool, subtree: str
) -> None:
    pair = Observed(tmp_path)
    before = pair.tree()
    code, predicted = pair.admin(DMS1).call(
        "POST",
        "/delegate",
        {
            "device": DEVICE,
            "to": DMS2,
            "subtree": subtree,
            "full": full,
            "method": "dmacc" if method is DelegationMethod.DMACC else "bootstrap-url",
            "dry_run": True,
        },
    )
    assert code == 200
    assert predicted["dry_run"] is True
    assert text_of(pair.tree()) == text_of(before)  # nothing changed
    assert pair.dms1.store.sessions() == []
    assert pair.wire.trace == []  # DMS-2 was not asked
    session = pair.dms1.delegate(DEVICE, DMS2, subtree, full=full, method=method)
    done = pair.dms1.wait(session.session_id)
    pair.settle()
    assert fired(done).outcome is Outcome.DELEGATED
    real = diff(before, pair.tree())
    assert predicted["changes"] == real.to_json()
    assert real.added  # DMS-2's account at least
    assert any(DMS2 in after and DMS2 not in was for _, was, after in real.acl)
    assert bool(real.removed) is full  # our own account goes exactly when full


def test_a_delegated_subtree_is_refused_early(tmp_path: Path) -> None:
    pair = Observed(tmp_path)
    pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.settle()
    before = text_of(pair.tree())
    with pytest.raises(Refused) as refused:
        plan(pair.dms1, pair.clients, DEVICE, DMS2, SUBTREE + "/VPN")
    assert refused.value.status == 409
    assert "already delegated" in refused.value.reason
    code, answer = pair.admin(DMS1).call(
        "POST", "/delegate", {"device": DEVICE, "to": DMS2, "subtree": SUBTREE, "dry_run": True}
    )
    assert code == 409
    assert "already delegated" in answer["error"]
    assert text_of(pair.tree()) == before


def test_rights_dms1_does_not_hold_are_refused_early_as_the_real_run_fails(
    tmp_path: Path,
) -> None:
    pair = Observed(tmp_path)
    radio = URI.parse("./Vendor/Radio")
    storage = pair.clients.storage(DEVICE)
    storage.set_acl(radio.parent, ACL.parse("Get=*"))  # type: ignore[arg-type]
    storage.set_acl(radio, ACL.parse("Get=*"))  # DMS-1 may no longer change Radio's ACL
    before = text_of(pair.tree())
    with pytest.raises(Refused) as refused:
        plan(pair.dms1, pair.clients, DEVICE, DMS2, str(radio))
    assert refused.value.status == 403
    assert "425" in refused.value.reason or "denied" in refused.value.reason.lower()
    assert text_of(pair.tree()) == before
    # The real run fails the same way, and restores the client.
    session = pair.dms1.delegate(DEVICE, DMS2, str(radio))
    done = pair.dms1.wait(session.session_id)
    pair.settle()
    assert fired(done).outcome is Outcome.FAILED
    assert text_of(pair.tree()) == before


def test_an_unknown_device_is_refused(tmp_path: Path) -> None:
    pair = Observed(tmp_path)
    with pytest.raises(Refused) as refused:
        plan(pair.dms1, pair.clients, "IMEI:000", DMS2, SUBTREE)
    assert refused.value.status == 404


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"device": "IMEI:000000000000000"}, 404, "IMEI:000000000000000"),
        ({"subtree": "./Vendor/Nowhere"}, 404, f"no node ./Vendor/Nowhere on {DEVICE}"),
        ({"to": "dms3.example"}, 404, "dms3.example is not a configured peer"),
    ],
)
def test_what_the_dry_run_refuses_is_refused_before_a_message_is_sent(
    tmp_path: Path, change: dict[str, str], status: int, error: str
) -> None:
    from dmdelegation.web.admin import Admin

    from .helpers import AdminClient

    pair = Observed(tmp_path)
    admin = AdminClient(Admin(pair.dms1, pair.clients, pair.clock, peers=[DMS2]), pair.clock)
    body = {"device": DEVICE, "to": DMS2, "subtree": SUBTREE, **change}
    dry = admin.call("POST", "/delegate", {**body, "dry_run": True})
    real = admin.call("POST", "/delegate", body)
    assert dry == real
    assert real[0] == status
    assert error in real[1]["error"]
    pair.clock.advance(60)
    assert pair.wire.trace == []
    assert pair.dms1.store.sessions() == []


def test_the_end_of_a_process_is_logged_on_device_and_subtree_apart(tmp_path: Path) -> None:
    from twisted.logger import capturedLogs, formatEvent

    pair = Observed(tmp_path)
    with capturedLogs() as events:
        session = pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
        pair.settle()
    ends = [formatEvent(e) for e in events if "session_id" in e and "outcome" in e]
    expected = f"session {session.session_id} delegation-dmacc with {DMS2} on {DEVICE} {SUBTREE}: "
    assert any(line.startswith(expected) for line in ends), ends


def test_a_dry_run_logs_no_change_to_the_device(tmp_path: Path) -> None:
    from twisted.logger import capturedLogs, formatEvent

    pair = Observed(tmp_path)
    with capturedLogs() as events:
        code, _ = pair.admin(DMS1).call(
            "POST", "/delegate", {"device": DEVICE, "to": DMS2, "subtree": SUBTREE, "dry_run": True}
        )
    assert code == 200
    assert [formatEvent(e) for e in events] == []
    with capturedLogs() as events:  # the loggers speak again once the dry run is over
        pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
        pair.settle()
    assert any(formatEvent(e).startswith("created ./DMAcc/") for e in events)
