"""The audit trail and the trace of a delegation followed by a revocation; no secret in either."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from dmdelegation.ops import trace
from dmdelegation.ops.history import history_lines
from dmdelegation.store.sessions import Commit, SessionStore
from tests.engine.harness import SUBTREE

from .helpers import DEVICE, DMS1, DMS2, Observed


def _delegate_and_revoke(pair: Observed) -> tuple[str, str, list[str], float]:
    admin = pair.admin(DMS1)
    code, delegation = admin.call(
        "POST", "/delegate", {"device": DEVICE, "to": DMS2, "subtree": SUBTREE}
    )
    assert code == 200
    pair.settle()
    secrets = pair.secrets(DMS2)
    assert len(secrets) >= 4  # two AAuthSecret, two AAuthData (hex and base64)
    pair.clock.advance(60)
    revoked_at = pair.clock.seconds()
    code, revocation = admin.call("POST", "/revoke", {"device": DEVICE, "subtree": SUBTREE})
    assert code == 200
    pair.settle()
    return delegation["session"], revocation["session"], secrets, revoked_at


def test_history_of_a_delegation_then_a_revocation(tmp_path: Path) -> None:
    pair = Observed(tmp_path)
    delegated_at = pair.clock.seconds()
    delegation, revocation, secrets, revoked_at = _delegate_and_revoke(pair)
    assert revoked_at >= delegated_at + 60
    for side, admin in ((DMS1, pair.admin(DMS1)), (DMS2, pair.admin(DMS2))):
        code, history = admin.call("GET", f"/history?device={DEVICE}")
        assert code == 200
        (period,) = history["periods"]
        assert period["subtree"] == SUBTREE
        assert (period["holder"], period["grantor"]) == (DMS2, DMS1)
        assert period["role"] == ("dms1" if side == DMS1 else "dms2")
        assert period["through"] == delegation
        assert period["process"] == "delegation-dmacc"
        assert period["since"] == delegated_at
        assert period["until"] == revoked_at  # the DMS-2 side: its ack is sent at once
        assert period["ended_by"] == revocation
        assert period["ended_process"] == "revocation-asked"
        assert period["cause"] == ("operator" if side == DMS1 else f"asked by {DMS1}")
        assert period["outcome"].startswith("revoked")
        assert period["expires"] is None
        text = "\n".join(history_lines(history["periods"]))
        assert f"held by {DMS2} (delegated by {DMS1})" in text
        assert f"ended by revocation-asked {revocation}" in text
        for shown in (json.dumps(history), text):
            for secret in secrets:
                assert secret not in shown


def test_history_survives_a_restart_and_matches_the_registry(tmp_path: Path) -> None:
    pair = Observed(tmp_path)
    pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.settle()
    pair.restart(DMS1)
    code, history = pair.admin(DMS1).call("GET", f"/history?device={DEVICE}")
    assert code == 200
    (period,) = history["periods"]
    (delegation,) = pair.dms1.store.delegations(DEVICE)
    assert period["until"] is None
    assert (period["through"], period["since"]) == (delegation.session_id, delegation.since)


def test_a_failed_write_leaves_no_audit_event(tmp_path: Path) -> None:
    """The audit events are written in the transaction of the transition that causes them: when
    the write of the registration fails, no ``granted`` event is left either."""
    pair = Observed(tmp_path)
    store = pair.dms1.store
    assert isinstance(store, SessionStore)
    real_write = store._write

    def failing(c: Commit, now: float) -> None:
        real_write(c, now)
        if c.register is not None:
            raise OSError("disk gone (injected)")

    store._write = failing  # type: ignore[method-assign]
    pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.settle()
    events = [e.event for e in store.audit_events(DEVICE)]
    registered = store.delegations(DEVICE)
    assert registered == []
    assert events == []
    store._write = real_write  # type: ignore[method-assign]
    pair.restart(DMS1)  # what a restart finds agrees too
    assert pair.dms1.store.delegations(DEVICE) == []
    assert pair.dms1.store.audit_events(DEVICE) == []


def test_trace_of_a_delegation_then_a_revocation(tmp_path: Path) -> None:
    pair = Observed(tmp_path)
    delegation, revocation, secrets, _ = _delegate_and_revoke(pair)
    admin = pair.admin(DMS1)
    code, traced = admin.call("GET", f"/sessions/{delegation}/trace")
    assert code == 200
    messages = [m for m in traced["messages"] if m["direction"] != trace.TO_DEVICE]
    assert [(m["direction"], m["message"]) for m in messages] == [
        ("out", "DELEGATION_REQ"),
        ("in", "DELEGATION_RESP"),
        ("in", "BOOTSTRAP_CONFIRMED"),
        ("out", "DELEGATION_PREPARED"),
        ("in", "DELEGATION_CONFIRMED"),
    ]
    assert all(m["at"] is not None for m in messages)
    assert messages[0]["from"] == DMS1
    assert messages[0]["to"] == DMS2
    assert messages[1]["status"] == 200  # DELEGATION_RESP's reasonCode
    assert messages[0]["status"] is None  # a request carries none
    code, revoked = admin.call("GET", f"/sessions/{revocation}/trace")
    assert [m["message"] for m in revoked["messages"] if m["direction"] != "device"] == [
        "DELEGATION_TERMINATION_REQ",
        "DELEGATION_TERMINATION_ACK",
        "DELEGATION_TERMINATION_RESP",
        "DELEGATION_REVOKED",
    ]
    drawn = trace.text(DMS1, DMS2, messages, "title")
    lines = drawn.splitlines()
    assert lines[0] == "title"
    assert DMS1 in lines[1]
    assert DMS2 in lines[1]
    arrows = [line for line in lines if "DELEGATION" in line or "BOOTSTRAP" in line]
    assert len(arrows) == 5
    assert arrows[0].rstrip().endswith(">|")  # out: left to right
    assert "|<" in arrows[1]  # in: right to left
    assert "DELEGATION_RESP (200)" in arrows[1]
    picture = trace.svg(DMS1, DMS2, messages, "title")
    assert picture.startswith("<svg")
    assert picture.count("<line") == 2 + 5  # two lifelines, five arrows
    code, session = admin.call("GET", f"/sessions/{delegation}")
    documents = "".join(m["document"] for m in session["messages"])
    assert "AAuthSecret" in documents  # the message log holds the DMAcc, masked
    for shown in (json.dumps(traced), json.dumps(revoked), drawn, picture):
        for secret in secrets:
            assert secret not in shown
    code, unknown = admin.call("GET", "/sessions/nope/trace")
    assert code == 404
    assert "unknown session" in unknown["error"]


def _svg_of(pair: Observed, session: str, tmp_path: Path, monkeypatch: Any) -> str:
    """``dmdelegation trace SESSION --svg FILE`` against DMS-1's admin API."""
    from dmdelegation.cli import main
    from dmdelegation.commands import observe

    admin = pair.admin(DMS1)

    class Client:
        def call(self, method: str, path: str, body: Any = None) -> Any:
            return admin.call(method, path, body)[1]

    monkeypatch.setattr(observe, "client_for", lambda args: Client())
    picture = tmp_path / "trace.svg"
    assert main(["trace", session, "--svg", str(picture)]) == 0
    return picture.read_text()


