"""Management tree URIs: ``.`` is the root, ``./A/B`` a node below it.

A URI is a tuple of node names. In text, segments are separated by ``/`` and every name is written
with percent-escapes for the characters that cannot appear literally: ``%``, ``/``, ``?``, ``#``,
space and any other white space. Names are never empty, ``.`` or ``..``, and never contain a control
character. The depth, the length of a name and the length of the whole URI are bounded.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from attrs import field, frozen

MAX_DEPTH = 32
"""Segments below the root (``./A/B`` has depth 2)."""
MAX_SEGMENT_LENGTH = 128
"""Characters in one node name (decoded)."""
MAX_URI_LENGTH = 2048
"""Characters in the canonical text of a URI."""

_ESCAPED = frozenset("%/?#")
_HEX = frozenset("0123456789abcdefABCDEF")


class URIError(ValueError):
    """A text or a node name that is not a valid tree URI; the message names the fault."""


def _is_control(char: str) -> bool:
    return ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0


def _needs_escape(char: str) -> bool:
    return char in _ESCAPED or char.isspace() or _is_control(char)


@functools.lru_cache(maxsize=65536)
def _escape(name: str) -> str:
    out: list[str] = []
    for char in name:
        if _needs_escape(char):
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
        else:
            out.append(char)
    return "".join(out)


def _unescape(segment: str) -> str:
    out = bytearray()
    index = 0
    while index < len(segment):
        char = segment[index]
        if char == "%":
            code = segment[index + 1 : index + 3]
            if len(code) != 2 or not set(code) <= _HEX:
                raise URIError(
                    f"'%' at offset {index} of {segment!r} is not followed by two hex digits"
                )
            out.append(int(code, 16))
            index += 3
            continue
        if char in "?#":
            raise URIError(f"{char!r} must be escaped in a node name (segment {segment!r})")
        if char.isspace() or _is_control(char):
            raise URIError(f"unescaped white space or control character in segment {segment!r}")
        out.extend(char.encode("utf-8"))
        index += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as e:
        raise URIError(f"escapes in segment {segment!r} are not UTF-8") from e


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid node name, else raise `URIError`."""
    if name == "":
        raise URIError("empty node name")
    if name in (".", ".."):
        raise URIError(f"{name!r} is not a node name")
    if len(name) > MAX_SEGMENT_LENGTH:
        raise URIError(f"node name longer than {MAX_SEGMENT_LENGTH} characters")
    if any(_is_control(char) for char in name):
        raise URIError("control character in a node name")
    return name


@functools.lru_cache(maxsize=65536)
def _checked_text(name: str) -> str:
    """``/`` and the escaped text of a valid node name (cached: trees repeat their names)."""
    return "/" + _escape(check_name(name))


def _text_of(base: str, names: tuple[str, ...], depth: int) -> str:
    """The canonical text of the URI ``base`` + ``names`` (``base`` valid, ``depth`` in total);
    checks the new names and the limits."""
    if depth > MAX_DEPTH:
        raise URIError(f"deeper than {MAX_DEPTH} levels")
    text = base + "".join([_checked_text(name) for name in names])
    if len(text) > MAX_URI_LENGTH:
        raise URIError(f"longer than {MAX_URI_LENGTH} characters")
    return text


@frozen(order=True)
class URI:
    """An absolute management tree URI, held as its decoded node names.

    Equality, order and hash are those of ``segments``. The canonical text is computed (and every
    name checked) once, when the URI is made; URIs derived from a valid one (`child`, `parent`,
    `ancestors`) only check what is new.
    """

    segments: tuple[str, ...]
    _text: str = field(init=False, default=".", eq=False, order=False, repr=False)

    def __attrs_post_init__(self) -> None:
        text = _text_of(".", self.segments, len(self.segments)) if self.segments else "."
        object.__setattr__(self, "_text", text)

    @classmethod
    def _derived(cls, segments: tuple[str, ...], text: str) -> URI:
        """A URI whose ``text`` is already known to be the canonical text of valid ``segments``."""
        uri = object.__new__(cls)
        object.__setattr__(uri, "segments", segments)
        object.__setattr__(uri, "_text", text)
        return uri

    @classmethod
    def parse(cls, text: str) -> URI:
        """The URI that ``text`` writes; `URIError` says why when it is not one."""
        if text == ".":
            return ROOT
        return _parse(text)

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"URI({self._text!r})"

    @property
    def is_root(self) -> bool:
        return not self.segments

    @property
    def depth(self) -> int:
        return len(self.segments)

    @property
    def name(self) -> str:
        """The last node name; ``.`` for the root."""
        return self.segments[-1] if self.segments else "."

    @property
    def parent(self) -> URI | None:
        if not self.segments:
            return None
        text = self._text
        return URI._derived(self.segments[:-1], text[: text.rindex("/")])

    def child(self, *names: str) -> URI:
        segments = self.segments + names
        return URI._derived(segments, _text_of(self._text, names, len(segments)))

    def ancestors(self) -> Iterator[URI]:
        """The parent, grandparent, ... up to the root."""
        segments, text = self.segments, self._text
        for end in range(len(segments) - 1, -1, -1):
            text = text[: text.rindex("/")]
            yield URI._derived(segments[:end], text)

    def is_within(self, other: URI) -> bool:
        """True when this URI is ``other`` or below it."""
        return self.segments[: len(other.segments)] == other.segments


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> URI:
    if not text.startswith("./"):
        raise URIError(f"{text[:40]!r} does not start with './'")
    if len(text) > MAX_URI_LENGTH:
        raise URIError(f"longer than {MAX_URI_LENGTH} characters")
    raw = text[2:].split("/")
    if "" in raw:
        raise URIError(f"empty segment in {text[:80]!r}")
    return URI(tuple(_unescape(segment) for segment in raw))


ROOT = URI(())
