"""What staged transitions do to the registry of delegations, before they are written.

The SQLite store (:mod:`dmdelegation.store.sessions`) writes the commits of a reactor turn at
its flush, but the engine's reads see them at once: a read of the registry is the file's rows
with the staged registry changes applied, in the order they were staged, as the flush will.
"""

from __future__ import annotations

from collections.abc import Iterable

from dmdelegation.core.model import Delegation, Role
from dmdelegation.store.interfaces import Commit


def registry_after(
    found: list[Delegation],
    changes: Iterable[Commit],
    device_id: str | None = None,
    role: Role | None = None,
) -> list[Delegation]:
    """``found`` (the delegations of ``device_id`` and ``role``, ``None`` for any, as the file
    holds them) once ``changes`` (staged commits that register or unregister one) are written."""
    for c in changes:
        for d in (c.register,) if c.register is not None else ():
            if device_id in (None, d.device_id) and role in (None, d.role):
                key = (d.device_id, d.subtree, d.role)
                found = [x for x in found if (x.device_id, x.subtree, x.role) != key]
                found.append(d)
        s = c.session
        if c.unregister and device_id in (None, s.device_id) and role in (None, s.role):
            key = (s.device_id, s.subtree, s.role)
            found = [x for x in found if (x.device_id, x.subtree, x.role) != key]
    return found
