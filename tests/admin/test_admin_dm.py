"""``POST /dm``: one DM command on a device as this server, through its IDMClientSession."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from zope.interface import implementer
from zope.interface.verify import verifyObject

from dmdelegation.client.interfaces import IDMClientSession
from dmdelegation.tree.uri import URI
from dmdelegation.web.admin import Admin
from tests.engine.harness import DEVICE, DMS1, DMS2, SUBTREE, Pair, fired

BASE = "http://admin.invalid"


def call(pair: Pair, stub: Any, body: Any, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else json.dumps(body).encode()
    d = stub.request("POST", BASE + "/dm", data=data)
    stub.flush()
    pair.clock.advance(0)
    stub.flush()
    response = fired(d)
    content = stub.content(response)
    stub.flush()
    return response.code, json.loads(fired(content))


def admin(pair: Pair, server_id: str) -> Any:
    engine = pair.dms1 if server_id == DMS1 else pair.dms2
    return StubTreq(
        Admin(
            engine,
            pair.clients,
            pair.clock,
            session_for=lambda device: pair.clients.session(device, server_id),
        )
    )


def test_delegated_server_acts_inside_its_subtree_and_not_outside(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    dms2 = admin(pair, DMS2)
    inside = {"device": DEVICE, "command": "replace", "uri": f"{SUBTREE}/VPN/Server"}
    code, answer = call(pair, dms2, {**inside, "value": "vpn2.example"})
    assert (code, answer["status"]) == (200, 425)  # not delegated yet
    pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.settle()
    code, answer = call(pair, dms2, {**inside, "value": "vpn2.example"})
    assert (code, answer["status"]) == (200, 200)
    code, answer = call(pair, dms2, {"device": DEVICE, "command": "get", "uri": inside["uri"]})
    assert (code, answer["status"], answer["value"]) == (200, 200, "vpn2.example")
    outside = {"device": DEVICE, "command": "replace", "uri": "./Vendor/Radio/Band"}
    code, answer = call(pair, dms2, {**outside, "value": "lte"})
    assert (code, answer["status"]) == (200, 425)
    band = pair.clients.storage(DEVICE).node(URI.parse("./Vendor/Radio/Band"))
    assert band is not None
    assert band.value.as_text() == "auto"


def test_interior_node_lists_children_and_secrets_are_masked(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    dms1 = admin(pair, DMS1)
    code, answer = call(pair, dms1, {"device": DEVICE, "command": "get", "uri": "./DMAcc"})
    assert code == 200
    assert answer["children"]
    account = f"./DMAcc/{answer['children'][0]}/AppAuth"
    code, auths = call(pair, dms1, {"device": DEVICE, "command": "get", "uri": account})
    secret = f"{account}/{auths['children'][0]}/AAuthSecret"
    code, answer = call(pair, dms1, {"device": DEVICE, "command": "get", "uri": secret})
    assert (code, answer["status"], answer["value"]) == (200, 200, "********")


def test_bad_requests_are_refused_and_change_nothing(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    dms1 = admin(pair, DMS1)
    before = pair.tree()
    for body, reason in (
        ({"device": DEVICE, "command": "exec", "uri": "."}, "command: one of"),
        ({"device": DEVICE, "command": "get", "uri": "Vendor/../x"}, "uri:"),
        ({"device": DEVICE, "command": "replace", "uri": "./Vendor/Radio/Band"}, "value:"),
        ({"device": DEVICE, "command": "get", "uri": ".", "value": "x"}, "value: not taken"),
        ({"command": "get", "uri": "."}, "device:"),
        ({"device": DEVICE, "command": "get", "uri": ".", "timeout": -1}, "timeout:"),
    ):
        code, answer = call(pair, dms1, body)
        assert (code, answer["error"][: len(reason)]) == (400, reason), answer
    code, answer = call(pair, dms1, None, raw=b"[1]")
    assert (code, answer["error"]) == (400, "expected a JSON object")
    assert pair.tree() == before


def test_unknown_device_is_404(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    code, answer = call(
        pair, admin(pair, DMS1), {"device": "IMEI:000", "command": "get", "uri": "."}
    )
    assert code == 404
    assert "IMEI:000" in answer["error"]


@implementer(IDMClientSession)
class Silent:
    """A device that never comes: every command waits; cancelling withdraws it."""

    device_id = DEVICE
    server_id = DMS1

    def __init__(self) -> None:
        self.withdrawn = 0

    def _wait(self, *_: object) -> Deferred[Any]:
        def cancel(_: Deferred[Any]) -> None:
            self.withdrawn += 1

        return Deferred(cancel)

    get = add = replace = delete = get_acl = replace_acl = _wait


def test_a_device_that_does_not_come_is_504_and_the_command_withdrawn(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    silent = Silent()
    verifyObject(IDMClientSession, silent)
    stub: Any = StubTreq(Admin(pair.dms1, pair.clients, pair.clock, session_for=lambda d: silent))
    body = {"device": DEVICE, "command": "get", "uri": ".", "timeout": 10}
    d = stub.request("POST", BASE + "/dm", data=json.dumps(body))
    stub.flush()
    pair.clock.advance(9)
    assert silent.withdrawn == 0
    pair.clock.advance(1)
    stub.flush()
    stub_response = fired(d)
    assert stub_response.code == 504
    assert silent.withdrawn == 1
    body = json.loads(fired(stub.content(stub_response)))
    assert body["error"] == "the device did not answer within 10 s"


def test_an_engine_without_devices_answers_404(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    stub = StubTreq(Admin(pair.dms1, pair.clients, pair.clock))
    code, _answer = call(pair, stub, {"device": DEVICE, "command": "get", "uri": "."})
    assert code == 404
