"""What the daemon does with the undo journals of ended processes, at start and with each
pruning (SQLite only: on PostgreSQL the instances share the journals, and none tidies them).

The journal of the process that made a delegation still in force is the delegation's grant
record (`JournaledClientChanges.commit`): it is kept. The commit runs after the delegation's end
is written, so a daemon stopped in between leaves the journal uncommitted: it is committed now,
as the end would have, so the revocation restores exactly what the delegation changed. Every
other journal of an ended process is discarded, with the credentials its before-images may hold
(`SQLiteJournalStore.purge_ended`).
"""

from __future__ import annotations

from attrs import frozen
from twisted.logger import Logger
from twisted.python.failure import Failure

from dmdelegation.client.journal_store import SQLiteJournalStore
from dmdelegation.client.revocation import RECORD_COMPLETE
from dmdelegation.core.model import Outcome, Role
from dmdelegation.engine.interfaces import IClientChanges
from dmdelegation.store.interfaces import ISessionStore

log = Logger()


@frozen
class Settled:
    """The grant records kept (the journals of delegations in force), and the journals
    discarded."""

    kept: list[str]
    discarded: list[str]


def settle_journals(
    journals: SQLiteJournalStore, store: ISessionStore, changes: IClientChanges
) -> Settled:
    """Keep the journals of delegations in force as their grant records, committing any a stop
    left uncommitted, and discard those of the other ended processes. A commit that fails is
    logged; the journal is kept, and committed again with the next tidying. Two reads find the
    delegations in force and the records complete, whatever their number."""
    in_force = {d.session_id for d in store.delegations(role=Role.DMS1)}
    complete = journals.ending_with(RECORD_COMPLETE)
    kept: list[str] = []

    def failed(f: Failure, journal_id: str) -> None:
        log.warn(
            "the undo journal {journal_id} of a delegation in force could not be kept as its"
            " grant record: {error}",
            journal_id=journal_id,
            error=f.getErrorMessage(),
        )

    for journal_id in journals.journal_ids():
        if journal_id not in in_force:
            continue
        kept.append(journal_id)
        session = None if journal_id in complete else store.get(journal_id)
        if session is not None and session.outcome is Outcome.DELEGATED:
            changes.commit(session).addErrback(failed, journal_id)

    def ended(session_id: str) -> bool:
        if session_id in in_force:
            return False
        session = store.get(session_id)
        return session is None or not session.is_open

    return Settled(kept, journals.purge_ended(ended))
