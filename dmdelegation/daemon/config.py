"""The daemon's configuration: one TOML file, checked whole before anything starts.

Every key is documented in docs/configuration.md (with a commented example in
``deploy/dmdelegation.example.toml``). A bad configuration raises :class:`ConfigError` whose
message is one line naming the key (``peers[1].url: ...``). Relative paths are relative to the
configuration file's directory.
"""

from __future__ import annotations

import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from attrs import field, frozen

from dmdelegation.client.database import DURABILITIES, Durability
from dmdelegation.daemon.config_reader import ConfigError as ConfigError  # re-exported
from dmdelegation.daemon.config_reader import (
    TableReader,
    https_url,
    positive_int,
    read_timeouts,
)
from dmdelegation.daemon.endpoint_string import is_loopback
from dmdelegation.engine.admission import DEFAULT_MAX_OPEN
from dmdelegation.engine.machine import Timeouts
from dmdelegation.store.location import DEFAULT_LEASE, StoreLocation, parse_location
from dmdelegation.tree import URI, URIError

# Both re-exported: the types live below the web interface that reads them.
from dmdelegation.web.peer_config import PeerConfig as PeerConfig
from dmdelegation.web.peer_config import TLSConfig as TLSConfig

DEFAULT_MAX_CONNECTIONS = 512  # open connections per delegation or DM listener
DEFAULT_ADMIN_CONNECTIONS = 64  # open connections on the admin API
DEFAULT_RETENTION = 30 * 86400.0  # ended sessions and their message logs: 30 days


@frozen
class DelegatedConfig:
    """This server as a delegated server (DMS-2), with the embedded duties."""

    dm_url: str
    bootstrap_url: str


@frozen
class DMConfig:
    """The OMA DM 1.2 session endpoint for real DM Clients (``[dm]``; docs/dm-sessions.md)."""

    listen: tuple[str, ...]  # endpoint strings (tcp:, ssl:, ...)
    url: str  # the URL devices post to, as they know it (our messages' Source)
    devices: Path | None = None  # the device list (TOML); a pure DMS-2 needs none
    path: str = "/dm"
    max_msg_size: int = 64 * 1024
    session_timeout: float = 300.0


@frozen
class Config:
    server_id: str
    state_dir: Path
    tls: TLSConfig
    listen: tuple[str, ...]  # endpoint strings for the mutual-TLS delegation interface
    path: str  # the interface's URL path (``.../<interface_name>``)
    max_body: int
    admin: str  # endpoint string of the admin API (loopback TCP or unix socket)
    peers: tuple[PeerConfig, ...]
    delegated: DelegatedConfig
    timeouts: Timeouts = field(factory=Timeouts)
    client_store: Path | None = None
    durability: Durability = "normal"
    store: StoreLocation | None = None  # None: SQLite in state_dir
    instance: str = field(factory=socket.gethostname)
    lease: float = DEFAULT_LEASE
    log_transitions: bool = False
    log_json: Path | None = None  # structured JSON log (one object per line), if wanted
    source: Path | None = None
    dm: DMConfig | None = None
    device_groups: Mapping[str, tuple[str, ...]] = field(factory=dict)
    max_connections: int = DEFAULT_MAX_CONNECTIONS  # per delegation (and [dm]) listener
    admin_max_connections: int = DEFAULT_ADMIN_CONNECTIONS
    admin_token: Path | None = None  # a file holding the admin API's bearer token
    retention: float = DEFAULT_RETENTION  # seconds an ended session and its log are kept

    def peer(self, server_id: str) -> PeerConfig | None:
        return next((p for p in self.peers if p.server_id == server_id), None)

    @property
    def sessions_db(self) -> Path:
        if self.store is not None and self.store.path is not None:
            return self.store.path
        return self.state_dir / "sessions.sqlite3"

    @property
    def journals_db(self) -> Path:
        return self.state_dir / "journals.sqlite3"

    @property
    def clients_db(self) -> Path:
        return self.client_store or self.state_dir / "clients.sqlite3"


