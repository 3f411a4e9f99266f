"""DMS-1, revocation requested by DMS-2 (5.2.4, 5.3.4): removal without any wait.

new --REVOCATION_REQ--> removing --TreeDone/REVOKED--> done (revoked)
                                 --TreeFailed/REVOCATION_FAILURE--> done (compromised)
"""

from __future__ import annotations

from dmdelegation.engine import revocation_common as c
from dmdelegation.engine.inputs import TreeDone, TreeFailed
from dmdelegation.engine.machine import Machine
from dmdelegation.engine.model import Process, Role
from dmdelegation.engine.revocation_common import S
from dmdelegation.protocol import DelegationRevocationRequest

MACHINE = Machine(
    role=Role.DMS1,
    process=Process.REVOCATION_REQUESTED,
    first_state=S.NEW,
    table={
        (S.NEW, DelegationRevocationRequest): c.remove,
        (S.REMOVING, TreeDone): c.removed,
        (S.REMOVING, TreeFailed): c.removal_failed,
    },
    on_restart={S.REMOVING: c.resume_removal},
)
