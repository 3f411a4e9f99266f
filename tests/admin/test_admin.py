"""The admin API in memory (treq's StubTreq), over two engines back to back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from treq.testing import StubTreq

from dmdelegation.engine.model import Outcome
from dmdelegation.web.admin import Admin
from tests.engine.harness import DEVICE, DMS1, DMS2, SUBTREE, Pair, fired

BASE = "http://admin.invalid"


class Client:
    def __init__(self, pair: Pair, engine_side: str = DMS1) -> None:
        engine = pair.dms1 if engine_side == DMS1 else pair.dms2
        self.pair = pair
        self.stub: Any = StubTreq(Admin(engine, pair.clients, pair.clock))

    def call(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        d = self.stub.request(method, BASE + path, data=data)
        self.stub.flush()
        self.pair.clock.advance(0)  # the reactor turn ends: the group commit runs
        self.stub.flush()
        response = fired(d)
        content = self.stub.content(response)
        self.stub.flush()
        return response.code, json.loads(fired(content))


def test_delegate_status_and_revoke(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    admin = Client(pair)
    code, session = admin.call(
        "POST", "/delegate", {"device": DEVICE, "to": DMS2, "subtree": SUBTREE}
    )
    assert code == 200
    assert session["process"] == "delegation-dmacc"
    pair.settle()
    code, status = admin.call("GET", f"/status?device={DEVICE}")
    assert code == 200
    assert [(d["peer"], d["subtree"], d["role"]) for d in status["delegations"]] == [
        (DMS2, SUBTREE, "dms1")
    ]
    assert status["open_sessions"] == []
    code, detail = admin.call("GET", f"/sessions/{session['session']}")
    assert detail["outcome"] == "delegated"
    assert [m["message"] for m in detail["messages"]][:2] == ["DELEGATION_REQ", "DELEGATION_RESP"]
    request = detail["messages"][0]["document"]
    assert "<deviceMan>Acme</deviceMan><deviceMod>Phone 3</deviceMod>" in request  # DevInfo
    assert all(
        "AAuthSecret>***<" in m["document"] or "AAuthSecret" not in m["document"]
        for m in detail["messages"]
    )
    code, revocation = admin.call(
        "POST", "/revoke", {"device": DEVICE, "subtree": SUBTREE, "mode": "forced"}
    )
    assert code == 200
    pair.settle()
    assert pair.dms1.store.get(revocation["session"]).outcome is Outcome.REVOKED  # type: ignore[union-attr]


def test_tree_masks_secrets(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    admin = Client(pair)
    code, tree = admin.call("GET", f"/tree?device={DEVICE}&uri=./DMAcc")
    assert code == 200
    text = "\n".join(tree["lines"])
    assert "AAuthSecret" in text
    assert "s1" not in text.replace("dms1", "")  # the owner's secret "s1" is masked


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "fragment"),
    [
        ("POST", "/delegate", {"device": DEVICE}, 400, "to"),
        ("POST", "/delegate", {"device": DEVICE, "to": DMS2, "subtree": "Vendor"}, 400, "subtree"),
        ("POST", "/delegate", {"device": DEVICE, "to": DMS2, "method": "smoke"}, 400, "method"),
        ("POST", "/revoke", {"device": DEVICE, "mode": "gentle"}, 400, "mode"),
        ("POST", "/revoke", {"device": DEVICE, "mode": "asked"}, 409, "not delegated"),
        ("GET", "/sessions/nope", None, 404, "unknown session"),
        ("GET", "/delegate", None, 405, "POST"),
        ("POST", "/status", {}, 405, "GET"),
        ("GET", "/tree?device=IMEI:0", None, 404, "IMEI:0"),
        ("POST", "/abort", {"session": "nope"}, 404, "unknown session"),
    ],
)
def test_bad_requests(
    tmp_path: Path, method: str, path: str, body: Any, status: int, fragment: str
) -> None:
    pair = Pair(tmp_path)
    before = pair.dms1.store.sessions()
    code, answer = Client(pair).call(method, path, body)
    assert code == status
    assert fragment in answer["error"]
    assert pair.dms1.store.sessions() == before


def test_not_json_is_400(tmp_path: Path) -> None:
    code, answer = Client(Pair(tmp_path)).call("POST", "/delegate", raw=b"device=x")
    assert code == 400
    assert "not JSON" in answer["error"]


def test_wait_answers_when_the_process_ends(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    admin = Client(pair)
    _, session = admin.call("POST", "/delegate", {"device": DEVICE, "to": DMS2, "subtree": SUBTREE})
    waiting = admin.stub.request("GET", f"{BASE}/sessions/{session['session']}/wait?timeout=30")
    admin.stub.flush()
    pair.settle()
    admin.stub.flush()
    response = fired(waiting)
    content = admin.stub.content(response)
    admin.stub.flush()
    assert json.loads(fired(content))["outcome"] == "delegated"


def test_device_add(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    admin = Client(pair)
    provision = b"""
[devinfo]
DevId = "IMEI:111111111111111"
Man = "Acme"
Mod = "Tab"

[owner]
ServerID = "dms1.operator.example"

[[owner.AppAddr]]
Addr = "https://dms1.operator.example/dm"

[[owner.AppAuth]]
AAuthLevel = "SRVCRED"
AAuthType = "HMAC"
AAuthSecret = "x"
"""
    code, answer = admin.call("POST", "/devices", raw=provision)
    assert (code, answer) == (200, {"device": "IMEI:111111111111111"}), answer
    code, answer = admin.call("POST", "/devices", raw=provision)
    assert code == 409
    code, answer = admin.call("POST", "/devices", raw=b"[devinfo]\n")
    assert code == 400
    code, listed = admin.call("GET", "/devices")
    assert "IMEI:111111111111111" in listed["devices"]
