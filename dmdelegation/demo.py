"""``make demo``: the product at work on embedded defaults.

Until the daemon lands, the demo shows the codec end to end: every message of the vocabulary is
encoded, checked against the shipped XSD, decoded back to an equal typed value, and a handful of
hostile documents are refused with their reasons. It exits non-zero if anything does not hold.
"""

from __future__ import annotations

import sys

from dmdelegation.protocol import ProtocolError, decode
from dmdelegation.protocol.examples import EXAMPLES

HOSTILE: dict[str, bytes] = {
    "billion laughs": b'<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><r>&b;</r>',
    "external entity": b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
    "deep nesting": b"<a>" * 2_000 + b"</a>" * 2_000,
    "wrong status": EXAMPLES["DELEGATION_CONFIRMED"]
    .encode()
    .replace(b"<status>CONFIRMED</status>", b"<status>PREPARED</status>"),
    "not a boolean": EXAMPLES["DELEGATION_REQ"].encode().replace(b">false<", b">no<"),
    "UTF-16": EXAMPLES["DELEGATION_FAILURE"].encode().decode().encode("utf-16"),
}


def main() -> int:
    failures = 0
    print("Every message of the delegation vocabulary: encode -> XSD -> decode")
    for name, message in EXAMPLES.items():
        data = message.encode()
        back = decode(data)
        ok = back == message
        failures += not ok
        print(f"  {'ok ' if ok else 'BAD'} {name:28} {len(data):5} bytes  {type(back).__name__}")
    print("\nHostile or invalid documents are refused, each with a status and a reason:")
    for label, data in HOSTILE.items():
        try:
            decode(data)
        except ProtocolError as e:
            print(f"  ok  {label:16} {e.status}  {e.reason[:90]}")
        else:
            failures += 1
            print(f"  BAD {label:16} was accepted")
    print()
    print("all held" if not failures else f"{failures} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
