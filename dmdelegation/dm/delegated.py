"""DMS-2's duties (`IDelegatedServer`) towards a real DM Client, over DM sessions: the account
DMS-1 is asked to create carries fresh credentials (and nonces) that this server enrols in its
own device list, and "opening a DM session" is a real one: a Get of the granted subtree queued
for the device, which the notification transport (or the device's own schedule) brings in.

The Bootstrap Server URL approach needs a bootstrap server (which provisions the device and
tells this server when it did, through `bootstrapped`): the daemon's is `dm.bootstrap`, whose
URLs carry a single-use token issued here (``tokens``); a host may bring its own. Without one,
the wait never ends and the engine's timeout fails the delegation.
"""

from __future__ import annotations

import secrets
from typing import Protocol

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from dmdelegation.dm.devices import Credentials, DMDevice, IDeviceEnrolment, IDeviceList
from dmdelegation.dm.server import DMSessionServer
from dmdelegation.engine.interfaces import IDelegatedServer
from dmdelegation.engine.model import Session
from dmdelegation.protocol import AuthType, DMAcc
from dmdelegation.protocol.dmacc import delegated_account
from dmdelegation.tree import URI, Status

log = Logger()


class DutyError(Exception):
    pass


class BootstrapTokens(Protocol):
    """Where single-use bootstrap tokens are kept (`dmdelegation.dm.enrolment.EnrolmentStore`)."""

    def issue_token(self, device_id: str, session_id: str, expires_at: float) -> str: ...


@implementer(IDelegatedServer)
class DMDelegatedServer:
    def __init__(
        self,
        server_id: str,
        sessions: DMSessionServer,
        enrolment: IDeviceEnrolment,
        *,
        dm_url: str,
        bootstrap_url: str = "",
        auth_type: AuthType = AuthType.HMAC,
        atomic: bool = True,
        tokens: BootstrapTokens | None = None,
        clock: IReactorTime | None = None,
        token_lifetime: float = 3600.0,
    ) -> None:
        self.server_id = server_id
        self.sessions = sessions
        self.enrolment = enrolment
        self.dm_url = dm_url
        self.bootstrap_url_value = bootstrap_url
        self.auth_type = auth_type
        self.atomic = atomic
        self.managed: dict[str, set[str]] = {}
        self.tokens = tokens
        self.clock = clock
        self.token_lifetime = token_lifetime
        self._bootstraps: dict[str, Deferred[None]] = {}
        self._bootstrapped: set[str] = set()  # bootstrapped before anyone waited

    @property
    def devices(self) -> IDeviceList:
        return self.sessions.devices

    def new_account(self, device_id: str) -> tuple[DMAcc, DMDevice]:
        """An account of ours for the device with fresh credentials both ways, and the entry
        that lets the device in with them (not enrolled yet)."""
        server = Credentials(
            self.auth_type, self.server_id, secrets.token_urlsafe(24), secrets.token_bytes(16)
        )
        client = Credentials(
            self.auth_type, device_id, secrets.token_urlsafe(24), secrets.token_bytes(16)
        )
        account = delegated_account(
            self.server_id,
            self.dm_url,
            self.auth_type,
            (server.name, server.secret, server.nonce),
            (client.name, client.secret, client.nonce),
        )
        return account, DMDevice(device_id, client, server, atomic=self.atomic)

    def bootstrap_data(self, session: Session) -> Deferred[DMAcc | None]:
        if self.devices.device(session.device_id) is not None:
            return succeed(None)  # we hold an account on the device already
        account, device = self.new_account(session.device_id)
        self.enrolment.add(device)
        return succeed(account)

    def bootstrap_url(self, session: Session) -> Deferred[str]:
        """The configured URL; with ``tokens``, that URL ``/`` a fresh single-use token bound to
        the device and the session, expiring after ``token_lifetime`` seconds."""
        if self.tokens is None or self.clock is None:
            return succeed(self.bootstrap_url_value)
        expires_at = self.clock.seconds() + self.token_lifetime
        token = self.tokens.issue_token(session.device_id, session.session_id, expires_at)
        return succeed(f"{self.bootstrap_url_value.rstrip('/')}/{token}")

    def await_client_bootstrap(self, session: Session) -> Deferred[None]:
        """Fires when the host's bootstrap server calls `bootstrapped` for the device."""

        if session.device_id in self._bootstrapped:
            self._bootstrapped.discard(session.device_id)
            return succeed(None)

        def cancel(_: Deferred[None]) -> None:
            self._bootstraps.pop(session.device_id, None)

        d: Deferred[None] = Deferred(cancel)
        self._bootstraps[session.device_id] = d
        return d

    def bootstrapped(self, device: DMDevice) -> None:
        """The host's bootstrap server provisioned ``device`` with our account."""
        self.enrolment.add(device)
        waiting = self._bootstraps.pop(device.device_id, None)
        if waiting is not None:
            waiting.callback(None)
        else:
            self._bootstrapped.add(device.device_id)

    def open_dm_session(self, session: Session) -> Deferred[None]:
        client = self.sessions.session_for(session.device_id)

        async def run() -> None:
            result = await client.get(URI.parse(session.subtree))
            if result.status is not Status.OK:
                raise DutyError(
                    f"DM session with {session.device_id}: Get {session.subtree} answered "
                    f"{int(result.status)}"
                )
            self.managed.setdefault(session.device_id, set()).add(session.subtree)

        return Deferred.fromCoroutine(run())

    def stop_activity(self, session: Session) -> Deferred[None]:
        dropped = self.sessions.drop_queued(session.device_id)
        log.info(
            "stopped activity on {device_id} ({dropped} queued commands dropped)",
            device_id=session.device_id,
            dropped=dropped,
        )
        return succeed(None)

    def forget_device(self, session: Session) -> Deferred[None]:
        subtrees = self.managed.get(session.device_id, set())
        subtrees.discard(session.subtree)
        if not subtrees:
            self.managed.pop(session.device_id, None)
            self.enrolment.remove(session.device_id)
        return succeed(None)
