"""The ``[dm]`` section of the daemon: the DM session endpoint, its device list (the configured
file, if any, and DMS-2's enrolments), the `IDMClientSession` of each device (a DM session for a
device of the list, the embedded store's for the others), DMS-2's duties over DM sessions with
its bootstrap server, and the lab notification transport."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from twisted.internet.defer import Deferred
from twisted.web.server import Site
from zope.interface import implementer

from dmdelegation.client.interfaces import IDMClientSession
from dmdelegation.daemon.config import Config, ConfigError
from dmdelegation.dm.bootstrap import BootstrapResource, BootstrapServer, Routes
from dmdelegation.dm.delegated import DMDelegatedServer
from dmdelegation.dm.device_file import open_device_list
from dmdelegation.dm.enrolment import ENROLMENT_FILE, DeviceLists, EnrolmentStore
from dmdelegation.dm.lab_notify import LabHTTPNotifier
from dmdelegation.dm.resource import DMSessionResource
from dmdelegation.dm.server import DMSessionServer
from dmdelegation.engine.client_changes import SessionFor
from dmdelegation.engine.interfaces import IDelegatedServer
from dmdelegation.engine.model import Session
from dmdelegation.protocol import DMAcc
from dmdelegation.web.delegation import make_site


class DMEndpoint:
    def __init__(self, config: Config, reactor: Any) -> None:
        assert config.dm is not None
        self.config = config.dm
        self.reactor = reactor
        try:
            self.configured = open_device_list(
                config.dm.devices,
                config.state_dir / "dm-nonces.sqlite3",
                durability=config.durability,
            )
        except ValueError as e:
            raise ConfigError(f"dm.devices: {e}") from None
        self.bootstrap_path = urlsplit(config.delegated.bootstrap_url).path.rstrip("/")
        if not self.bootstrap_path or self.bootstrap_path == config.dm.path.rstrip("/"):
            self.configured.close()
            raise ConfigError(
                "dms2.bootstrap_url: its path must differ from dm.path and not be '/' (the DM "
                "listener serves the bootstrap at that path)"
            )
        self.enrolment = EnrolmentStore(
            config.state_dir / ENROLMENT_FILE, durability=config.durability
        )
        self.devices = DeviceLists(self.configured, self.enrolment)
        notifier = (
            LabHTTPNotifier(self.configured.notify_urls, reactor)
            if self.configured.notify_urls
            else None
        )
        self.server = DMSessionServer(
            config.server_id,
            config.dm.url,
            self.devices,
            reactor,
            notifier=notifier,
            max_msg_size=config.dm.max_msg_size,
            session_timeout=config.dm.session_timeout,
        )
        self.server.devinfo_seen = self.enrolment.save_devinfo
        self.delegated = DMDelegatedServer(
            config.server_id,
            self.server,
            self.devices,
            dm_url=config.dm.url,
            bootstrap_url=config.delegated.bootstrap_url,
            tokens=self.enrolment,
            clock=reactor,
            token_lifetime=config.timeouts.client_bootstrap,
        )
        self.bootstrap = BootstrapServer(
            self.delegated,
            self.enrolment,
            reactor,
            url=config.delegated.bootstrap_url,
            exchange_timeout=config.dm.session_timeout,
        )

    def manages(self, device_id: str) -> bool:
        return self.devices.device(device_id) is not None

    def devinfo(self, device_id: str) -> dict[str, str]:
        """The last DevInfo the device sent (in a DM session or its bootstrap)."""
        return self.enrolment.devinfo(device_id)

    def session_for(self, embedded: SessionFor) -> SessionFor:
        """DM sessions for the devices of the list, ``embedded`` for the others."""

        def choose(device_id: str) -> IDMClientSession:
            if self.devices.device(device_id) is not None:
                return self.server.session_for(device_id)
            return embedded(device_id)

        return choose

    def site(self) -> Site:
        """The endpoint's site: a body over twice MaxMsgSize is cut while it arrives; up to
        that, an oversized message gets its SyncML 413. The bootstrap is served under the path
        of ``[dms2] bootstrap_url``."""
        site = make_site(
            DMSessionResource(self.server),
            self.config.path,
            2 * self.config.max_msg_size,
            reactor=self.reactor,
        )
        bootstrap = BootstrapResource(self.bootstrap, self.bootstrap_path.encode("utf-8"))
        site.resource = Routes(site.resource, bootstrap)
        return site

    def close(self) -> None:
        self.configured.close()
        self.enrolment.close()


@implementer(IDelegatedServer)
class RoutedDelegatedServer:
    """DMS-2's duties: the embedded ones for a device of the embedded store, the DM sessions'
    for the others."""

    def __init__(
        self, dm: IDelegatedServer, embedded: IDelegatedServer, is_embedded: Callable[[str], bool]
    ) -> None:
        self.dm = dm
        self.embedded = embedded
        self.is_embedded = is_embedded

    def _for(self, session: Session) -> IDelegatedServer:
        return self.embedded if self.is_embedded(session.device_id) else self.dm

    def bootstrap_data(self, session: Session) -> Deferred[DMAcc | None]:
        return self._for(session).bootstrap_data(session)

    def bootstrap_url(self, session: Session) -> Deferred[str]:
        return self._for(session).bootstrap_url(session)

    def await_client_bootstrap(self, session: Session) -> Deferred[None]:
        return self._for(session).await_client_bootstrap(session)

    def open_dm_session(self, session: Session) -> Deferred[None]:
        return self._for(session).open_dm_session(session)

    def stop_activity(self, session: Session) -> Deferred[None]:
        return self._for(session).stop_activity(session)

    def forget_device(self, session: Session) -> Deferred[None]:
        return self._for(session).forget_device(session)
