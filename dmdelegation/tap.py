"""``twistd dmdelegation``: command-line options and the service they build.

The delegation daemon itself (listening site, engine, store) is assembled here as its parts land;
for now ``makeService`` validates the options and returns the (empty) top-level ``MultiService``.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import IService, MultiService
from twisted.python import usage


class Options(usage.Options):
    optParameters = [
        ["config", "c", None, "Path of the TOML configuration file."],
    ]

    def postOptions(self) -> None:
        if self["config"] is not None:
            try:
                with open(self["config"], "rb"):
                    pass
            except OSError as e:
                raise usage.UsageError(f"--config {self['config']}: {e.strerror}") from e


def makeService(config: Options, reactor: Any = None) -> IService:
    service = MultiService()
    service.setName("dmdelegation")
    return service
