"""The command's parsing of durations, and its reading of history and traces."""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import quote

import pytest

from dmdelegation.cli import build_parser
from dmdelegation.commands.operate import duration
from dmdelegation.ops.history import history_lines
from dmdelegation.tree import URI


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1.5h", 5400)],
)
def test_durations(text: str, seconds: float) -> None:
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "0", "-5m", "2x", "inf", "nan"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        duration(text)


def test_delegate_options() -> None:
    args = build_parser().parse_args(["delegate", "D", "--to", "S", "--for", "10m", "--dry-run"])
    assert args.for_ == 600
    assert args.dry_run is True
    with pytest.raises(SystemExit):
        build_parser().parse_args(["delegate", "D", "--to", "S", "--for", "soon"])


def test_history_lines() -> None:
    period = {
        "subtree": "./Vendor",
        "full": False,
        "holder": "b",
        "grantor": "a",
        "since": 0.0,
        "through": "s1",
        "process": "delegation-dmacc",
        "expires": 60.0,
        "until": 60.0,
        "ended_by": "s2",
        "ended_process": "revocation-asked",
        "cause": "expired",
        "outcome": "revoked",
    }
    assert history_lines([period]) == [
        "./Vendor: held by b (delegated by a) from 1970-01-01 00:00:00Z to 1970-01-01 00:01:00Z",
        "    through delegation-dmacc s1, timed until 1970-01-01 00:01:00Z",
        "    ended by revocation-asked s2: cause expired; revoked",
    ]
    assert history_lines([]) == ["no delegation on record"]


def test_tree_show_asks_the_daemon_with_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from typing import Any

    from dmdelegation.cli import main
    from dmdelegation.commands import tree
    from dmdelegation.tree.display import display_lines

    from .helpers import DEVICE, Observed

    pair = Observed(tmp_path)
    admin = pair.admin()
    asked: list[str] = []

    class Client:
        def call(self, method: str, path: str, body: Any = None) -> Any:
            asked.append(path)
            return admin.call(method, path, body)[1]

    monkeypatch.setattr(tree, "client_for", lambda args: Client())
    config = str(tmp_path / "dms1.toml")
    assert main(["tree", "show", "--config", config, DEVICE, "./DevInfo"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown == display_lines(pair.clients.records(DEVICE, URI.parse("./DevInfo")))
    assert asked == [f"/tree?device={quote(DEVICE, safe='')}&uri=.%2FDevInfo"]
