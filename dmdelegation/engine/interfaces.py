"""The seams of the engine: what a host DM server (or the embedded defaults) provides.

- :class:`IPeerTransport`: how messages reach the other server (HTTPS in the daemon, direct
  calls in tests).
- :class:`IDelegationPolicy`: whether to accept a peer's DELEGATION_REQ, and in which role.
- :class:`IClientChanges`: DMS-1's changes to a DM Client (built on ``IDMClientSession`` and the
  undo journal by default).
- :class:`IDelegatedServer`: DMS-2's duties.

Every method returns a Deferred; the engine puts a timeout on each.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from zope.interface import Interface

from dmdelegation.engine.inputs import PolicyDecided
from dmdelegation.engine.model import Role, Session
from dmdelegation.protocol import DelegationRequest, DMAcc


class PeerError(Exception):
    """The peer answered with an HTTP error status; ``status`` 409 means "not now"."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


class IPeerTransport(Interface):
    """Encoded documents to and from the peer known by its ServerID."""

    def request(peer: str, body: bytes) -> Deferred[bytes]:
        """Send a synchronous request; fires with the peer's answer (``PeerError`` on refusal)."""

    def deliver(peer: str, body: bytes) -> Deferred[None]:
        """Deliver an asynchronous message; fires once the peer acknowledged it (204)."""


class IDelegationPolicy(Interface):
    def role_for(peer: str, request: DelegationRequest) -> Role:
        """Which role this server plays in the delegation ``request`` from ``peer`` asks for:
        ``DMS1`` if the peer asks for one of our devices, ``DMS2`` if it offers one of its."""

    def decide(role: Role, peer: str, request: DelegationRequest) -> Deferred[PolicyDecided]:
        """Accept or refuse a peer's DELEGATION_REQ (``reason_code`` for a refusal)."""


class IClientChanges(Interface):
    """DMS-1's changes to the DM Client of a session, each recorded in the session's undo
    journal before it is made. Failures carry a DM status (``ClientChangeFailed``)."""

    def prepare_dmacc(session: Session, dmacc: DMAcc | None) -> Deferred[None]:
        """Create DMS-2's account (unless ``dmacc`` is None: the client is bootstrapped), grant
        DMS-2 the subtree, set NoAutoInitialSession, and delete our own account if full."""

    def add_bootstrap_entry(session: Session, url: str) -> Deferred[None]:
        """Add a Bootstrap Config entry pointing the client at DMS-2's bootstrap server."""

    def grant(session: Session) -> Deferred[None]:
        """After the client bootstrapped from DMS-2: grant the subtree, NoAutoInitialSession,
        and delete our own account if full."""

    def undo(session: Session) -> Deferred[None]:
        """Put the client back exactly as it was before the session (also after a restart)."""

    def commit(session: Session) -> Deferred[None]:
        """The session's changes are final: keep what its revocation will need (no credential),
        and forget its undo journal."""

    def remove_delegate(session: Session) -> Deferred[None]:
        """Remove every trace of ``session.peer`` from the client: its account, its rights,
        its Bootstrap Config entry, leaving the client as it was before the delegation.
        Resumable: a partial removal is completed."""


class ClientChangeFailed(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


class IDelegatedServer(Interface):
    """DMS-2's duties towards a device delegated to it."""

    def bootstrap_data(session: Session) -> Deferred[DMAcc | None]:
        """The DMAcc DMS-1 is to create (with credentials made for this device), or ``None``
        if this server has already bootstrapped the client."""

    def bootstrap_url(session: Session) -> Deferred[str]:
        """This server's Bootstrap Server URL for the device."""

    def await_client_bootstrap(session: Session) -> Deferred[None]:
        """Fires when the client has bootstrapped from our Bootstrap Server."""

    def open_dm_session(session: Session) -> Deferred[None]:
        """Open a DM session with the client and check the granted subtree can be managed."""

    def stop_activity(session: Session) -> Deferred[None]:
        """Stop all management activity on the device (revocation)."""

    def forget_device(session: Session) -> Deferred[None]:
        """Drop everything held about the device's delegated subtree."""
