"""DMS-1, delegation by the DMAcc approach (5.2.1, 5.3.1), started by either server.

new --Start--> requesting --RESP(ack)--> await-bootstrap            (DMS-1 starts)
new --PolicyDecided(accept)/RESP--> await-bootstrap                 (DMS-2 starts)
await-bootstrap --BOOTSTRAP_CONFIRMED--> preparing [create DMS-2's DMAcc unless the client
    is bootstrapped, grant the subtree, NoAutoInitialSession, own DMAcc deleted if full]
preparing --TreeDone/PREPARED--> await-confirmed --CONFIRMED--> done (delegated)
any failure --> undoing [journal rollback] --> done (failed), DELEGATION_FAILURE unless the
    peer sent one
"""

from __future__ import annotations

from dmdelegation.engine import dms1_common as c
from dmdelegation.engine.dms1_common import S
from dmdelegation.engine.effects import ChangeClient
from dmdelegation.engine.effects import TreeChange as T
from dmdelegation.engine.inputs import (
    PolicyDecided,
    Received,
    Start,
    TreeDone,
)
from dmdelegation.engine.machine import Context, Machine, Transition, Unacceptable, busy
from dmdelegation.engine.model import Process, Role, Session
from dmdelegation.protocol import (
    BootstrapConfirmed,
    DelegationConfirmed,
    DelegationResponse,
)


def bootstrap_confirmed(session: Session, inp: Received, ctx: Context) -> Transition:
    message = inp.message
    assert isinstance(message, BootstrapConfirmed)
    if not 200 <= message.reason_code < 300:
        return c.fail(
            session, message.reason_code, f"{session.peer} could not bootstrap", notify=False
        )
    if message.is_client_bootstrapped is None:
        raise Unacceptable("BOOTSTRAP_CONFIRMED of the DMAcc approach lacks isClientBootstapped")
    if not message.is_client_bootstrapped and message.dmacc is None:
        raise Unacceptable(
            "BOOTSTRAP_CONFIRMED says the client is not bootstrapped but has no DMAcc"
        )
    if message.is_client_bootstrapped and message.dmacc is not None:
        raise Unacceptable("BOOTSTRAP_CONFIRMED says the client is bootstrapped and sends a DMAcc")
    if message.dmacc is not None and message.dmacc.server_id != session.peer:
        raise Unacceptable(
            f"the DMAcc is for ServerID {message.dmacc.server_id!r}, not the peer {session.peer!r}"
        )
    return Transition(
        busy(session, S.PREPARING).to(S.PREPARING, touched_client=True),
        (ChangeClient(T.PREPARE_DMACC, dmacc=message.dmacc),),
    )


WAITS = (S.AWAIT_BOOTSTRAP, S.AWAIT_CONFIRMED)
BUSY = (S.PREPARING,)


MACHINE = Machine(
    role=Role.DMS1,
    process=Process.DELEGATION_DMACC,
    first_state=S.NEW,
    table={
        (S.NEW, Start): c.start,
        (S.NEW, PolicyDecided): c.answer_peer(S.AWAIT_BOOTSTRAP),
        (S.REQUESTING, DelegationResponse): c.responded(S.AWAIT_BOOTSTRAP, "peer"),
        (S.AWAIT_BOOTSTRAP, BootstrapConfirmed): bootstrap_confirmed,
        (S.PREPARING, TreeDone): c.prepared,
        (S.AWAIT_CONFIRMED, DelegationConfirmed): c.confirmed,
        **c.failure_rows(WAITS, BUSY, (S.REQUESTING,)),
    },
    on_restart={
        S.REQUESTING: c.resume_with(c.request_again),
        S.PREPARING: c.resume_undo,
        S.UNDOING: c.resume_undo,
    },
)
