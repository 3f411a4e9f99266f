"""One PostgreSQL connection of a store, opened again after it was lost.

A connection is *lost* when psycopg marks it broken (``Connection.broken``): the server
restarted, terminated the backend (``pg_terminate_backend``), or the network dropped. A
connection the store closed itself is not lost: it stays closed. When a call finds the
connection lost, the next use opens a new one with the same URL and the same settings as the
first (autocommit, the row factory; everything else, ``search_path`` say, is in the URL).
Whatever the old backend held is gone with it: the open transaction (rolled back by the
server, with its transaction-level advisory locks), and any session state.

Who may retry what is the store's decision; this module offers :meth:`Reconnecting.read`, a
call run once more on the new connection when the first connection was lost under it: for
reads, and for writes that change nothing when run twice. Anything else (a transaction that was
in progress, a write whose commit may or may not have happened) fails, and the *next* call runs
on the new connection.

A database that cannot be reached makes every call fail with :class:`StoreUnavailable`, which
names the store and shows its URL without the password (:func:`~dmdelegation.store.location.
shown`). The outage is logged once (an error when reopening first fails, an info line when the
connection is back), not once per call, and a new connection is tried at most once per back-off
delay (``FIRST_DELAY``, doubled after every failed attempt up to ``MAX_DELAY``), measured with
the store's clock (``time.monotonic`` unless a test gives another): in between, calls fail at
once without touching the network.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar
from urllib.parse import urlsplit

import psycopg
from psycopg.rows import RowFactory
from twisted.logger import Logger

from dmdelegation.store.interfaces import StoreUnavailable
from dmdelegation.store.location import shown

__all__ = ["FIRST_DELAY", "MAX_DELAY", "Reconnecting", "StoreUnavailable"]

log = Logger()

Row = TypeVar("Row")
T = TypeVar("T")

FIRST_DELAY = 0.5  # seconds before a second attempt to reach a database that refused one
MAX_DELAY = 30.0  # the longest wait between two attempts


class Reconnecting(Generic[Row]):
    """The connection of the store named ``name`` (as the logs and errors name it) to ``url``;
    the first is opened here, and a failure to open it raised as psycopg raises it."""

    def __init__(
        self,
        url: str,
        *,
        name: str,
        row_factory: RowFactory[Row],
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.url = url
        self.name = name
        self.row_factory = row_factory
        self.clock = clock or time.monotonic
        self.reopened = 0  # connections opened after a loss, so far
        self._delay = 0.0  # the wait after the last failed attempt (0: none failed)
        self._next_attempt = 0.0
        self._reason = ""  # why the last attempt failed
        self._outage = False  # the connection was found lost and is not open again yet
        self._loss = ""  # what the call that found it lost was told
        self.conn: psycopg.Connection[Row] = self._open()

    def _open(self) -> psycopg.Connection[Row]:
        return psycopg.connect(self.url, autocommit=True, row_factory=self.row_factory)

    @property
    def where(self) -> str:
        return f"{self.name} at {shown(self.url)}"

    def lost(self, error: BaseException) -> bool:
        """Whether ``error`` (raised by a call on the connection) came with the connection's
        loss."""
        if isinstance(error, psycopg.Error) and self.conn.broken:
            if not self._outage:
                self._loss = self._clean(error)
            return True
        return False

    def live(self) -> psycopg.Connection[Row]:
        """The connection, a new one if the last was lost; :class:`StoreUnavailable` if it
        cannot be opened, or if the back-off delay since the last failed attempt has not
        passed (then nothing is tried)."""
        if not self.conn.broken:
            return self.conn
        now = self.clock()
        if not self._outage:
            self._outage = True
            log.warn(
                "{where}: connection lost ({reason}); opening a new one",
                where=self.where,
                reason=self._loss or "broken",
            )
        elif now < self._next_attempt:
            raise self._unavailable(self._next_attempt - now)
        try:
            conn = self._open()
        except psycopg.Error as e:
            self._reason = self._clean(e)
            failed_before = self._delay > 0
            self._delay = min(self._delay * 2, MAX_DELAY) if failed_before else FIRST_DELAY
            self._next_attempt = now + self._delay
            if not failed_before:
                log.error(
                    "{where}: cannot reach the database ({reason}); its calls fail until it "
                    "can, tried again after {first:g} s, the wait doubling up to {most:g} s",
                    where=self.where,
                    reason=self._reason,
                    first=FIRST_DELAY,
                    most=MAX_DELAY,
                )
            raise self._unavailable(self._delay) from None
        self.conn.close()  # the lost one's resources, at once
        self.conn = conn
        self.reopened += 1
        if self._delay:
            log.info("{where}: connected again", where=self.where)
        self._outage, self._loss, self._delay, self._next_attempt = False, "", 0.0, 0.0
        return conn

    def read(self, call: Callable[[psycopg.Connection[Row]], T]) -> T:
        """``call`` on the connection; run once more on a new connection if the connection was
        lost under it (only for calls that may run twice: a read, or a write that changes
        nothing the second time)."""
        conn = self.live()
        try:
            return call(conn)
        except psycopg.Error as e:
            if not self.lost(e):
                raise
        return call(self.live())

    def _unavailable(self, wait: float) -> StoreUnavailable:
        return StoreUnavailable(
            f"{self.where}: the database cannot be reached ({self._reason}); "
            f"next attempt in {wait:.1f} s"
        )

    def _clean(self, error: BaseException) -> str:
        """The first line of ``error``, never with the URL's password."""
        text = str(error).strip().splitlines()
        reason = text[0] if text else type(error).__name__
        password = urlsplit(self.url).password
        return reason.replace(password, "***") if password else reason
