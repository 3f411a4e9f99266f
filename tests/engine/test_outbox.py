"""A message leaves from the outbox, and only while it is there: one the session's next
transition cancelled (while its delivery was being retried) is never sent."""

from __future__ import annotations

from pathlib import Path

from dmdelegation.engine.model import Process
from dmdelegation.protocol import BootstrapServerURLDelivery, BootstrapServerURLRequest

from .harness import DEVICE, DMS1, DMS2, SUBTREE, Pair, fired


def attempts(pair: Pair, root: str) -> int:
    return sum(1 for sender, _, r in pair.wire.trace if sender == DMS2 and r == root)


def test_a_cancelled_message_is_not_sent_when_its_retry_comes(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    pair.wire.drop.add("BOOTSTRAP_CONFIRMED")  # its first delivery fails: a retry is due
    session = pair.dms2.request_delegation(DEVICE, DMS1, SUBTREE)
    pair.settle_until(lambda: attempts(pair, "BOOTSTRAP_CONFIRMED") == 1)
    assert [i.session_id for i in pair.dms2.store.outbox()] == [session.session_id]
    pair.wire.drop.clear()  # the retry would get through
    # DMS-1 asks for the Bootstrap Server URL instead: DMS-2 switches, cancelling its outbox.
    switch = BootstrapServerURLRequest(reason_code=200, session_id=session.session_id)
    assert isinstance(fired(pair.dms2.receive(DMS1, switch)), BootstrapServerURLDelivery)
    now = pair.dms2.store.get(session.session_id)
    assert now is not None
    assert now.process is Process.DELEGATION_BOOTSTRAP
    assert pair.dms2.store.outbox() == []
    pair.settle(seconds=2 * pair.timeouts.delivery)
    assert attempts(pair, "BOOTSTRAP_CONFIRMED") == 1  # the retry found nothing to send
