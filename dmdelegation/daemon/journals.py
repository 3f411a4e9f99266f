"""What the daemon does with the undo journals of ended processes, at start and with each
pruning (SQLite only: on PostgreSQL the instances share the journals, and none tidies them).

A delegation ends *delegated* (that end written first), and only then does its commit turn its
undo journal into its grant record (`JournaledClientChanges.commit`). A daemon stopped in
between leaves the journal under the process's name: it is committed now, as the end would
have, while its delegation is still in force; the revocation then restores exactly what the
delegation changed. Every other journal of an ended process is discarded, with the credentials
its before-images may hold (`SQLiteJournalStore.purge_ended`).
"""

from __future__ import annotations

from attrs import frozen
from twisted.logger import Logger
from twisted.python.failure import Failure

from dmdelegation.client.journal_store import SQLiteJournalStore
from dmdelegation.core.model import Outcome, Role, Session
from dmdelegation.engine.interfaces import IClientChanges
from dmdelegation.store.interfaces import ISessionStore

log = Logger()


@frozen
class Settled:
    """The journals committed as grant records, and those discarded."""

    committed: list[str]
    discarded: list[str]


def _in_force(store: ISessionStore, journal_id: str) -> Session | None:
    """The session named ``journal_id`` if it made a delegation still in force as DMS-1."""
    session = store.get(journal_id)
    if session is None or session.role is not Role.DMS1:
        return None
    if session.outcome is not Outcome.DELEGATED:
        return None
    registered = store.delegations(session.device_id, Role.DMS1)
    return session if any(d.session_id == journal_id for d in registered) else None


def settle_journals(
    journals: SQLiteJournalStore, store: ISessionStore, changes: IClientChanges
) -> Settled:
    """Commit the journals whose commit a stop cut short, then discard those of the other
    ended processes. A commit that fails leaves its journal to be discarded (the revocation
    then cleans the whole tree of the delegated server)."""
    committed: list[str] = []

    def kept(_: object, journal_id: str) -> None:
        committed.append(journal_id)

    def failed(f: Failure, journal_id: str) -> None:
        log.warn(
            "the undo journal {journal_id} of a delegation in force could not be kept as its"
            " grant record: {error}",
            journal_id=journal_id,
            error=f.getErrorMessage(),
        )

    for journal_id in journals.journal_ids():
        session = _in_force(store, journal_id)
        if session is not None:  # the SQLite journals answer at once
            changes.commit(session).addCallbacks(
                kept, failed, callbackArgs=(journal_id,), errbackArgs=(journal_id,)
            )

    def ended(session_id: str) -> bool:
        session = store.get(session_id)
        return session is None or not session.is_open

    return Settled(committed, journals.purge_ended(ended))
