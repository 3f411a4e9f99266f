"""Coordination for a store no other instance shares: every call is a plain read or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING

from zope.interface import implementer

from dmdelegation.core.model import Session
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

    def hold(self, session_id: str | None) -> AbstractContextManager[Session | None]:
        return _Held(None if session_id is None else self.store.get(session_id))

    def lock_device(self, device_id: str) -> None:
        pass

    def owns(self, session_id: str) -> bool:
        return True

    def resumable(self) -> Iterator[Session]:
        return self.store.open_sessions()

    def tick(self, now: float) -> Adopted:
        return Adopted()


class _Held:
    """What :meth:`SingleInstance.hold` yields: the session as read, no lock to release (a
    plain class: the engine enters one for every input, and a generator costs four times as
    much)."""

    __slots__ = ("session",)

    def __init__(self, session: Session | None) -> None:
        self.session = session

    def __enter__(self) -> Session | None:
        return self.session

    def __exit__(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None
