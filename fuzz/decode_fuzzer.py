"""Long fuzzing of ``decode`` with atheris (coverage-guided): ``pip install atheris``, then

    .venv/bin/python fuzz/decode_fuzzer.py -max_total_time=600 -max_len=70000

Every input must decode to a message that re-encodes to an equal one, or be refused with a
400-class ``ProtocolError``; anything else is a crash atheris reports with its input.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from dmdelegation.protocol import ProtocolError, decode
    from dmdelegation.protocol.examples import EXAMPLES


def one_input(data: bytes) -> None:
    try:
        message = decode(data)
    except ProtocolError as e:
        if not 400 <= e.status < 500:
            raise AssertionError(f"status {e.status}") from e
        return
    if decode(message.encode()) != message:
        raise AssertionError("a decoded message does not survive encode and decode")


def main() -> None:
    for example in EXAMPLES.values():  # the seeds are the valid messages
        one_input(example.encode())
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
