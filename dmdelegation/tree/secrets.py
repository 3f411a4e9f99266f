"""Which nodes hold credentials: their values never reach a log, an error, a repr or an operator."""

from __future__ import annotations

from dmdelegation.tree.uri import URI

SECRET_NODE_NAMES = frozenset({"AAuthSecret", "AAuthData"})
MASK = "********"


def is_secret(uri: URI) -> bool:
    """True for a node named like a DMAcc credential, wherever it sits in the tree."""
    return uri.name in SECRET_NODE_NAMES
