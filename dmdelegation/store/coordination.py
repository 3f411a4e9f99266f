"""Coordination for a store no other instance shares: every call is a plain read or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from zope.interface import implementer

from dmdelegation.engine.model import Session
from dmdelegation.store.interfaces import Adopted, ICoordination

if TYPE_CHECKING:
    from dmdelegation.store.interfaces import ISessionStore


@implementer(ICoordination)
class SingleInstance:
    """One engine alone on its store (SQLite): nothing to lock, nobody to take over from."""

    instance_id = "single"
    shared = False
    interval = 0.0

    def __init__(self, store: ISessionStore) -> None:
        self.store = store

    @contextmanager
    def hold(self, session_id: str | None) -> Iterator[Session | None]:
        yield None if session_id is None else self.store.get(session_id)

    def lock_device(self, device_id: str) -> None:
        pass

    def owns(self, session_id: str) -> bool:
        return True

    def resumable(self) -> Iterator[Session]:
        return self.store.open_sessions()

    def tick(self, now: float) -> Adopted:
        return Adopted()
