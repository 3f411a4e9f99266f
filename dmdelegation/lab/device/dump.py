"""The simulated device's stored tree as text: `dump_lines` canonical (for comparing two trees),
`show_lines` for reading.

A dump has one line per node, in URI order (the canonical URI texts sorted), five fields
separated by tabs::

    URI  Format  Type  ACL  value

``Type`` is the MIME type the device reports for the node (``text/plain`` for ``chr``, ``-``
otherwise: the tree keeps no other), ``ACL`` the node's own ACL (``-`` when it inherits), the
value JSON text for ``chr``, decimal for ``int``, ``true``/``false``, ``b64:`` and base64 for
``bin``, ``-`` for an interior node. A credential leaf (``AAuthSecret``, ``AAuthData``) is printed
as ``sha256:`` and the hex SHA-256 of its bytes (UTF-8 for text): two dumps tell whether the
secrets are equal without showing them. Two dumps are byte-identical exactly when the stored
trees are.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable

from dmdelegation.tree.display import display_lines
from dmdelegation.tree.secrets import is_secret
from dmdelegation.tree.storage import NodeRecord
from dmdelegation.tree.value import Format, Value


def _bytes(value: Value) -> bytes:
    if value.format is Format.BIN:
        return value.as_bytes()
    if value.format is Format.CHR:
        return value.as_text().encode("utf-8")
    return _plain(value).encode("utf-8")


def _plain(value: Value) -> str:
    if value.format is Format.BOOL:
        return "true" if value.as_bool() else "false"
    if value.format is Format.INT:
        return str(value.as_int())
    if value.format is Format.BIN:
        return "b64:" + base64.b64encode(value.as_bytes()).decode("ascii")
    return json.dumps(value.as_text(), ensure_ascii=False)


def dump_value(record: NodeRecord) -> str:
    value = record.value
    if value.format is Format.NODE:
        return "-"
    if is_secret(record.uri):
        return "sha256:" + hashlib.sha256(_bytes(value)).hexdigest()
    return _plain(value)


def dump_lines(records: Iterable[NodeRecord]) -> list[str]:
    """One canonical line per node, in URI order."""
    lines = []
    for record in sorted(records, key=lambda r: str(r.uri)):
        kind = "text/plain" if record.value.format is Format.CHR else "-"
        acl = "-" if record.acl.is_empty else record.acl.render()
        fields = (str(record.uri), record.value.format.value, kind, acl, dump_value(record))
        lines.append("\t".join(fields))
    return lines


def show_lines(records: Iterable[NodeRecord]) -> list[str]:
    """The tree as ``dmdelegation tree show`` prints one (secrets masked)."""
    return display_lines(records)
