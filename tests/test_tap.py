"""The twistd plugin is discoverable and builds its service from options."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.application.service import IService, IServiceMaker
from twisted.plugin import getPlugins
from twisted.python import usage
from zope.interface.verify import verifyObject

from dmdelegation import tap


def test_dropin_is_found_by_twistd() -> None:
    makers = {p.tapname: p for p in getPlugins(IServiceMaker)}
    assert "dmdelegation" in makers
    maker = makers["dmdelegation"]
    verifyObject(IServiceMaker, maker)
    assert maker.options is tap.Options


def test_missing_config_file_is_a_usage_error(tmp_path: Path) -> None:
    options = tap.Options()
    with pytest.raises(usage.UsageError, match="--config"):
        options.parseOptions(["--config", str(tmp_path / "absent.toml")])


def test_make_service_returns_a_named_service(tmp_path: Path) -> None:
    config = tmp_path / "dmdelegation.toml"
    config.write_text("")
    options = tap.Options()
    options.parseOptions(["--config", str(config)])
    service = tap.makeService(options)
    verifyObject(IService, service)
    assert service.name == "dmdelegation"
