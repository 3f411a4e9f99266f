"""DMS-2, revocation forced by DMS-1 (5.2.5, 5.3.5): the notice arrives after the fact.

new --REVOKED--> done (revoked) [forget the device, drop the delegation]
"""

from __future__ import annotations

from dmdelegation.engine import revocation_common as c
from dmdelegation.engine.machine import Machine
from dmdelegation.engine.model import Process, Role
from dmdelegation.engine.revocation_common import S
from dmdelegation.protocol import DelegationRevoked

MACHINE = Machine(
    role=Role.DMS2,
    process=Process.REVOCATION_FORCED,
    first_state=S.NEW,
    table={(S.NEW, DelegationRevoked): c.forgotten},
)
