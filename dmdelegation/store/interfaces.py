"""What the engine asks of its durable state, and of the other instances sharing it.

:class:`ISessionStore` is the store (SQLite in one file, or PostgreSQL shared by several
instances). :class:`ICoordination` is how one engine stays out of the way of the other instances
of the same deployment: it locks a session and reads its state fresh before an input is applied,
says whether this instance is the one to fire a session's timer, and takes over the work of an
instance that died. With one instance (SQLite) it does nothing (:class:`SingleInstance`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager

from attrs import field, frozen
from zope.interface import Attribute, Interface

from dmdelegation.core.model import Delegation, Role, Session
from dmdelegation.store.audit import AuditEvent, Expiry, Record


@frozen
class OutboxItem:
    id: int
    session_id: str
    peer: str
    body: bytes
    created: float


@frozen
class LogLine:
    session_id: str
    direction: str  # "in" or "out"
    root: str
    document: str  # redacted
    at: float | None = None  # when read back: the time of the commit that wrote it


@frozen
class DeviceCommand:
    """One DM command this server sent a device during a process: never a value, only what
    was asked of which node and what the device answered (None: no answer came)."""

    session_id: str
    command: str  # "Add", "Replace", "Delete", "Replace ACL", "Get", "Get ACL"
    uri: str
    status: int | None
    at: float
    after: int = 0  # how many of the session's message log lines came before it (when read)


@frozen
class Commit:
    """Everything one transition makes durable at once."""

    session: Session
    created: bool = False
    outbox: Sequence[tuple[str, bytes]] = ()
    cancel_outbox: bool = False
    inbound_root: str | None = None
    response: tuple[str, bytes] | None = None  # (inbound root, synchronous answer)
    log: Sequence[LogLine] = ()
    register: Delegation | None = None
    unregister: bool = False
    records: Sequence[Record] = ()  # the audit trail's events, a timed delegation's expiry
    outbox_ids: list[int] = field(factory=list)


class Busy(Exception):
    """Another instance is applying an input to this session (or starting a process on this
    device) right now; try again shortly. Nothing was changed."""


class StoreUnavailable(Exception):
    """The store's database cannot be reached (its connection was lost and could not be opened
    again yet); try again later. The call changed nothing."""


@frozen
class Adopted:
    """What :meth:`ICoordination.tick` took over from instances found dead."""

    sessions: Sequence[Session] = ()
    outbox: Sequence[int] = ()


class ICoordination(Interface):
    """Cross-instance coordination, called by the engine at a few points."""

    instance_id: str = Attribute("this instance's name in the shared database")
    shared: bool = Attribute("whether other instances may share the state (False: no-op)")
    interval: float = Attribute("seconds between two calls of tick (0: never called)")

    def hold(session_id: str | None) -> AbstractContextManager[Session | None]:
        """Lock the session against the other instances until its transition is committed or
        the block is left, and yield its current state read from the database (``None``: no
        such session yet; ``session_id`` ``None``: a session still to be named, nothing to
        lock). Raises :class:`Busy` when another instance holds it. Re-entrant."""

    def lock_device(device_id: str) -> None:
        """Inside :meth:`hold`: also lock the device, while a process starts on it (one
        process per subtree). Raises :class:`Busy` when another instance holds it."""

    def owns(session_id: str) -> bool:
        """Inside :meth:`hold`: whether this instance fires the session's timer and resumes it
        (the instance that committed its last transition, or adopted it)."""

    def resumable() -> Iterator[Session]:
        """At start: the open sessions this instance is to reload and resume."""

    def tick(now: float) -> Adopted:
        """Renew this instance's lease; adopt the sessions and outbox of instances whose lease
        has run out (each is adopted by exactly one survivor)."""


# The ended sessions that :meth:`ISessionStore.prune` forgets ({p}: the placeholder of the
# dialect's one parameter, the time before which they ended).
PRUNABLE = (
    "SELECT session_id FROM sessions WHERE outcome IS NOT NULL AND updated < {p} "
    "AND session_id NOT IN (SELECT session_id FROM delegations) "
    "AND session_id NOT IN (SELECT session_id FROM outbox)"
)


class ISessionStore(Interface):
    """The engine's durable state: sessions, outbox, inbox (replays), message log, registry."""

    def close() -> None:
        """Write what is pending and close."""

    def get(session_id: str) -> Session | None:
        """The session, or ``None``."""

    def open_sessions() -> Iterator[Session]:
        """Every open session."""

    def open_on(device_id: str) -> list[Session]:
        """The open sessions on one device."""

    def sessions(device_id: str | None = None) -> list[Session]:
        """Every session (of one device), oldest first."""

    def count_open() -> int:
        """How many sessions are open."""

    def stage(c: Commit, now: float) -> None:
        """Take one transition into the next :meth:`flush` (group commit); the engine's reads
        see it at once."""

    staged: int = Attribute("how many commits are staged, waiting for the next flush")

    def flush() -> list[Commit]:
        """Write every staged commit, and the delivery acknowledgements, in one transaction;
        the commits written, each with its ``outbox_ids``. If it fails, none is written and the
        error is raised."""

    def commit(c: Commit, now: float) -> Commit:
        """Stage ``c`` and flush: durable now (with anything staged before it)."""

    def seen(session_id: str, root: str) -> object:
        """``NO_RESPONSE`` if this inbound message was never taken; else its stored answer
        (``None`` while none is stored yet)."""

    def outbox() -> list[OutboxItem]:
        """The messages this instance is to deliver, oldest first."""

    def outbox_item(item_id: int) -> OutboxItem | None:
        """One message this instance is to deliver; ``None`` if delivered, cancelled, or
        another instance's."""

    def delivered(item_id: int) -> None:
        """The message reached its peer."""

    def delegations(device_id: str | None = None, role: Role | None = None) -> list[Delegation]:
        """The registry of delegations in force."""

    def count_open_by_state() -> dict[tuple[str, str, str], int]:
        """Open sessions by (role, process, state)."""

    def audit_events(device_id: str | None = None) -> list[AuditEvent]:
        """The audit trail (of one device), oldest first."""

    def expiries(device_id: str | None = None) -> list[Expiry]:
        """The timed delegations' expiries, soonest first."""

    def record_command(command: DeviceCommand) -> None:
        """Keep ``command`` in the session's record of device commands, written with the next
        :meth:`flush` (the group commit of the engine's reactor turn)."""

    def device_commands(session_id: str) -> list[DeviceCommand]:
        """The DM commands recorded for a session, in the order they were sent."""

    def message_log(session_id: str) -> list[LogLine]:
        """The redacted messages of one session, in order."""

    def prune(before: float) -> int:
        """Forget the sessions that ended before ``before`` (their message logs and inbox
        with them), but those a delegation in force or an undelivered message still names;
        the number forgotten (``store.retention_days``)."""

    def coordination() -> ICoordination:
        """How an engine on this store coordinates with other instances."""

    def schema_version() -> int:
        """The last migration applied."""
