"""A throw-away PostgreSQL cluster for the whole run, started on first use (``make test``
installs the server when missing; a run that needs it and cannot have it fails, never skips)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dmdelegation.store.throwaway import ThrowawayPostgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres()
    try:
        yield server.start()
    finally:
        server.stop()
