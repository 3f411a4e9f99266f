"""``twistd dmdelegation --config FILE``: command-line options and the service they build."""

from __future__ import annotations

import socket
from typing import Any

from twisted.application.service import IService
from twisted.python import usage

from dmdelegation.daemon.config import Config, ConfigError, load


class ConfigurationRefused(SystemExit):
    """The configuration cannot work: twistd exits 1 printing this one line."""


class Options(usage.Options):
    synopsis = "--config FILE"
    longdesc = (
        "Runs a DM Server Delegation Protocol 1.3 server (DMS-1 and DMS-2) with the given "
        "configuration (see docs/configuration.md)."
    )
    optParameters = [
        ["config", "c", None, "Path of the TOML configuration file (required)."],
    ]

    def postOptions(self) -> None:
        if self["config"] is None:
            raise usage.UsageError("--config FILE is required")
        try:
            self.loaded: Config = load(self["config"])
        except ConfigError as e:
            # One line naming the key, not twistd's usage text: the command line was right.
            raise ConfigurationRefused(f"dmdelegation: {e}") from None


def _tcp(endpoint: str) -> tuple[str, int] | None:
    """(interface, port) of a ``tcp:PORT[:interface=HOST]`` endpoint; ``None`` for others."""
    kind, _, rest = endpoint.partition(":")
    if kind != "tcp":
        return None
    parts = rest.split(":")
    try:
        port = int(parts[0])
    except ValueError:
        return None  # the endpoint parser gives its own error when the service listens
    interface = next((p[len("interface=") :] for p in parts if p.startswith("interface=")), "")
    return interface, port


def taken_port(config: Config) -> str | None:
    """The first configured TCP endpoint another program already listens on, as one line
    naming its key, or ``None``. Checked before twistd starts logging or daemonizes, so that
    the mistake is one line on the terminal rather than a traceback in the log (or, daemonized,
    a cut-off message); a port taken between this check and the listen still stops the start."""
    wanted = [("delegation.listen", e) for e in config.listen] + [("admin.listen", config.admin)]
    if config.dm is not None:
        wanted += [("dm.listen", e) for e in config.dm.listen]
    for key, endpoint in wanted:
        address = _tcp(endpoint)
        if address is None:
            continue
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Twisted listens
            try:
                probe.bind(address)
            except OSError as e:
                return f"{key} {endpoint!r}: {e.strerror}"
    return None


def makeService(config: Options, reactor: Any = None) -> IService:
    if reactor is None:
        from twisted.internet import reactor as default_reactor

        reactor = default_reactor
    from dmdelegation.daemon.gc_tuning import tune_for_daemon
    from dmdelegation.daemon.private import private_process
    from dmdelegation.daemon.service import DelegationService, StartError

    busy = taken_port(config.loaded)
    if busy is not None:
        raise ConfigurationRefused(f"dmdelegation: cannot start: {busy}")
    private_process()  # every file the daemon makes is its user's only (docs/operations.md)
    try:
        service = DelegationService(config.loaded, reactor)
    except (OSError, ValueError, StartError) as e:
        raise ConfigurationRefused(f"dmdelegation: cannot start: {e}") from None
    tune_for_daemon(reactor)  # the daemon's process is ours; a library host's is not
    return service
