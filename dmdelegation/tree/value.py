"""Node formats and typed node values.

A leaf holds a value of format ``chr`` (text), ``int`` (32-bit unsigned integer), ``bool`` or
``bin`` (bytes); an interior node has format ``node`` and no value. A `Value`'s ``repr`` never shows
its data: the same type carries credentials (``AAuthSecret``, ``AAuthData``).
"""

from __future__ import annotations

import enum

from attrs import frozen

INT_MAX = 2**32 - 1

Data = str | int | bool | bytes | None


class Format(enum.StrEnum):
    CHR = "chr"
    INT = "int"
    BOOL = "bool"
    BIN = "bin"
    NODE = "node"


class ValueFormatError(ValueError):
    """A value that does not fit its format; the message names the format, never the data."""


def _check(format: Format, data: Data) -> None:
    if format is Format.NODE:
        ok = data is None
    elif format is Format.CHR:
        ok = isinstance(data, str) and "\x00" not in data
    elif format is Format.INT:
        ok = type(data) is int and 0 <= data <= INT_MAX
    elif format is Format.BOOL:
        ok = type(data) is bool
    else:
        ok = isinstance(data, bytes)
    if not ok:
        raise ValueFormatError(f"not a valid {format.value} value ({type(data).__name__})")


@frozen
class Value:
    """The format of a node and, for a leaf, its data."""

    format: Format
    data: Data = None

    def __attrs_post_init__(self) -> None:
        _check(self.format, self.data)

    def __repr__(self) -> str:
        return f"Value({self.format.value})"

    @property
    def is_interior(self) -> bool:
        return self.format is Format.NODE

    @classmethod
    def interior(cls) -> Value:
        return cls(Format.NODE)

    @classmethod
    def text(cls, data: str) -> Value:
        return cls(Format.CHR, data)

    @classmethod
    def integer(cls, data: int) -> Value:
        return cls(Format.INT, data)

    @classmethod
    def boolean(cls, data: bool) -> Value:
        return cls(Format.BOOL, data)

    @classmethod
    def binary(cls, data: bytes) -> Value:
        return cls(Format.BIN, data)

    def as_text(self) -> str:
        if not isinstance(self.data, str):
            raise ValueFormatError(f"a {self.format.value} value is not text")
        return self.data

    def as_int(self) -> int:
        if self.format is not Format.INT or not isinstance(self.data, int):
            raise ValueFormatError(f"a {self.format.value} value is not an int")
        return self.data

    def as_bool(self) -> bool:
        if not isinstance(self.data, bool):
            raise ValueFormatError(f"a {self.format.value} value is not a bool")
        return self.data

    def as_bytes(self) -> bytes:
        if not isinstance(self.data, bytes):
            raise ValueFormatError(f"a {self.format.value} value is not bin")
        return self.data