def _peer(reader: TableReader) -> PeerConfig:
    server_id = reader.text("server_id")
    url = https_url(reader, "url")
    pin = reader.text("pin_sha256", None)
    if pin is not None:
        pin = pin.replace(":", "").lower()
        if len(pin) != 64 or any(c not in "0123456789abcdef" for c in pin):
            raise ConfigError(f"{reader.where}pin_sha256: expected 64 hexadecimal digits")
    subtrees = reader.texts("subtrees", ())
    for uri in subtrees:
        try:
            URI.parse(uri)
        except URIError as e:
            raise ConfigError(f"{reader.where}subtrees: {uri!r}: {e}") from None
    peer = PeerConfig(
        server_id=server_id,
        url=url,
        name=reader.text("name", urlsplit(url).hostname),
        pin_sha256=pin,
        we_delegate=reader.get("we_delegate", bool, True, name="true or false"),
        accept=reader.get("accept", bool, False, name="true or false"),
        subtrees=subtrees,
        allow_full=reader.get("allow_full", bool, False, name="true or false"),
        devices=reader.texts("devices", ()),
        device_groups=reader.texts("device_groups", ()),
        max_open_processes=positive_int(reader, "max_open_processes", DEFAULT_MAX_OPEN),
    )
    if peer.accept and not (peer.subtrees or peer.allow_full):
        raise ConfigError(
            f"{reader.where}subtrees: accept = true grants nothing without subtrees or allow_full"
        )
    if peer.accept and not (peer.devices or peer.device_groups):
        raise ConfigError(
            f"{reader.where}devices: accept = true grants no device without devices or "
            "device_groups"
        )
    if peer.allow_full and not peer.accept:
        raise ConfigError(f"{reader.where}allow_full: needs accept = true")
    reader.done()
    return peer


def _device_groups(reader: TableReader) -> dict[str, tuple[str, ...]]:
    """``[device_groups]``: each key a group name, each value its device ids or patterns."""
    groups = {name: reader.texts(name) for name in list(reader.data)}
    reader.done()
    return groups


def _dm(reader: TableReader) -> DMConfig:
    listen = reader.texts("listen")
    if not listen:
        raise ConfigError(f"{reader.where}listen: at least one endpoint is required")
    url = reader.text("url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{reader.where}url: expected an http:// or https:// URL, got {url!r}")
    path = reader.text("path", "/dm")
    if not path.startswith("/"):
        raise ConfigError(f"{reader.where}path: must start with '/'")
    size = reader.get("max_msg_size", int, 64 * 1024, name="an integer")
    if not 2048 <= size <= 1024 * 1024:
        raise ConfigError(f"{reader.where}max_msg_size: must be between 2048 and 1048576 bytes")
    timeout = reader.get("session_timeout", float, 300.0, name="a number of seconds")
    if timeout <= 0:
        raise ConfigError(f"{reader.where}session_timeout: must be positive")
    config = DMConfig(
        listen=listen,
        url=url,
        devices=reader.path("devices", default=None),
        path=path,
        max_msg_size=size,
        session_timeout=timeout,
    )
    reader.done()
    return config


