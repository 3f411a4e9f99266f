"""A tree as text for operators: one line per node with its format, value and own ACL.

Credentials (`dmdelegation.tree.secrets`) are always shown as a fixed mask, whatever their length.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable

from dmdelegation.tree.secrets import MASK, is_secret
from dmdelegation.tree.storage import NodeRecord
from dmdelegation.tree.value import Format


def display_value(record: NodeRecord) -> str | None:
    """The value as an operator sees it; None for an interior node."""
    value = record.value
    if value.format is Format.NODE:
        return None
    if is_secret(record.uri):
        return MASK
    if value.format is Format.BIN:
        return "b64:" + base64.b64encode(value.as_bytes()).decode("ascii")
    if value.format is Format.BOOL:
        return "true" if value.as_bool() else "false"
    if value.format is Format.INT:
        return str(value.as_int())
    return json.dumps(value.as_text(), ensure_ascii=False)


def display_lines(records: Iterable[NodeRecord]) -> list[str]:
    lines = []
    for record in records:
        shown = display_value(record)
        value = "" if shown is None else f" = {shown}"
        acl = record.acl.render() if not record.acl.is_empty else "(inherited)"
        lines.append(f"{record.uri} [{record.value.format.value}]{value}  ACL: {acl}")
    return lines
