"""``twistd dmdelegation --config FILE``: command-line options and the service they build."""

from __future__ import annotations

from typing import Any

from twisted.application.service import IService
from twisted.python import usage

from dmdelegation.config import Config, ConfigError, load


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


def makeService(config: Options, reactor: Any = None) -> IService:
    if reactor is None:
        from twisted.internet import reactor as default_reactor

        reactor = default_reactor
    from dmdelegation.gc_tuning import tune_for_daemon
    from dmdelegation.private import private_process
    from dmdelegation.service import DelegationService, StartError

    private_process()  # every file the daemon makes is its user's only (docs/operations.md)
    try:
        service = DelegationService(config.loaded, reactor)
    except (OSError, ValueError, StartError) as e:
        raise ConfigurationRefused(f"dmdelegation: cannot start: {e}") from None
    tune_for_daemon(reactor)  # the daemon's process is ours; a library host's is not
    return service
