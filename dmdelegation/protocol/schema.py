"""The XSD of the whole vocabulary, shipped in the package, and the one place that applies it."""

from __future__ import annotations

import re
from importlib.resources import files

from lxml import etree

from dmdelegation.protocol.errors import ProtocolError

SCHEMA_FILE = "delegation.xsd"

SECRET_ELEMENTS = frozenset({"AAuthSecret", "AAuthData"})
"""Elements whose value never appears in a reason, even when the schema's message quotes it."""

_MAX_REASON = 300
_ELEMENT = re.compile(r"Element '([^']+)'")
_FACET = re.compile(r"\[facet '([^']+)'\]")


def _load() -> etree.XMLSchema:
    source = files("dmdelegation.protocol").joinpath(SCHEMA_FILE).read_bytes()
    return etree.XMLSchema(etree.fromstring(source))


SCHEMA = _load()


def schema_source() -> bytes:
    """The XSD text, for operators and peers (``dmdelegation message schema``)."""
    return files("dmdelegation.protocol").joinpath(SCHEMA_FILE).read_bytes()


def schema_error(log: etree._ListErrorLog) -> ProtocolError:
    """Turn the first schema error into a :class:`ProtocolError` that names the element."""
    error = log[0]
    message = str(error.message)
    named = _ELEMENT.match(message)
    element = named.group(1) if named else None
    if element in SECRET_ELEMENTS:
        facet = _FACET.search(message)
        message = f"Element '{element}': the value is not valid" + (
            f" [facet '{facet.group(1)}']" if facet else ""
        )
    if len(message) > _MAX_REASON:
        message = message[: _MAX_REASON - 3] + "..."
    return ProtocolError(f"line {error.line}: {message}", 400, element)


def check(root: etree._Element) -> None:
    """Raise :class:`ProtocolError` unless ``root`` is a valid document of the vocabulary."""
    if not SCHEMA.validate(root):
        raise schema_error(SCHEMA.error_log)
