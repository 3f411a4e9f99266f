"""Tree values and results to and from SyncML items and status codes.

- a leaf's value travels with its format in ``<Meta><Format>``: ``chr`` (``text/plain``),
  ``int`` and ``bool`` as text, binary as ``b64`` (base64 text in XML, opaque in WBXML);
- an interior node is ``node``, and an Add of one always carries ``<Data/>`` (some clients
  refuse an Add without Data);
- a Get of an interior node answers its children's names separated by ``/``;
- a device's status code outside the ones the tree layer knows becomes 500 (the log keeps it).
"""

from __future__ import annotations

import base64
import binascii

from twisted.logger import Logger

from dmdelegation.dm.message import Item, Meta
from dmdelegation.tree.status import Status
from dmdelegation.tree.uri import URI
from dmdelegation.tree.value import INT_MAX, Format, Value

log = Logger()

_KNOWN = {int(s): s for s in Status}


class BadValue(ValueError):
    """A value in a device's answer that does not fit its format (the data is never quoted)."""


def to_status(code: int, *, command: str = "", device_id: str = "") -> Status:
    status = _KNOWN.get(code)
    if status is None:
        log.warn(
            "{device_id} answered {command} with status {code}: taken as 500",
            device_id=device_id,
            command=command,
            code=code,
        )
        return Status.COMMAND_FAILED
    return status


def item_for(uri: URI, value: Value, *, suffix: str = "") -> Item:
    """The ``<Item>`` of an Add or Replace of ``uri`` with ``value``."""
    target = str(uri) + suffix
    if value.format is Format.NODE:
        return Item(target=target, meta=Meta(format="node"), data="")
    if value.format is Format.CHR:
        return Item(target=target, meta=Meta(format="chr", type="text/plain"), data=value.as_text())
    if value.format is Format.INT:
        return Item(target=target, meta=Meta(format="int"), data=str(value.as_int()))
    if value.format is Format.BOOL:
        return Item(target=target, meta=Meta(format="bool"), data="true" if value.data else "false")
    return Item(target=target, meta=Meta(format="b64"), data=value.as_bytes())


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadValue("text data is not UTF-8") from None
    return data


def value_of(item: Item) -> tuple[Value, tuple[str, ...]]:
    """The value (and for an interior node its children) in a Get's ``<Results>`` item."""
    fmt = (item.meta.format if item.meta is not None else None) or "chr"
    if fmt == "node":
        text = _text(item.data)
        children = tuple(name for name in text.split("/") if name)
        return Value.interior(), children
    if fmt == "chr":
        return Value.text(_text(item.data)), ()
    if fmt == "int":
        text = _text(item.data).strip()
        if not text.isdigit() or int(text) > INT_MAX:
            raise BadValue("int data is not a 32-bit unsigned number")
        return Value.integer(int(text)), ()
    if fmt == "bool":
        text = _text(item.data).strip().lower()
        if text not in ("true", "false"):
            raise BadValue("bool data is neither true nor false")
        return Value.boolean(text == "true"), ()
    if fmt in ("b64", "bin"):
        if isinstance(item.data, bytes):
            return Value.binary(item.data), ()
        try:
            return Value.binary(base64.b64decode(_text(item.data), validate=True)), ()
        except binascii.Error:
            raise BadValue("binary data is not base64") from None
    raise BadValue(f"unknown format {fmt[:16]!r}")