def _texts(picture: str) -> list[str]:
    root = etree.fromstring(picture.encode())
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]


def test_the_svg_shows_the_whole_title_on_white(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = Observed(tmp_path)
    delegation, _, _, _ = _delegate_and_revoke(pair)
    picture = _svg_of(pair, delegation, tmp_path, monkeypatch)
    root = etree.fromstring(picture.encode())
    title = _texts(picture)[0]
    assert title == (f"session {delegation}: dms1 delegation-dmacc {DEVICE} {SUBTREE}: delegated")
    assert int(root.get("width", "0")) >= 10 + trace.CHAR_WIDTH * len(title)
    background = root[0]
    assert background.tag == "{http://www.w3.org/2000/svg}rect"
    assert background.get("fill") == "white"
    assert background.get("width") == "100%"


def test_the_svg_of_a_failure_draws_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = Observed(tmp_path)
    pair.wire.down.add(DMS2)
    session = pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.settle()
    ended = pair.dms1.store.get(session.session_id)
    assert ended is not None
    assert ended.outcome is not None
    assert ended.reason
    picture = _svg_of(pair, session.session_id, tmp_path, monkeypatch)
    assert f"{ended.outcome.value}: {ended.reason}" in _texts(picture)


def test_the_svg_of_a_delegation_has_the_device_as_a_third_lifeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DMS-1's trace of a completed DMAcc delegation: the DM Client's lifeline with the tree
    commands DMS-1 sent it (the Add of DMS-2's account, the ACL changes) among the messages,
    after BOOTSTRAP_CONFIRMED and before DELEGATION_PREPARED; commands without a value."""
    pair = Observed(tmp_path)
    session = pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.settle()
    secrets = pair.secrets(DMS2)
    assert secrets
    picture = _svg_of(pair, session.session_id, tmp_path, monkeypatch)
    root = etree.fromstring(picture.encode())
    texts = _texts(picture)
    title = texts[0]
    assert title.endswith(": delegated")
    assert texts[1:4] == [f"DM Client {DEVICE}", DMS1, DMS2]
    assert int(root.get("width", "0")) >= 10 + trace.CHAR_WIDTH * len(title)
    svg = "{http://www.w3.org/2000/svg}"
    lifelines = [x for x in root.iter(f"{svg}line") if x.get("stroke") == "gray"]
    assert len(lifelines) == 3
    xs = [int(x.get("x1", "0")) for x in lifelines]
    assert xs == sorted(xs)
    assert int(root.get("width", "0")) > xs[-1]  # the last lifeline is inside the picture
    labels = [t for t in texts[4:] if not t[:2].isdigit()]  # not the times
    account = next(x for x in labels if x.startswith("Add ./DMAcc/"))
    assert account.endswith("(201)")
    acl = labels.index(f"Replace ACL {SUBTREE} (200)")
    assert labels.index("BOOTSTRAP_CONFIRMED (200)") < labels.index(account) < acl
    assert acl < labels.index("DELEGATION_PREPARED (200)")
    # the commands' arrows go from DMS-1's lifeline to the device's
    arrows = [x for x in root.iter(f"{svg}line") if x.get("stroke") == "black"]
    assert len(arrows) == len(labels)
    to_device = arrows[labels.index(account)]
    assert (int(to_device.get("x1", "0")), int(to_device.get("x2", "0"))) == (xs[1], xs[0])
    for secret in secrets:
        assert secret not in picture
