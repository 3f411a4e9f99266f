"""``dmdelegation message``: validate and example, as an operator runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dmdelegation.cli import main
from dmdelegation.protocol import BY_ROOT, decode
from dmdelegation.protocol.examples import EXAMPLES


def test_validate_reports_each_file_and_fails_if_any_is_bad(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.xml"
    good.write_bytes(EXAMPLES["DELEGATION_REQ"].encode())
    bad = tmp_path / "bad.xml"
    bad.write_bytes(EXAMPLES["DELEGATION_REQ"].encode().replace(b"false", b"maybe"))
    missing = tmp_path / "missing.xml"
    assert main(["message", "validate", str(good)]) == 0
    assert main(["message", "validate", str(good), str(bad), str(missing)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{good}: OK DELEGATION_REQ"
    assert out[1] == f"{good}: OK DELEGATION_REQ"
    assert out[2].startswith(f"{bad}: refused (400): ")
    assert "'isDelegationFull'" in out[2]
    assert out[3].startswith(f"{missing}: cannot read")


def test_validate_applies_the_size_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "big.xml"
    big.write_bytes(EXAMPLES["DELEGATION_REQ"].encode().replace(b"Acme", b"A" * 70000))
    assert main(["message", "validate", str(big)]) == 1
    assert "(413)" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(BY_ROOT))
def test_example_prints_a_valid_message(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["message", "example", name.lower()]) == 0
    printed = capsys.readouterr().out.encode()
    assert decode(printed) == EXAMPLES[name]


def test_example_of_unknown_message_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["message", "example", "HELLO"]) == 2
    assert "DELEGATION_REQ" in capsys.readouterr().err


def test_list_and_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["message", "list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 14
    assert main(["message", "schema"]) == 0
    assert "<xs:schema" in capsys.readouterr().out


def test_validate_refuses_not_bootstrapped_without_the_account(tmp_path: Path) -> None:
    body = tmp_path / "confirmed.xml"
    document = EXAMPLES["BOOTSTRAP_CONFIRMED"].encode().decode()
    start, end = document.index("<DMAcc>"), document.index("</DMAcc>") + len("</DMAcc>")
    body.write_text(document[:start] + document[end:])
    done = subprocess.run(
        [sys.executable, "-m", "dmdelegation.cli", "message", "validate", str(body)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == (
        f"{body}: refused (400): BOOTSTRAP_CONFIRMED: isClientBootstapped is false but there "
        "is no DMAcc\n"
    )
