from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import Client, provisioned


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    opened = provisioned(tmp_path)
    yield opened
    opened.close()
