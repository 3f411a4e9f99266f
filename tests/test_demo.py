"""``make demo`` runs ``dmdelegation.demo``: it must hold on a fresh checkout."""

from __future__ import annotations

import pytest

from dmdelegation import demo


def test_demo_holds(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main() == 0
    out = capsys.readouterr().out
    assert out.count("  ok  ") == 14 + len(demo.HOSTILE)
    assert "all held" in out
