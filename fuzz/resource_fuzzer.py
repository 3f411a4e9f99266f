"""Long fuzzing of the delegation resource in front of a real engine, with atheris: every body a
known peer POSTs gets one of the documented statuses, never a 500, and nothing escapes.

    .venv/bin/python fuzz/resource_fuzzer.py -max_total_time=600 -max_len=70000

(from the repository root; ``pip install atheris``). The in-suite, bounded version is
``tests/fuzz/test_resource_fuzz.py``, whose server this harness reuses.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports():
    from dmdelegation.protocol.examples import EXAMPLES
    from tests.fuzz.test_resource_fuzz import DOCUMENTED, _Server

SERVER = _Server(Path(tempfile.mkdtemp(prefix="dmdelegation-fuzz-")))


def one_input(data: bytes) -> None:
    status = SERVER.post(data)
    if status is not None and status not in DOCUMENTED:
        raise AssertionError(f"answered {status}")


def main() -> None:
    for example in EXAMPLES.values():  # the seeds: every valid message
        one_input(example.encode())
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