def parse(data: Mapping[str, Any], base: Path, source: Path | None = None) -> Config:
    """The configuration in ``data`` (a parsed TOML document); paths relative to ``base``."""
    top = TableReader(data, "", base)
    server_id = top.text("server_id")
    state_dir = top.path("state_dir", must_exist=False)
    tls_table = top.table("tls")
    tls = TLSConfig(
        certificate=tls_table.path("certificate"),
        key=tls_table.path("key"),
        ca=tuple((base / p).resolve() for p in tls_table.texts("ca")),
    )
    for i, ca in enumerate(tls.ca):
        try:
            present = ca.exists()
        except OSError as e:
            raise ConfigError(f"tls.ca[{i}]: {ca}: {e.strerror}") from None
        if not present:
            raise ConfigError(f"tls.ca[{i}]: {ca} does not exist")
    if not tls.ca:
        raise ConfigError("tls.ca: at least one CA is required (peers must be authenticated)")
    tls_table.done()
    delegation = top.table("delegation")
    listen = delegation.texts("listen")
    if not listen:
        raise ConfigError("delegation.listen: at least one endpoint is required")
    path = delegation.text("path", "/delegation")
    if not path.startswith("/"):
        raise ConfigError("delegation.path: must start with '/'")
    max_body = delegation.get("max_body", int, 64 * 1024, name="an integer")
    if not 1024 <= max_body <= 1024 * 1024:
        raise ConfigError("delegation.max_body: must be between 1024 and 1048576 bytes")
    max_connections = positive_int(delegation, "max_connections", DEFAULT_MAX_CONNECTIONS)
    delegation.done()
    admin_table = top.table("admin")
    admin = admin_table.text("listen")
    if not is_loopback(admin):
        raise ConfigError(
            "admin.listen: must be a unix socket or a tcp port bound to one loopback address "
            "(tcp:PORT:interface=127.0.0.1)"
        )
    admin_max = positive_int(admin_table, "max_connections", DEFAULT_ADMIN_CONNECTIONS)
    admin_token = admin_table.path("token_file", default=None)
    admin_table.done()
    peers = []
    raw_peers = top.get("peers", list, [], name="an array of tables ([[peers]])")
    ids: set[str] = set()
    netlocs: dict[tuple[str, int], int] = {}
    pins: dict[str, int] = {}
    for i, raw in enumerate(raw_peers):
        if not isinstance(raw, dict):
            raise ConfigError(f"peers[{i}]: expected a table")
        peer = _peer(TableReader(raw, f"peers[{i}].", base))
        if peer.server_id in ids or peer.server_id == server_id:
            raise ConfigError(f"peers[{i}].server_id: {peer.server_id!r} appears twice")
        ids.add(peer.server_id)
        parts = urlsplit(peer.url)
        netloc = (str(parts.hostname), parts.port or 443)
        if netloc in netlocs:
            raise ConfigError(
                f"peers[{i}].url: same host and port as peers[{netlocs[netloc]}] (a connection "
                "must tell which peer it reaches)"
            )
        netlocs[netloc] = i
        if peer.pin_sha256 is not None:
            if peer.pin_sha256 in pins:
                raise ConfigError(
                    f"peers[{i}].pin_sha256: same pin as peers[{pins[peer.pin_sha256]}]"
                )
            pins[peer.pin_sha256] = i
        peers.append(peer)
    dms2 = top.table("dms2")
    bootstrap_url = dms2.text("bootstrap_url")
    bootstrap_parts = urlsplit(bootstrap_url)
    if bootstrap_parts.scheme not in ("http", "https") or not bootstrap_parts.hostname:
        raise ConfigError(f"dms2.bootstrap_url: expected an https:// URL, got {bootstrap_url!r}")
    if bootstrap_parts.scheme == "http" and "dm" not in data:
        # http:// only where the DM listener serves the bootstrap (as the DM endpoint's url may)
        raise ConfigError(f"dms2.bootstrap_url: expected an https:// URL, got {bootstrap_url!r}")
    if "dm" in data and urlsplit(str(dms2.data.get("dm_url", ""))).scheme == "http":
        # as bootstrap_url: http:// where the DM listener is the device's way in (a trial)
        dm_url = dms2.text("dm_url")
        if not urlsplit(dm_url).hostname:
            raise ConfigError(f"dms2.dm_url: expected an https:// URL, got {dm_url!r}")
    else:
        dm_url = https_url(dms2, "dm_url")
    delegated = DelegatedConfig(dm_url=dm_url, bootstrap_url=bootstrap_url)
    dms2.done()
    timeouts = read_timeouts(top.table("timeouts", {}))
    store = top.table("store", {})
    durability = store.text("durability", "normal")
    if durability not in DURABILITIES:
        raise ConfigError("store.durability: expected 'normal' or 'full'")
    client_store = store.path("clients", must_exist=False, default=None)
    location = None
    url = store.text("url", None)
    if url is not None:
        try:
            location = parse_location(url, base)
        except ValueError as e:
            raise ConfigError(f"store.url: {e}") from None
    instance = store.text("instance", socket.gethostname())
    lease = store.get("lease", float, DEFAULT_LEASE, name="a number of seconds")
    if not lease > 0:
        raise ConfigError("store.lease: must be positive")
    retention_days = store.get("retention_days", float, DEFAULT_RETENTION / 86400, name="a number")
    if not retention_days > 0:
        raise ConfigError("store.retention_days: must be positive")
    store.done()
    logging = top.table("log", {})
    log_transitions = logging.get("transitions", bool, False, name="true or false")
    log_json = logging.path("json", must_exist=False, default=None)
    logging.done()
    dm = _dm(top.table("dm")) if "dm" in data else None
    groups = _device_groups(top.table("device_groups", {}))
    for i, peer in enumerate(peers):
        for name in peer.device_groups:
            if name not in groups:
                raise ConfigError(f"peers[{i}].device_groups: {name!r} is not in [device_groups]")
    top.done()
    return Config(
        server_id=server_id,
        state_dir=state_dir,
        tls=tls,
        listen=listen,
        path=path,
        max_body=max_body,
        admin=admin,
        peers=tuple(peers),
        delegated=delegated,
        timeouts=timeouts,
        client_store=client_store,
        durability=durability,
        store=location,
        instance=instance,
        lease=lease,
        log_transitions=log_transitions,
        log_json=log_json,
        source=source,
        dm=dm,
        device_groups=groups,
        max_connections=max_connections,
        admin_max_connections=admin_max,
        admin_token=admin_token,
        retention=retention_days * 86400,
    )


def load(path: str | Path) -> Config:
    """Read and check the configuration file at ``path``."""
    source = Path(path).resolve()
    try:
        with open(source, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    return parse(data, source.parent, source)
