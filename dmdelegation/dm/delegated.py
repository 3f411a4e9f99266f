"""DMS-2's duties (`IDelegatedServer`) towards a real DM Client, over DM sessions: the account
DMS-1 is asked to create carries fresh credentials (and nonces) that this server enrols in its
own device list, and "opening a DM session" is a real one: a Get of the granted subtree queued
for the device, which the notification transport (or the device's own schedule) brings in.

The Bootstrap Server URL approach needs the host's bootstrap server (which provisions the device
and tells this server when it did, through `bootstrapped`); without it, the wait never ends and
the engine's timeout fails the delegation.
"""

from __future__ import annotations

import secrets

from twisted.internet.defer import Deferred, succeed
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
    ) -> None:
        self.server_id = server_id
        self.sessions = sessions
        self.enrolment = enrolment
        self.dm_url = dm_url
        self.bootstrap_url_value = bootstrap_url
        self.auth_type = auth_type
        self.atomic = atomic
        self.managed: dict[str, set[str]] = {}
        self._bootstraps: dict[str, Deferred[None]] = {}

    @property
    def devices(self) -> IDeviceList:
        return self.sessions.devices

    def bootstrap_data(self, session: Session) -> Deferred[DMAcc | None]:
        if self.devices.device(session.device_id) is not None:
            return succeed(None)  # we hold an account on the device already
        server = Credentials(
            self.auth_type, self.server_id, secrets.token_urlsafe(24), secrets.token_bytes(16)
        )
        client = Credentials(
            self.auth_type, session.device_id, secrets.token_urlsafe(24), secrets.token_bytes(16)
        )
        self.enrolment.add(DMDevice(session.device_id, client, server, atomic=self.atomic))
        return succeed(
            delegated_account(
                self.server_id,
                self.dm_url,
                self.auth_type,
                (server.name, server.secret, server.nonce),
                (client.name, client.secret, client.nonce),
            )
        )

    def bootstrap_url(self, session: Session) -> Deferred[str]:
        return succeed(self.bootstrap_url_value)

    def await_client_bootstrap(self, session: Session) -> Deferred[None]:
        """Fires when the host's bootstrap server calls `bootstrapped` for the device."""

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
