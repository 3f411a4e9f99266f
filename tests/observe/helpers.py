"""Two engines back to back (tests.engine.harness) with the operator's view attached: metrics
on both, an expiry watch on DMS-1, and the admin API of each in memory."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from treq.testing import StubTreq

from dmdelegation.ops.expiry import ExpiryWatch
from dmdelegation.ops.metrics import EngineMetrics
from dmdelegation.store.sessions import SessionStore
from dmdelegation.tree import DMACC_ROOT, URI
from dmdelegation.web.admin import Admin
from tests.engine.harness import DEVICE, DMS1, DMS2, Pair, fired

BASE = "http://admin.invalid"


class Observed(Pair):
    def __init__(self, tmp: Path, **kw: Any) -> None:
        super().__init__(tmp, **kw)
        self.watch: ExpiryWatch | None = None
        self.restart(DMS1)
        self.restart(DMS2)

    def restart(self, server_id: str) -> None:
        """Stop the engine (and DMS-1's expiry watch) and build it again on the same files,
        with new metrics (counts start again, as in a new process)."""
        old = self.dms1 if server_id == DMS1 else self.dms2
        if server_id == DMS1 and self.watch is not None:
            self.watch.stop()
        old.stop()
        old.store.close()
        store = SessionStore(self.tmp / f"{server_id}.sqlite3")
        metrics = EngineMetrics(store)
        engine = self.build(server_id, store=store, observers=[metrics])
        if server_id == DMS1:
            self.dms1, self.metrics1 = engine, metrics
            self.watch = ExpiryWatch(engine, self.clock, retry=5)
            self.watch.start()
        else:
            self.dms2, self.metrics2 = engine, metrics

    def admin(self, server_id: str = DMS1) -> AdminClient:
        engine = self.dms1 if server_id == DMS1 else self.dms2
        metrics = self.metrics1 if server_id == DMS1 else self.metrics2
        watch = self.watch if server_id == DMS1 else None
        admin = Admin(engine, self.clients, self.clock, metrics=metrics, expiry=watch)
        return AdminClient(admin, self.clock)

    def secrets(self, server_id: str) -> list[str]:
        """The credentials of ``server_id``'s account on the device, as stored there."""
        found = []
        for r in self.clients.records(DEVICE, DMACC_ROOT):
            if r.uri.name in ("AAuthSecret", "AAuthData") and r.value.data:
                account_uri = URI.parse("/".join(str(r.uri).split("/")[:3]))  # ./DMAcc/<X>
                account = self.clients.records(DEVICE, account_uri)
                if any(a.uri.name == "ServerID" and a.value.data == server_id for a in account):
                    data = r.value.data
                    found.append(data.hex() if isinstance(data, bytes) else str(data))
                    if isinstance(data, bytes):
                        found.append(base64.b64encode(data).decode())
        return found


class AdminClient:
    def __init__(self, admin: Admin, clock: Any) -> None:
        self.stub: Any = StubTreq(admin)
        self.clock = clock

    def raw(self, method: str, path: str, body: Any = None) -> tuple[int, bytes, str]:
        data = json.dumps(body).encode() if body is not None else None
        d = self.stub.request(method, BASE + path, data=data)
        self.stub.flush()
        self.clock.advance(0)  # the reactor turn ends: the group commit runs
        self.stub.flush()
        response = fired(d)
        content = self.stub.content(response)
        self.stub.flush()
        kind = response.headers.getRawHeaders(b"content-type", [b""])[0].decode()
        return response.code, fired(content), kind

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        code, content, _ = self.raw(method, path, body)
        return code, json.loads(content)


__all__ = ["DEVICE", "DMS1", "DMS2", "AdminClient", "Observed"]
