"""Every (role, process) and its machine."""

from __future__ import annotations

from dmdelegation.engine import (
    dms1_bootstrap,
    dms1_dmacc,
    dms1_revoke_asked,
    dms1_revoke_forced,
    dms1_revoke_requested,
    dms2_bootstrap,
    dms2_dmacc,
    dms2_revoke_asked,
    dms2_revoke_forced,
    dms2_revoke_requested,
)
from dmdelegation.engine.machine import Machine
from dmdelegation.engine.model import Process, Role

MACHINES: dict[tuple[Role, Process], Machine] = {
    (m.role, m.process): m
    for m in (
        dms1_dmacc.MACHINE,
        dms1_bootstrap.MACHINE,
        dms1_revoke_asked.MACHINE,
        dms1_revoke_requested.MACHINE,
        dms1_revoke_forced.MACHINE,
        dms2_dmacc.MACHINE,
        dms2_bootstrap.MACHINE,
        dms2_revoke_asked.MACHINE,
        dms2_revoke_requested.MACHINE,
        dms2_revoke_forced.MACHINE,
    )
}


def machine_for(role: Role, process: Process) -> Machine:
    return MACHINES[(role, process)]
