"""Bootstrap Config entries (``./BootConfig/<X>``): a server's Bootstrap Server URL for the client.

The Server Delegation Protocol only says "a new entry in the Bootstrap Config MO"; this project
writes one entry as::

    <X>/ServerID       chr   the DM server that the bootstrap is for (DMS-2)
    <X>/BootstrapURL   chr   the Bootstrap Server URL that server delivered
"""

from __future__ import annotations

from attrs import frozen

from dmdelegation.tree.subtree import RelativePath, Subtree, require, require_text
from dmdelegation.tree.uri import URI
from dmdelegation.tree.value import Format, Value

BOOTCONFIG_ROOT = URI(("BootConfig",))
SERVER_ID = "ServerID"
BOOTSTRAP_URL = "BootstrapURL"


@frozen
class BootConfigEntry:
    server_id: str
    bootstrap_url: str


def bootconfig_nodes(entry: BootConfigEntry) -> list[tuple[RelativePath, Value]]:
    """The nodes of ``./BootConfig/<X>`` for ``entry``, parents first."""
    return [
        ((), Value.interior()),
        ((SERVER_ID,), Value.text(entry.server_id)),
        ((BOOTSTRAP_URL,), Value.text(entry.bootstrap_url)),
    ]


def read_bootconfig(nodes: Subtree) -> BootConfigEntry:
    require(nodes, (), Format.NODE)
    return BootConfigEntry(
        server_id=require_text(nodes, (SERVER_ID,)),
        bootstrap_url=require_text(nodes, (BOOTSTRAP_URL,)),
    )
