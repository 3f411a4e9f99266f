"""DMS-2, delegation by the DMAcc approach (5.2.1, 5.3.1), started by either server.

new --PolicyDecided(accept)/RESP--> supplying                       (DMS-1 starts)
new --Start--> requesting --RESP(ack)--> supplying                  (DMS-2 starts)
supplying --BootstrapSupplied/BOOTSTRAP_CONFIRMED--> await-prepared
await-prepared --PREPARED--> opening [DM session with the client] --DutyDone/CONFIRMED--> done
supplying|await-prepared --BOOTSTRAP_SRV_URL_REQ--> the Bootstrap Server URL approach (a
    DMS-1 that did not announce its method; docs/wire.md)
any failure --> done (failed), DELEGATION_FAILURE unless the peer sent one; device forgotten
"""

from __future__ import annotations

from dmdelegation.engine import dms2_common as c
from dmdelegation.engine import messages_out as out
from dmdelegation.engine.dms2_common import S
from dmdelegation.engine.effects import CancelOutbox, Duty, Perform, Send
from dmdelegation.engine.inputs import (
    BootstrapSupplied,
    DutyDone,
    PolicyDecided,
    Received,
    Start,
)
from dmdelegation.engine.machine import Context, Machine, Transition, busy, waiting
from dmdelegation.engine.model import Process, Role, Session
from dmdelegation.protocol import (
    BootstrapServerURLRequest,
    DelegationPrepared,
    DelegationResponse,
)


def supplied(session: Session, inp: BootstrapSupplied, ctx: Context) -> Transition:
    return Transition(
        waiting(session, S.AWAIT_PREPARED, "peer", ctx),
        (Send(out.bootstrap_confirmed(session, inp.dmacc)),),
    )


def switch_to_bootstrap_url(session: Session, inp: Received, ctx: Context) -> Transition:
    """DMS-1 follows the Bootstrap Server URL approach after all: so do we."""
    nxt = busy(session, S.SUPPLYING_URL).to(S.SUPPLYING_URL, process=Process.DELEGATION_BOOTSTRAP)
    return Transition(nxt, (CancelOutbox(), Perform(Duty.SUPPLY_URL)))


SUPPLY = c.perform(Duty.SUPPLY_BOOTSTRAP)
OPEN = (S.REQUESTING, S.SUPPLYING, S.AWAIT_PREPARED, S.OPENING)

MACHINE = Machine(
    role=Role.DMS2,
    process=Process.DELEGATION_DMACC,
    first_state=S.NEW,
    table={
        (S.NEW, PolicyDecided): c.answer_peer(S.SUPPLYING, None, SUPPLY),
        (S.NEW, Start): c.start,
        (S.REQUESTING, DelegationResponse): c.responded(S.SUPPLYING, None, SUPPLY),
        (S.SUPPLYING, BootstrapSupplied): supplied,
        (S.SUPPLYING, BootstrapServerURLRequest): switch_to_bootstrap_url,
        (S.AWAIT_PREPARED, BootstrapServerURLRequest): switch_to_bootstrap_url,
        (S.AWAIT_PREPARED, DelegationPrepared): c.prepared,
        (S.OPENING, DutyDone): c.session_opened,
        **c.failure_rows((S.AWAIT_PREPARED,), (S.SUPPLYING, S.OPENING), OPEN),
    },
    on_restart={
        S.REQUESTING: c.resume_with(c.request_again),
        S.SUPPLYING: c.resume_with(SUPPLY),
        S.OPENING: c.resume_with(c.perform(Duty.OPEN_DM_SESSION)),
    },
)
