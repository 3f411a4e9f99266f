from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dmdelegation.store.throwaway import ThrowawayPostgres

from .helpers import Client, provisioned
from .journal_backends import JournalBackend, PostgresBackend, SQLiteBackend


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    opened = provisioned(tmp_path)
    yield opened
    opened.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def journals(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JournalBackend]:
    """The undo journal store on each backend (the contract suite runs over both)."""
    backend: JournalBackend
    if request.param == "sqlite":
        backend = SQLiteBackend(tmp_path)
    else:
        server: ThrowawayPostgres = request.getfixturevalue("postgres")
        backend = PostgresBackend(server.fresh_url())
    yield backend
    backend.close()
