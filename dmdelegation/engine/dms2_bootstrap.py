"""DMS-2, delegation by the Bootstrap Server URL approach (5.2.2, 5.3.2), started by either.

new --PolicyDecided(accept)/RESP--> await-url-request               (DMS-1 starts)
new --Start--> requesting --RESP(ack)--> await-url-request          (DMS-2 starts)
await-url-request --BOOTSTRAP_SRV_URL_REQ--> supplying-url
supplying-url --URLSupplied/DELIVERY--> await-client-bootstrap [the client bootstraps]
await-client-bootstrap --DutyDone/BOOTSTRAP_CONFIRMED--> await-prepared
await-prepared --PREPARED--> opening --DutyDone/CONFIRMED--> done (delegated)
any failure --> done (failed), DELEGATION_FAILURE unless the peer sent one; device forgotten
"""

from __future__ import annotations

from dmdelegation.engine import dms2_common as c
from dmdelegation.engine import messages_out as out
from dmdelegation.engine.dms2_common import S
from dmdelegation.engine.effects import Duty, Perform, Respond, Send
from dmdelegation.engine.handlers import NOT_COMPLETED
from dmdelegation.engine.inputs import (
    DutyDone,
    PolicyDecided,
    Received,
    Start,
    URLSupplied,
)
from dmdelegation.engine.machine import Context, Machine, Transition, busy, waiting
from dmdelegation.engine.model import Process, Role, Session
from dmdelegation.protocol import (
    BootstrapServerURLRequest,
    DelegationPrepared,
    DelegationResponse,
)


def url_requested(session: Session, inp: Received, ctx: Context) -> Transition:
    return Transition(busy(session, S.SUPPLYING_URL), (Perform(Duty.SUPPLY_URL),))


def url_supplied(session: Session, inp: URLSupplied, ctx: Context) -> Transition:
    return Transition(
        waiting(session, S.AWAIT_CLIENT, "client_bootstrap", ctx),
        (Respond(out.url_delivery(session, inp.url)), Perform(Duty.AWAIT_CLIENT_BOOTSTRAP)),
    )


def client_bootstrapped(session: Session, _: DutyDone, ctx: Context) -> Transition:
    return Transition(
        waiting(session, S.AWAIT_PREPARED, "peer", ctx),
        (Send(out.bootstrap_confirmed(session, None)),),
    )


def resume_lost_answer(session: Session, ctx: Context) -> Transition:
    """Restarted while DMS-1 waited for our URL: that answer is lost, so the process fails."""
    return c.fail(session, NOT_COMPLETED, "restarted before the bootstrap URL was delivered")


OPEN = (
    S.REQUESTING,
    S.AWAIT_URL_REQ,
    S.SUPPLYING_URL,
    S.AWAIT_CLIENT,
    S.AWAIT_PREPARED,
    S.OPENING,
)
WAITS = (S.AWAIT_URL_REQ, S.AWAIT_CLIENT, S.AWAIT_PREPARED)

MACHINE = Machine(
    role=Role.DMS2,
    process=Process.DELEGATION_BOOTSTRAP,
    first_state=S.NEW,
    table={
        (S.NEW, PolicyDecided): c.answer_peer(S.AWAIT_URL_REQ, "peer"),
        (S.NEW, Start): c.start,
        (S.REQUESTING, DelegationResponse): c.responded(S.AWAIT_URL_REQ, "peer"),
        (S.AWAIT_URL_REQ, BootstrapServerURLRequest): url_requested,
        (S.SUPPLYING_URL, URLSupplied): url_supplied,
        (S.AWAIT_CLIENT, DutyDone): client_bootstrapped,
        (S.AWAIT_PREPARED, DelegationPrepared): c.prepared,
        (S.OPENING, DutyDone): c.session_opened,
        **c.failure_rows(WAITS, (S.SUPPLYING_URL, S.AWAIT_CLIENT, S.OPENING), OPEN),
    },
    on_restart={
        S.REQUESTING: c.resume_with(c.request_again),
        S.SUPPLYING_URL: resume_lost_answer,
        S.AWAIT_CLIENT: c.resume_with(c.perform(Duty.AWAIT_CLIENT_BOOTSTRAP)),
        S.OPENING: c.resume_with(c.perform(Duty.OPEN_DM_SESSION)),
    },
)
