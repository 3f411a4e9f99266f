"""Structured JSON logs: one event per message and per process step, never a secret; asked for
with ``[log] json`` in the configuration."""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import pytest
from twisted.internet.task import Clock
from twisted.logger import Logger, eventsFromJSONLogFile, jsonFileLogObserver

from dmdelegation.daemon import tap
from dmdelegation.daemon.config import ConfigError, parse
from dmdelegation.engine.engine import Refused
from dmdelegation.lab import pki
from dmdelegation.lab.devlab import _config
from dmdelegation.ops.eventlog import EventLog
from dmdelegation.store.sessions import SessionStore
from tests.engine.harness import SUBTREE, Pair

from .helpers import DEVICE, DMS1, DMS2


def test_one_event_per_message_and_step_and_no_secret(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    out = io.StringIO()
    events = Logger(namespace="dmdelegation.events", observer=jsonFileLogObserver(out))
    pair.dms1.stop()
    pair.dms1.store.close()
    steps: list[tuple[str, str]] = []

    class Steps(EventLog):
        def transition(self, before, after, effects):  # type: ignore[no-untyped-def]
            steps.append((before.state if before else "-", after.state))
            super().transition(before, after, effects)

    pair.dms1 = pair.build(
        DMS1, store=SessionStore(tmp_path / f"{DMS1}.sqlite3"), observers=[Steps(events)]
    )
    pair.dms1.delegate(DEVICE, DMS2, SUBTREE)
    pair.settle()
    secrets = [
        str(r.value.data)
        for r in pair.tree()
        if r.uri.name == "AAuthSecret" and str(r.uri).startswith("./DMAcc/2")
    ]
    assert len(secrets) == 2
    pair.dms1.revoke(DEVICE, SUBTREE)
    pair.settle()
    with pytest.raises(Refused):
        pair.dms1.revoke(DEVICE, SUBTREE)
    text = out.getvalue()
    logged = list(eventsFromJSONLogFile(io.StringIO(text)))
    messages = [e for e in logged if e.get("event_kind") == "message"]
    sent = [(e["root"], e["status"]) for e in messages if e["direction"] == "out"]
    received = [e["root"] for e in messages if e["direction"] == "in"]
    on_wire_out = [root for sender, _, root in pair.wire.trace if sender == DMS1]
    on_wire_in = [root for sender, _, root in pair.wire.trace if sender == DMS2]
    assert [root for root, _ in sent] == on_wire_out
    assert received == on_wire_in
    assert all(status in (200, 204) for _, status in sent)
    logged_steps = [(e["old"] or "-", e["new"]) for e in logged if e.get("event_kind") == "step"]
    assert logged_steps == steps
    assert len(steps) >= 4
    ends = [e["outcome"] for e in logged if e.get("event_kind") == "step" and e["outcome"]]
    assert ends == ["delegated", "revoked"]
    refusals = [e for e in logged if e.get("event_kind") == "refusal"]
    assert [(e["source"], e["status"]) for e in refusals] == [("operator", 409)]
    for secret in secrets:
        assert secret not in text


def test_the_json_log_key(tmp_path: Path) -> None:
    pki.init(tmp_path / "pki", [DMS1, DMS2])
    data = tomllib.loads(_config(DMS1, DMS2, 18443, 18444, 18440, tmp_path / "clients.sqlite3"))
    assert parse(data, tmp_path).log_json is None
    data["log"] = {"json": "logs/events.json"}
    assert parse(data, tmp_path).log_json == tmp_path / "logs" / "events.json"
    data["log"] = {"json": 3}
    with pytest.raises(ConfigError, match=r"^log\.json: expected a string"):
        parse(data, tmp_path)


def test_the_daemon_writes_its_json_log(tmp_path: Path) -> None:
    pki.init(tmp_path / "pki", [DMS1, DMS2])
    config = tmp_path / "dms1.toml"
    text = _config(DMS1, DMS2, 18443, 18444, 18440, tmp_path / "clients.sqlite3")
    config.write_text(text + '\n[log]\njson = "events.json"\n')
    options = tap.Options()
    options.parseOptions(["--config", str(config)])
    service = tap.makeService(options, reactor=Clock())
    service.startService()
    try:
        Logger(namespace="test").info("a line for the {where}", where="JSON log")
        with pytest.raises(Refused):
            service.engine.revoke(DEVICE, SUBTREE)  # type: ignore[attr-defined]
    finally:
        service.stopService()
    with open(tmp_path / "events.json") as f:
        logged = list(eventsFromJSONLogFile(f))
    assert any(e.get("where") == "JSON log" for e in logged)
    assert any(e.get("event_kind") == "refusal" and e["status"] == 409 for e in logged)
