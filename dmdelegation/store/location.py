"""Where the engine's state lives, from the configuration's ``store.url``.

- absent: SQLite, ``<state_dir>/sessions.sqlite3`` (the embedded default, one instance);
- ``sqlite:///absolute/path`` or a plain path (relative to the configuration file): SQLite there;
- ``postgresql://...`` (or ``postgres://``): a libpq URL; PostgreSQL, shared by every instance
  of a deployment (``docs/scaling.md``).

A URL may carry a password: only :func:`shown` of it is ever logged or put in an error.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from attrs import frozen

POSTGRES_SCHEMES = ("postgresql", "postgres")
DEFAULT_LEASE = 10.0  # seconds an instance may miss renewing its lease before it is taken for dead


@frozen
class StoreLocation:
    """``url`` for PostgreSQL, else ``path`` for SQLite."""

    path: Path | None = None
    url: str | None = None

    @property
    def shared(self) -> bool:
        return self.url is not None


def parse_location(text: str, base: Path) -> StoreLocation:
    """``text`` as written in ``store.url``; ValueError (never quoting a password) if unusable."""
    scheme = urlsplit(text).scheme.lower()
    if scheme in POSTGRES_SCHEMES:
        parts = urlsplit(text)
        if not (parts.hostname or "host=" in parts.query) or not parts.path.strip("/"):
            raise ValueError(
                f"expected postgresql://[user[:password]@]host[:port]/database, got {shown(text)!r}"
            )
        return StoreLocation(url=text)
    if scheme == "sqlite":
        path = text[len("sqlite://") :] if text.startswith("sqlite://") else ""
        if not path.startswith("/"):
            raise ValueError(f"expected sqlite:///absolute/path, got {text!r}")
        return StoreLocation(path=Path(path))
    if scheme and len(scheme) > 1:  # not a path (a Windows drive letter is one letter)
        raise ValueError(
            f"unknown store {scheme!r}: expected postgresql://..., sqlite:///... or a path"
        )
    return StoreLocation(path=(base / text).resolve())


def shown(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}{port}", parts.path, parts.query, ""))
