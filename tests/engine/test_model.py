"""Session.to is attrs.evolve with the state first: every field carried over or changed."""

from __future__ import annotations

import attrs
import pytest

from dmdelegation.engine.model import Outcome, Process, Role, Session

BASE = Session(
    session_id="a" * 32,
    role=Role.DMS1,
    process=Process.DELEGATION_DMACC,
    state="new",
    peer="dms2.example",
    device_id="IMEI:1",
    subtree="./Vendor",
    full=False,
    initiator=Role.DMS2,
    device_man="Acme",
    device_mod="Phone",
    wait="peer",
    deadline=12.5,
)

CHANGED: dict[str, object] = {
    "session_id": "b" * 32,
    "role": Role.DMS2,
    "process": Process.REVOCATION_ASKED,
    "peer": "other.example",
    "device_id": "IMEI:2",
    "subtree": "./Other",
    "full": True,
    "initiator": Role.DMS1,
    "device_man": "Other",
    "device_mod": "Model",
    "touched_client": True,
    "aborted": True,
    "wait": None,
    "deadline": None,
    "notify": True,
    "reason_code": 500,
    "outcome": Outcome.FAILED,
    "reason": "because",
}


def test_every_field_but_the_state_is_named_here() -> None:
    assert set(CHANGED) == {a.name for a in attrs.fields(Session)} - {"state"}


@pytest.mark.parametrize("name", sorted(CHANGED))
def test_to_changes_one_field_and_keeps_the_others(name: str) -> None:
    moved = BASE.to("next", **{name: CHANGED[name]})
    expected = attrs.evolve(BASE, state="next", **{name: CHANGED[name]})  # type: ignore[arg-type]
    assert moved == expected
    assert getattr(moved, name) == CHANGED[name]
    assert moved.state == "next"


def test_to_with_no_change_but_the_state() -> None:
    assert BASE.to("next") == attrs.evolve(BASE, state="next")
    assert BASE.to(BASE.state) == BASE


def test_to_refuses_an_unknown_field() -> None:
    with pytest.raises(TypeError):
        BASE.to("next", colour="blue")
