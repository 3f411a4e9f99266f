"""Reading the daemon's TOML configuration a table at a time: `TableReader` gives typed access
to one table and names the key in every error, `ConfigError` is the one-line refusal
(``peers[1].url: ...``), and the readers of values several sections share (an https URL, a
positive integer, the ``[timeouts]`` table). `dmdelegation.daemon.config` builds the
configuration with them (and re-exports `ConfigError`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from dmdelegation.engine.machine import Timeouts


class ConfigError(ValueError):
    """A configuration that cannot work; the message names the key."""


class TableReader:
    """Typed access to a TOML table, naming the key in every error."""

    def __init__(self, data: Mapping[str, Any], where: str, base: Path) -> None:
        self.data = data
        self.where = where
        self.base = base
        self.seen: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.where}{key}"

    def get(self, key: str, kind: type, default: Any = ..., *, name: str | None = None) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if default is ...:
                raise ConfigError(self._missing(key))
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"{self._key(key)}: expected {name or kind.__name__}")
        return value

    def _missing(self, key: str) -> str:
        """A required key is absent: name the key the user wrote instead, when one looks like
        it (``tls.cert`` for ``tls.certificate``), not only the missing one."""
        unread = [k for k in self.data if k not in self.seen]
        near = [k for k in unread if k.startswith(key) or key.startswith(k)]
        near += difflib.get_close_matches(key, unread, n=1, cutoff=0.6)
        if near:
            return f"{self._key(near[0])}: unknown key ({self._key(key)} is required)"
        return f"{self._key(key)}: required"

    def text(self, key: str, default: Any = ...) -> Any:
        value = self.get(key, str, default, name="a string")
        if isinstance(value, str) and not value.strip():
            raise ConfigError(f"{self._key(key)}: must not be empty")
        return value

    def path(self, key: str, *, must_exist: bool = True, default: Any = ...) -> Any:
        value = self.text(key, default)
        if not isinstance(value, str):
            return value
        path = (self.base / value).resolve()
        try:
            present = path.exists()
        except OSError as e:  # a folder on the way that cannot be entered
            raise ConfigError(f"{self._key(key)}: {path}: {e.strerror}") from None
        if must_exist and not present:
            raise ConfigError(f"{self._key(key)}: {path} does not exist")
        return path

    def texts(self, key: str, default: Any = ...) -> tuple[str, ...]:
        value = self.get(key, list, default, name="a list of strings")
        if not isinstance(value, list):
            return tuple(value)
        if not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(f"{self._key(key)}: expected a list of non-empty strings")
        return tuple(value)

    def table(self, key: str, default: Any = ...) -> TableReader:
        value = self.get(key, dict, {} if default is not ... else ..., name="a table")
        return TableReader(value, f"{self._key(key)}.", self.base)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise ConfigError(f"{self._key(unknown[0])}: unknown key")


def https_url(reader: TableReader, key: str) -> str:
    url = reader.text(key)
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(f"{reader.where}{key}: expected an https:// URL, got {url!r}")
    return str(url)


def read_timeouts(reader: TableReader) -> Timeouts:
    defaults = Timeouts()
    values = {}
    for name in (f.name for f in attrs.fields(Timeouts)):
        value = reader.get(name, float, getattr(defaults, name), name="a number of seconds")
        if value <= 0:
            raise ConfigError(f"{reader.where}{name}: must be positive")
        values[name] = value
    reader.done()
    return Timeouts(**values)


def positive_int(reader: TableReader, key: str, default: int) -> int:
    value: int = reader.get(key, int, default, name="an integer")
    if value < 1:
        raise ConfigError(f"{reader.where}{key}: must be at least 1")
    return value
