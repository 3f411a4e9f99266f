"""DM session component speed: one DMAcc creation + one ACL grant + their rollback, on trees of
1 000, 10 000 and 100 000 nodes in the embedded store (SQLite, WAL, the default durability
"normal": every commit survives the death of the process; ``--durability full``: every commit is
also synced to disk).

One operation: ``create_account`` (the 21 nodes of a DMAcc), ``grant_rights`` on a small subtree,
then ``rollback`` of both, each change journaled on disk before it is applied. Operations repeat
for a fixed time per tree size, in rounds that alternate between the sizes; the best round of each
size counts, so every size sees the same machine state. The cost of one operation must not grow
with the tree: nodes are found by URI through an index, never by scanning. After the runs, each
tree is compared with its state before them (it must be identical).

Last line: one JSON object, ``{"ops_per_s_1k": ..., "ops_per_s_10k": ..., "ops_per_s_100k": ...,
"growth_1k_to_100k": ...}``; growth is the time of one operation at 100 000 nodes over its time at
1 000 nodes (1.0: flat; 100: linear in the tree's size).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from itertools import count
from pathlib import Path

from dmdelegation.client import (
    ClientTreeStore,
    SQLiteJournalStore,
    create_account,
    grant_rights,
    rollback,
)
from dmdelegation.client.database import DEFAULT_DURABILITY, DURABILITIES, Durability
from dmdelegation.client.testing import fired
from dmdelegation.protocol.dmacc import AppAddr, AppAuth, AuthLevel, AuthType, DMAcc
from dmdelegation.tree import ACL, ROOT, URI, NodeRecord, Value
from dmdelegation.tree.dmacc import DMACC_ROOT, dmacc_nodes

SIZES = {"1k": 1_000, "10k": 10_000, "100k": 100_000}
ROUNDS = 5
ROUND_SECONDS = 1.0
OWNER = "dms1.operator.example"
DMS2 = "dms2.example.net"
DEVICE = "IMEI:490154203237518"
TARGET = URI.parse("./Vendor/Enterprise")


def _account(server_id: str) -> DMAcc:
    return DMAcc(
        server_id=server_id,
        app_addrs=(AppAddr(f"https://{server_id}:8443/dm", ports=(8443,)),),
        app_auths=(
            AppAuth(AuthLevel.SERVER, AuthType.HTTP_DIGEST, server_id, "secret", b"\x00\x01"),
            AppAuth(AuthLevel.CLIENT, AuthType.HTTP_DIGEST, "device", "secret"),
        ),
        name="DM server",
    )


def _tree(size: int) -> Iterator[NodeRecord]:
    """``size`` nodes: root, the owner's account, the delegated subtree, then filler."""
    everything = "&".join(f"{c}={OWNER}" for c in ("Add", "Delete", "Exec", "Get", "Replace"))
    yield NodeRecord(ROOT, Value.interior(), ACL.parse(everything))
    yield NodeRecord(DMACC_ROOT, Value.interior())
    owner = DMACC_ROOT.child("1")
    made = 2
    for path, value in dmacc_nodes(_account(OWNER)):
        yield NodeRecord(owner.child(*path), value)
        made += 1
    yield NodeRecord(URI(("Vendor",)), Value.interior())
    yield NodeRecord(TARGET, Value.interior())
    yield NodeRecord(TARGET.child("Apps"), Value.interior(), ACL.parse(f"Get=*&Replace={OWNER}"))
    yield NodeRecord(TARGET.child("Apps", "Mail"), Value.boolean(True))
    yield NodeRecord(TARGET.child("Policy"), Value.text("strict"))
    made += 5
    for branch in count():
        if made >= size:
            return
        base = URI(("Vendor", f"b{branch}"))
        yield NodeRecord(base, Value.interior())
        made += 1
        for leaf in range(min(99, size - made)):
            yield NodeRecord(base.child(f"n{leaf}"), Value.integer(leaf))
            made += 1


class Bench:
    def __init__(
        self, directory: Path, size: int, durability: Durability = DEFAULT_DURABILITY
    ) -> None:
        path = directory / f"clients-{size}.sqlite3"
        self.trees = ClientTreeStore(path, durability=durability)
        self.journals = SQLiteJournalStore(path, durability=durability)
        self.trees.add_device(DEVICE, _tree(size))
        self.size = len(self.trees.records(DEVICE))
        self.before = self.trees.records(DEVICE)
        self.session = self.trees.session(DEVICE, OWNER)
        self.account = _account(DMS2)
        self.names = count()

    def operation(self) -> None:
        journal = self.journals.open(f"op-{next(self.names)}", DEVICE, OWNER)
        fired(create_account(self.session, journal, self.account))
        fired(grant_rights(self.session, journal, TARGET, DMS2))
        fired(rollback(self.session, journal))

    def round(self) -> float:
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < ROUND_SECONDS:
            self.operation()
            done += 1
        return done / (time.perf_counter() - start)

    def close(self) -> None:
        self.trees.close()
        self.journals.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durability", choices=DURABILITIES, default=DEFAULT_DURABILITY)
    durability: Durability = parser.parse_args().durability
    with tempfile.TemporaryDirectory() as directory:
        benches = {name: Bench(Path(directory), size, durability) for name, size in SIZES.items()}
        for name, bench in benches.items():
            print(f"tree {name}: {bench.size} nodes")
            bench.operation()  # warm-up
        best = dict.fromkeys(SIZES, 0.0)
        for _ in range(ROUNDS):
            for name, bench in benches.items():
                best[name] = max(best[name], bench.round())
        for name, bench in benches.items():
            assert bench.trees.records(DEVICE) == bench.before, f"tree {name} not restored"
            assert bench.journals.journal_ids() == []
            bench.close()
    for name in SIZES:
        print(f"{name:>5} nodes: {best[name]:8.1f} DMAcc creations + grants + rollbacks per second")
    growth = best["1k"] / best["100k"]
    print(f"time of one operation, 100 000 nodes over 1 000 nodes: {growth:.2f} (linear: 100)")
    figures = {f"ops_per_s_{name}": round(rate, 1) for name, rate in best.items()}
    figures["growth_1k_to_100k"] = round(growth, 3)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
