"""store.url chooses the engine's store: SQLite (the default, or a path) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from twisted.internet.task import Clock

from dmdelegation.client import SQLiteJournalStore
from dmdelegation.daemon import tap
from dmdelegation.daemon.config import ConfigError, parse
from dmdelegation.lab import pki
from dmdelegation.lab.devlab import DMS1, DMS2, _config
from dmdelegation.store.journal_postgres import PostgresJournalStore
from dmdelegation.store.location import StoreLocation, parse_location, shown
from dmdelegation.store.postgres import PostgresSessionStore
from dmdelegation.store.sessions import SessionStore
from dmdelegation.store.throwaway import ThrowawayPostgres

from .test_config import _files


def test_store_locations(tmp_path: Path) -> None:
    assert parse_location("postgresql://u:pw@db.example:5433/dmd", tmp_path) == StoreLocation(
        url="postgresql://u:pw@db.example:5433/dmd"
    )
    assert parse_location("sqlite:///var/lib/x.sqlite3", tmp_path) == StoreLocation(
        path=Path("/var/lib/x.sqlite3")
    )
    assert parse_location("state/s.sqlite3", tmp_path) == StoreLocation(
        path=tmp_path / "state" / "s.sqlite3"
    )
    assert parse_location("postgresql:///dmd?host=/run/postgresql", tmp_path).shared


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://u:secret@db.example", "expected postgresql://"),
        ("sqlite://relative.sqlite3", "expected sqlite:///absolute/path"),
        ("mysql://db.example/dmd", "unknown store 'mysql'"),
    ],
)
def test_a_bad_store_url_names_the_key_and_hides_the_password(
    tmp_path: Path, url: str, reason: str
) -> None:
    data = _files(tmp_path)
    data["store"] = {"url": url}
    with pytest.raises(ConfigError) as e:
        parse(data, tmp_path)
    assert str(e.value).startswith("store.url: ")
    assert reason in str(e.value)
    assert "secret" not in str(e.value)


def test_instance_and_lease(tmp_path: Path) -> None:
    data = _files(tmp_path)
    data["store"] = {"url": "postgresql://db.example/dmd", "instance": "dms1-a", "lease": 30}
    config = parse(data, tmp_path)
    assert (config.instance, config.lease) == ("dms1-a", 30.0)
    data["store"]["lease"] = 0
    with pytest.raises(ConfigError, match=r"^store\.lease: must be positive"):
        parse(data, tmp_path)


def test_shown_hides_only_the_password() -> None:
    assert (
        shown("postgresql://u:pw@h:5/d?sslmode=require")
        == "postgresql://u:***@h:5/d?sslmode=require"
    )
    assert shown("postgresql://h/d") == "postgresql://h/d"


def _daemon_config(tmp_path: Path, store: str) -> tap.Options:
    pki.init(tmp_path / "pki", [DMS1, DMS2])
    config = tmp_path / "dms1.toml"
    text = _config(DMS1, DMS2, 18443, 18444, 18440, tmp_path / "clients.sqlite3")
    assert "\n[store]\n" in text
    text = text.replace("\n[store]\n", f"\n[store]\nurl = {store!r}\ninstance = 'dms1-a'\n")
    config.write_text(text)
    options = tap.Options()
    options.parseOptions(["--config", str(config)])
    return options


def test_the_daemon_runs_on_postgresql_when_the_url_says_so(
    tmp_path: Path, postgres: ThrowawayPostgres
) -> None:
    url = postgres.fresh_url()
    service = tap.makeService(_daemon_config(tmp_path, url), reactor=Clock())
    store = service.store  # type: ignore[attr-defined]
    journals = service.journals  # type: ignore[attr-defined]
    try:
        assert isinstance(store, PostgresSessionStore)
        assert store.instance_id == "dms1-a"
        with psycopg.connect(url) as db:
            row = db.execute("SELECT count(*) FROM schema_migrations").fetchone()
            assert row is not None
            assert row[0] == store.schema_version()
        assert not (tmp_path / f"{DMS1}-state" / "sessions.sqlite3").exists()
        # The undo journals go to the same database, where another instance can read them.
        assert isinstance(journals, PostgresJournalStore)
        assert journals.url == url
        assert not (tmp_path / f"{DMS1}-state" / "journals.sqlite3").exists()
    finally:
        store.close()
        journals.close()


def test_the_daemon_runs_on_sqlite_at_a_given_path(tmp_path: Path) -> None:
    service = tap.makeService(_daemon_config(tmp_path, "sqlite:///" + str(tmp_path / "s.db")))
    assert isinstance(service.store, SessionStore)  # type: ignore[attr-defined]
    assert isinstance(service.journals, SQLiteJournalStore)  # type: ignore[attr-defined]
    assert (tmp_path / "s.db").exists()
    service.store.close()  # type: ignore[attr-defined]
    service.journals.close()  # type: ignore[attr-defined]


def test_an_unreachable_database_stops_the_start_without_its_password(
    tmp_path: Path, postgres: ThrowawayPostgres
) -> None:
    url = f"postgresql://dmdelegation:hunter2@/nosuchdb?host={postgres.dir}&port=5432"
    with pytest.raises(tap.ConfigurationRefused, match=r"cannot start: store\.url") as e:
        tap.makeService(_daemon_config(tmp_path, url), reactor=Clock())
    assert "hunter2" not in str(e.value)
    assert "nosuchdb" in str(e.value)
