"""DMS-1, revocation forced (5.2.5, 5.3.5): removal first, then the optional notice.

    new --Start--> removing --TreeDone/[REVOKED]--> done (revoked)
                            --TreeFailed/[REVOCATION_FAILURE]--> done (compromised)

The session's ``notify`` says whether the notice is sent; it carries the device, the subtree
and this session's fresh identifier (docs/wire.md).
"""

from __future__ import annotations

from dmdelegation.engine import revocation_common as c
from dmdelegation.engine.inputs import Start, TreeDone, TreeFailed
from dmdelegation.engine.machine import Machine
from dmdelegation.engine.model import Process, Role
from dmdelegation.engine.revocation_common import S

MACHINE = Machine(
    role=Role.DMS1,
    process=Process.REVOCATION_FORCED,
    first_state=S.NEW,
    table={
        (S.NEW, Start): c.remove,
        (S.REMOVING, TreeDone): c.removed,
        (S.REMOVING, TreeFailed): c.removal_failed,
    },
    on_restart={S.REMOVING: c.resume_removal},
)
