"""The ``[dm]`` section of the daemon: the DM session endpoint, its device list, and the
`IDMClientSession` of each device (a DM session for a device of the list, the embedded store's
for the others)."""

from __future__ import annotations

from typing import Any

from twisted.web.server import Site

from dmdelegation.client.interfaces import IDMClientSession
from dmdelegation.config import Config, ConfigError
from dmdelegation.dm.device_file import open_device_list
from dmdelegation.dm.resource import DMSessionResource
from dmdelegation.dm.server import DMSessionServer
from dmdelegation.engine.client_changes import SessionFor
from dmdelegation.web.delegation import make_site


class DMEndpoint:
    def __init__(self, config: Config, reactor: Any) -> None:
        assert config.dm is not None
        self.config = config.dm
        self.reactor = reactor
        try:
            self.devices = open_device_list(
                config.dm.devices,
                config.state_dir / "dm-nonces.sqlite3",
                durability=config.durability,
            )
        except ValueError as e:
            raise ConfigError(f"dm.devices: {e}") from None
        self.server = DMSessionServer(
            config.server_id,
            config.dm.url,
            self.devices,
            reactor,
            max_msg_size=config.dm.max_msg_size,
            session_timeout=config.dm.session_timeout,
        )

    def session_for(self, embedded: SessionFor) -> SessionFor:
        """DM sessions for the devices of the list, ``embedded`` for the others."""

        def choose(device_id: str) -> IDMClientSession:
            if self.devices.device(device_id) is not None:
                return self.server.session_for(device_id)
            return embedded(device_id)

        return choose

    def site(self) -> Site:
        """The endpoint's site: a body over twice MaxMsgSize is cut while it arrives; up to
        that, an oversized message gets its SyncML 413."""
        return make_site(
            DMSessionResource(self.server),
            self.config.path,
            2 * self.config.max_msg_size,
            reactor=self.reactor,
        )

    def close(self) -> None:
        self.devices.close()
