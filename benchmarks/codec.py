"""Codec throughput: our full path against bare lxml on the same bytes, in the same run.

Our path per message: ``decode`` (size/encoding/DOCTYPE/depth checks, hardened parse, XSD check,
typed read) then ``encode`` (the typed values checked against the vocabulary's limits, then
written). Two baselines per message, on the same bytes: bare lxml (``lxml.etree.fromstring``
then ``lxml.etree.tostring``), and validating lxml (``fromstring``, validation of the parsed tree
against the same XSD, ``tostring``): the honest ceiling for a codec that validates what it
reads. The mix holds every message type of the vocabulary, each with its own session
identifiers. Rounds of the three alternate and the best round of each counts, so all see the
same machine state.

Last line: one JSON object, ``{"codec_msgs_per_s": ..., "lxml_msgs_per_s": ...,
"lxml_xsd_msgs_per_s": ..., "ratio": ..., "ratio_vs_validating": ...}`` (each ratio is ours over
that baseline).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable

import attrs
from lxml import etree

from dmdelegation.protocol import decode
from dmdelegation.protocol.examples import EXAMPLES
from dmdelegation.protocol.schema import SCHEMA

ROUNDS = 7
COPIES = 40  # of each message type, with fresh session ids


def _mix() -> list[bytes]:
    docs = []
    for _ in range(COPIES):
        for example in EXAMPLES.values():
            changes = {}
            if getattr(example, "session_id", None) is not None:
                changes["session_id"] = secrets.token_hex(16)
            docs.append(attrs.evolve(example, **changes).encode())  # type: ignore[misc]
    return docs


def ours(docs: list[bytes]) -> None:
    for data in docs:
        decode(data).encode()


def bare(docs: list[bytes]) -> None:
    fromstring, tostring = etree.fromstring, etree.tostring
    for data in docs:
        tostring(fromstring(data))


def validating(docs: list[bytes]) -> None:
    fromstring, tostring, validate = etree.fromstring, etree.tostring, SCHEMA.validate
    for data in docs:
        root = fromstring(data)
        if not validate(root):
            raise AssertionError("the mix holds an invalid document")
        tostring(root)


def _best_rate(run: Callable[[list[bytes]], None], docs: list[bytes], best: float) -> float:
    start = time.perf_counter()
    run(docs)
    return max(best, len(docs) / (time.perf_counter() - start))


def main() -> None:
    docs = _mix()
    for data in docs:  # the mix is valid, and the path round-trips it
        assert decode(decode(data).encode()) == decode(data)
    ours_rate = bare_rate = xsd_rate = 0.0
    for _ in range(ROUNDS):
        ours_rate = _best_rate(ours, docs, ours_rate)
        bare_rate = _best_rate(bare, docs, bare_rate)
        xsd_rate = _best_rate(validating, docs, xsd_rate)
    ratio = ours_rate / bare_rate
    ratio_xsd = ours_rate / xsd_rate
    print(f"messages in the mix: {len(docs)} ({len(EXAMPLES)} types), best of {ROUNDS} rounds")
    print(f"dmdelegation decode+validate+encode: {ours_rate:12,.0f} msgs/s")
    print(f"bare lxml fromstring+tostring:       {bare_rate:12,.0f} msgs/s")
    print(f"lxml fromstring+XSD validate+tostring: {xsd_rate:10,.0f} msgs/s")
    print(f"ratio to bare lxml: {ratio:.2f}")
    print(
        f"ratio to validating lxml: {ratio_xsd:.2f}"
        f" (goal 0.5: {'met' if ratio_xsd >= 0.5 else 'not met'})"
    )
    print(
        json.dumps(
            {
                "codec_msgs_per_s": round(ours_rate),
                "lxml_msgs_per_s": round(bare_rate),
                "lxml_xsd_msgs_per_s": round(xsd_rate),
                "ratio": round(ratio, 3),
                "ratio_vs_validating": round(ratio_xsd, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
