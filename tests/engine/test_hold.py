"""Engine._hold: the coordination's hold, with another instance's Busy refused as 503."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from dmdelegation.engine.model import Process, Role, Session
from dmdelegation.engine.refusal import BusyRefused as _BusyRefused
from dmdelegation.engine.refusal import Refused
from dmdelegation.store.interfaces import Busy

SESSION = Session(
    session_id="s1",
    role=Role.DMS1,
    process=Process.DELEGATION_DMACC,
    state="new",
    peer="p",
    device_id="d",
    subtree="./A",
    full=False,
    initiator=Role.DMS1,
)


class Coordination:
    """A hold that records its lock being taken and released, or is busy."""

    def __init__(self, busy: bool = False) -> None:
        self.busy = busy
        self.events: list[str] = []

    @contextmanager
    def hold(self, session_id: str | None) -> Iterator[Session | None]:
        if self.busy:
            raise Busy(f"{session_id} is held by another instance")
        self.events.append(f"lock {session_id}")
        try:
            yield SESSION if session_id == "s1" else None
        finally:
            self.events.append(f"unlock {session_id}")


def test_the_session_is_held_for_the_block() -> None:
    coordination = Coordination()
    with _BusyRefused(coordination, "s1") as session:  # type: ignore[arg-type]
        assert session == SESSION
        assert coordination.events == ["lock s1"]
    assert coordination.events == ["lock s1", "unlock s1"]
    with _BusyRefused(coordination, None) as session:  # type: ignore[arg-type]
        assert session is None


def test_a_busy_hold_is_refused_503() -> None:
    with pytest.raises(Refused) as refused:  # noqa: SIM117
        with _BusyRefused(Coordination(busy=True), "s1"):  # type: ignore[arg-type]
            raise AssertionError("the block must not run")
    assert refused.value.status == 503
    assert "held by another instance" in refused.value.reason


def test_busy_inside_the_block_is_refused_503_and_the_lock_released() -> None:
    coordination = Coordination()
    with pytest.raises(Refused) as refused:  # noqa: SIM117
        with _BusyRefused(coordination, "s1"):  # type: ignore[arg-type]
            raise Busy("the device is held")
    assert refused.value.status == 503
    assert refused.value.reason == "the device is held"
    assert coordination.events == ["lock s1", "unlock s1"]


def test_other_errors_pass_through_and_the_lock_is_released() -> None:
    coordination = Coordination()
    with pytest.raises(KeyError):  # noqa: SIM117
        with _BusyRefused(coordination, "s1"):  # type: ignore[arg-type]
            raise KeyError("x")
    assert coordination.events == ["lock s1", "unlock s1"]
