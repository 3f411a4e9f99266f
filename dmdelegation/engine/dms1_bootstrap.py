"""DMS-1, delegation by the Bootstrap Server URL approach (5.2.2, 5.3.2), started by either.

new --Start--> requesting --RESP(ack)--> asking-url                  (DMS-1 starts)
new --PolicyDecided(accept)/RESP--> asking-url                       (DMS-2 starts)
asking-url --DELIVERY--> adding-entry [a Bootstrap Config entry with DMS-2's URL]
adding-entry --TreeDone--> await-bootstrap (the client bootstraps from DMS-2's server)
await-bootstrap --BOOTSTRAP_CONFIRMED--> preparing [grant the subtree, NoAutoInitialSession,
    own DMAcc deleted if full]
preparing --TreeDone/PREPARED--> await-confirmed --CONFIRMED--> done (delegated)
any failure --> undoing [journal rollback] --> done (failed)
"""

from __future__ import annotations

from dmdelegation.engine import dms1_common as c
from dmdelegation.engine import messages_out as out
from dmdelegation.engine.dms1_common import S
from dmdelegation.engine.effects import ChangeClient, Request
from dmdelegation.engine.effects import TreeChange as T
from dmdelegation.engine.inputs import (
    PolicyDecided,
    Received,
    Start,
    TreeDone,
)
from dmdelegation.engine.machine import Context, Machine, Transition, busy, waiting
from dmdelegation.engine.model import Process, Role, Session
from dmdelegation.protocol import (
    BootstrapConfirmed,
    BootstrapServerURLDelivery,
    DelegationConfirmed,
    DelegationResponse,
)


def _ask_url(session: Session, ctx: Context) -> Request:
    return Request(out.url_request(session))


def url_delivered(session: Session, inp: Received, ctx: Context) -> Transition:
    message = inp.message
    assert isinstance(message, BootstrapServerURLDelivery)
    if not 200 <= message.reason_code < 300:
        return c.fail(session, message.reason_code, f"{session.peer} gave no bootstrap URL")
    return Transition(
        busy(session, S.ADDING_ENTRY).to(S.ADDING_ENTRY, touched_client=True),
        (ChangeClient(T.ADD_BOOTSTRAP_ENTRY, url=message.bootstrap_url),),
    )


def entry_added(session: Session, _: TreeDone, ctx: Context) -> Transition:
    if session.aborted:
        return c.fail(session, session.reason_code, session.reason, notify=session.notify)
    return Transition(waiting(session, S.AWAIT_BOOTSTRAP, "client_bootstrap", ctx))


def client_bootstrapped(session: Session, inp: Received, ctx: Context) -> Transition:
    message = inp.message
    assert isinstance(message, BootstrapConfirmed)
    if not 200 <= message.reason_code < 300:
        reason = f"the client did not bootstrap from {session.peer}"
        return c.fail(session, message.reason_code, reason, notify=False)
    return Transition(busy(session, S.PREPARING), (ChangeClient(T.GRANT),))


WAITS = (S.AWAIT_BOOTSTRAP, S.AWAIT_CONFIRMED)
BUSY = (S.ADDING_ENTRY, S.PREPARING)

MACHINE = Machine(
    role=Role.DMS1,
    process=Process.DELEGATION_BOOTSTRAP,
    first_state=S.NEW,
    table={
        (S.NEW, Start): c.start,
        (S.NEW, PolicyDecided): c.answer_peer(S.ASKING_URL, None, _ask_url),
        (S.REQUESTING, DelegationResponse): c.responded(S.ASKING_URL, None, _ask_url),
        (S.ASKING_URL, BootstrapServerURLDelivery): url_delivered,
        (S.ADDING_ENTRY, TreeDone): entry_added,
        (S.AWAIT_BOOTSTRAP, BootstrapConfirmed): client_bootstrapped,
        (S.PREPARING, TreeDone): c.prepared,
        (S.AWAIT_CONFIRMED, DelegationConfirmed): c.confirmed,
        **c.failure_rows(WAITS, BUSY, (S.REQUESTING, S.ASKING_URL)),
    },
    on_restart={
        S.REQUESTING: c.resume_with(c.request_again),
        S.ASKING_URL: c.resume_with(_ask_url),
        S.ADDING_ENTRY: c.resume_undo,
        S.PREPARING: c.resume_undo,
        S.UNDOING: c.resume_undo,
    },
)
