"""The README's "Run it" block, copied into a shell as a new user would, on a fresh copy of the
repository: it must complete a delegation and a revocation.

The copy holds the repository's tracked files (what a clone has) and the virtual environment
that ``make`` already made (a clone's ``make`` would make the same one).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_it_block(readme: str) -> str:
    """The first code block under the heading "## Run it" (indented or fenced), as shell text."""
    section = readme.split("\n## Run it\n", 1)[1].split("\n## ", 1)[0]
    fenced = re.search(r"```(?:sh|shell|bash)?\n(.*?)```", section, re.S)
    if fenced:
        return fenced.group(1)
    lines: list[str] = []
    for line in section.splitlines():
        if line.startswith("    "):
            lines.append(line[4:])
        elif lines and line.strip():
            break
        elif lines:
            lines.append("")
    return "\n".join(lines).strip() + "\n"


def fresh_copy(target: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            destination = target / os.fsdecode(name)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    # The venv ``make`` made for this run stands in for the one the clone's ``make venv`` would
    # make: it must be up to date, or that ``make`` would rebuild it through the link.
    fresh = subprocess.run(["make", "-q", "venv"], cwd=ROOT, capture_output=True)
    assert fresh.returncode == 0, "run `make venv` first: .venv is older than pyproject.toml"
    (target / ".venv").symlink_to(ROOT / ".venv")
    return target


def _stop_left_over(copy: Path) -> None:
    """The daemons the block started (by their pid files), should it have stopped midway."""
    for pidfile in copy.rglob("*.pid"):
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)


@pytest.fixture
def copy(tmp_path: Path) -> Iterator[Path]:
    repo = fresh_copy(tmp_path / "dmdelegation")
    yield repo
    _stop_left_over(repo)


def test_the_block_is_found() -> None:
    block = run_it_block((ROOT / "README.md").read_text())
    assert "dmdelegation delegate" in block
    assert "dmdelegation revoke" in block


def test_run_it_as_written(copy: Path) -> None:
    block = run_it_block((ROOT / "README.md").read_text())
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DMDELEGATION_")}
    environment.pop("VIRTUAL_ENV", None)  # the block puts the command on PATH itself
    bin_dir = str(ROOT / ".venv" / "bin")
    environment["PATH"] = ":".join(
        p for p in environment.get("PATH", "").split(":") if p and p != bin_dir
    )
    process = subprocess.Popen(
        ["bash", "-e", "-x", "-c", block],
        cwd=copy,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        else:
            with contextlib.suppress(OSError):  # a background job left behind
                os.killpg(process.pid, signal.SIGTERM)
    assert process.returncode == 0, out
    lines = out.splitlines()
    assert any(line.startswith("delegation-dmacc delegated: ") for line in lines), out
    assert any(line.startswith("revocation-asked revoked: ") for line in lines), out
