"""The twistd plugin: discoverable, and its options refuse what cannot work, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.application.service import IService, IServiceMaker
from twisted.internet.task import Clock
from twisted.plugin import getPlugins
from twisted.python import usage
from zope.interface.verify import verifyObject

from dmdelegation.daemon import tap
from dmdelegation.lab import pki
from dmdelegation.lab.devlab import DMS1, DMS2, _config


def test_dropin_is_found_by_twistd() -> None:
    makers = {p.tapname: p for p in getPlugins(IServiceMaker)}
    assert "dmdelegation" in makers
    maker = makers["dmdelegation"]
    verifyObject(IServiceMaker, maker)
    assert maker.options is tap.Options


def test_config_is_required() -> None:
    with pytest.raises(usage.UsageError, match="--config FILE is required"):
        tap.Options().parseOptions([])


def test_missing_config_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(tap.ConfigurationRefused, match=r"absent\.toml"):
        tap.Options().parseOptions(["--config", str(tmp_path / "absent.toml")])


def test_make_service_builds_the_daemon(tmp_path: Path) -> None:
    pki.init(tmp_path / "pki", [DMS1, DMS2])
    config = tmp_path / "dms1.toml"
    config.write_text(_config(DMS1, DMS2, 18443, 18444, 18440, tmp_path / "clients.sqlite3"))
    options = tap.Options()
    options.parseOptions(["--config", str(config)])
    service = tap.makeService(options, reactor=Clock())
    verifyObject(IService, service)
    assert service.name == "dmdelegation"
    assert (tmp_path / f"{DMS1}-state" / "sessions.sqlite3").exists()


def test_a_key_that_does_not_match_its_certificate_stops_the_start(tmp_path: Path) -> None:
    pki.init(tmp_path / "pki", [DMS1, DMS2])
    (tmp_path / "pki" / f"{DMS1}.key").write_bytes((tmp_path / "pki" / f"{DMS2}.key").read_bytes())
    config = tmp_path / "dms1.toml"
    config.write_text(_config(DMS1, DMS2, 18443, 18444, 18440, tmp_path / "clients.sqlite3"))
    options = tap.Options()
    options.parseOptions(["--config", str(config)])
    with pytest.raises(tap.ConfigurationRefused, match="cannot start") as e:
        tap.makeService(options, reactor=Clock())
    assert "PRIVATE KEY" not in str(e.value)


def test_the_admin_site_logs_commands_not_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    from twisted.web.resource import Resource
    from twisted.web.server import Site
    from twisted.web.test.requesthelper import DummyRequest

    from dmdelegation.daemon.service import CommandLog

    logged: list[bytes] = []
    monkeypatch.setattr(Site, "log", lambda self, request: logged.append(request.method))
    site = CommandLog(Resource())
    for method in (b"GET", b"POST", b"GET"):
        request = DummyRequest([b"status"])
        request.method = method
        site.log(request)
    assert logged == [b"POST"]
