"""What staged transitions do before they are written: to the registry of delegations, and
where the device commands recorded meanwhile fall among their sessions' log lines.

The SQLite store (:mod:`dmdelegation.store.sessions`) writes the commits of a reactor turn at
its flush, but the engine's reads see them at once: a read of the registry is the file's rows
with the staged registry changes applied, in the order they were staged, as the flush will.
"""

from __future__ import annotations

from collections.abc import Iterable

from dmdelegation.core.model import Delegation, Role
from dmdelegation.store.interfaces import Commit, DeviceCommand


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


def placed(
    commands: list[tuple[int, DeviceCommand]], staged: list[Commit], before: dict[str, int]
) -> list[tuple[str, str, str, int | None, float, int]]:
    """The rows of ``commands`` (each with the number of ``staged`` commits before it), each
    placed after its session's log lines: the ``before`` ones, and those of the commits staged
    ahead of it."""
    rows = []
    for position, c in commands:
        ahead = sum(
            1 for commit in staged[:position] for x in commit.log if x.session_id == c.session_id
        )
        rows.append((c.session_id, c.command, c.uri, c.status, c.at, before[c.session_id] + ahead))
    return rows
