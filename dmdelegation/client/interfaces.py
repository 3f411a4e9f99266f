"""The two seams of the DM session component.

`IDMClientSession` is what a host DM server implements to let this project change one of its DM
Clients (or what the embedded store provides). `IUndoJournal` is where the delegation operations
record, before each change, how to take it back.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface

from dmdelegation.client.journal_entry import JournalEntry, StepState
from dmdelegation.tree.acl import ACL
from dmdelegation.tree.journal import JournalStep
from dmdelegation.tree.results import ACLResult, GetResult, Result, SubtreeResult
from dmdelegation.tree.subtree import RelativePath
from dmdelegation.tree.uri import URI
from dmdelegation.tree.value import Value


class IDMClientSession(Interface):
    """The DM commands this protocol needs on one managed DM Client, acting as one ServerID.

    Every method returns a Deferred that fires with a result carrying the DM status code; it fails
    only when the outcome is unknown (the client could not be reached, or its answer was lost). The
    implementation enforces ``server_id``'s rights exactly as the device would: a denied command
    answers 425 and changes nothing. A Get of an interior node lists its children.
    """

    device_id: str = Attribute("The DevId of the managed client.")
    server_id: str = Attribute("The DM ServerID this session acts as.")

    def get(uri: URI) -> Deferred[GetResult]:
        """Get: the node's format and value, or its children if interior (200, 404, 425)."""

    def add(uri: URI, value: Value) -> Deferred[Result]:
        """Add a leaf, or an interior node for ``Value.interior()`` (201, 404, 405, 418, 425)."""

    def replace(uri: URI, value: Value) -> Deferred[Result]:
        """Replace a leaf's value and format (200, 404, 405, 425)."""

    def delete(uri: URI) -> Deferred[Result]:
        """Delete a node and everything below it (200, 404, 405, 425)."""

    def get_acl(uri: URI) -> Deferred[ACLResult]:
        """Get ``?prop=ACL``: the node's own ACL, empty when inherited (200, 404, 425)."""

    def replace_acl(uri: URI, acl: ACL) -> Deferred[Result]:
        """Replace ``?prop=ACL`` (200, 404, 405 for an empty root ACL, 425)."""


class ISubtreeSnapshot(Interface):
    """Optional, for a session that can read a whole subtree at once (the embedded one does).

    The delegation operations read every node of a subtree they change (its before-image) with a
    Get and a Get ACL per node; through a session that also provides this, they ask once.
    """

    def get_subtree(uri: URI) -> Deferred[SubtreeResult]:
        """Get and Get ACL on every node at or below ``uri``, parents first, siblings by name,
        answered exactly as those commands would be one by one: 200 with every node, or the
        first refusal in that order (404 for a missing ``uri``, 425, 500). Fails only when the
        outcome is unknown."""


class ISubtreeWriter(Interface):
    """Optional, for a session that can add a whole new subtree as one atomic command (an
    Atomic of Adds; the embedded session can). The delegation operations then journal one step
    for the subtree (its undo deletes the subtree's top) and send one command, instead of a step
    and an Add per node."""

    def add_subtree(uri: URI, nodes: Sequence[tuple[RelativePath, Value]]) -> Deferred[Result]:
        """Add ``uri`` and the nodes below it (paths relative to ``uri``, ``()`` first, parents
        before children), all or nothing: 201, or the first refusal the Adds one by one would
        get (404, 405, 418, 425, 500) with nothing added. Fails only when the outcome is unknown."""


class ITransactionalSession(Interface):
    """Optional, for a session over a store this process writes itself (the embedded one): its
    commands can be held in one transaction and made durable together.

    Between `begin` and `commit` every command is still atomic on its own (a refused or failed
    command changes nothing) and the session reads its own changes; none is durable, or visible
    to another connection, before `commit`. See `dmdelegation.client.unit`.
    """

    database: str = Attribute(
        "The real path of the file the session writes (two stores on one file cannot each hold"
        " a transaction), or '' for a store in memory."
    )

    def begin() -> None:
        """Hold the following commands' changes until `commit` (or `rollback`)."""

    def commit() -> None:
        """Make every change since `begin` durable at once."""

    def rollback() -> None:
        """Take back every change since `begin` (nothing if none is held)."""


class ITransactionalJournals(Interface):
    """Optional, for a journal store that can write the steps of several appends in one
    transaction (the SQLite one). Between `begin` and `commit` appends and failed marks are
    written in that transaction; *applied* marks are held back until `release` (after the
    client's own commit), so that the journal never says applied for a change the client might
    not have kept. See `dmdelegation.client.unit`."""

    database: str = Attribute("The real path of the store's file, or '' for one in memory.")

    def begin() -> None:
        """Begin the transaction."""

    def commit() -> None:
        """Make the steps written since `begin` durable (applied marks still held back)."""

    def release() -> None:
        """The client has made the changes durable: the applied marks held back are written
        with the store's next write, like any applied mark."""

    def rollback() -> None:
        """Take back what was written since `begin`, and drop the applied marks held back
        (their steps stay pending, which `rollback` settles by reading the client)."""


class IUndoJournal(Interface):
    """A durable, ordered record of the changes one delegation made to one client.

    Each method returns a Deferred that fires once the record is durable; except that a journal
    may keep ``mark(seq, APPLIED)`` until its next write (`entries` shows it meanwhile): if that
    mark is lost, the step stays pending, and `rollback` reads the client to see whether it was
    applied.
    """

    journal_id: str = Attribute("The name of this journal (e.g. the delegation's sessionId).")
    device_id: str = Attribute("The client whose changes this journal records.")
    server_id: str = Attribute("The ServerID whose session made (and undoes) the changes.")

    def append(step: JournalStep) -> Deferred[int]:
        """Record ``step`` as pending, before it is applied; fires with its sequence number."""

    def mark(seq: int, state: StepState) -> Deferred[None]:
        """Record what became of step ``seq``: applied, failed (not applied) or undone."""

    def record_undo_progress(seq: int, done: int) -> Deferred[None]:
        """Record that the first ``done`` undo actions of step ``seq`` have been carried out."""

    def entries() -> Deferred[Sequence[JournalEntry]]:
        """Every step still recorded, in the order they were appended."""

    def discard() -> Deferred[None]:
        """Forget every step and the before-images they hold (the changes are final, or undone)."""


class IUndoJournalBatch(Interface):
    """Optional, for a journal that can record the outcome of several steps in one write."""

    def mark_many(seqs: Sequence[int], state: StepState) -> Deferred[None]:
        """`IUndoJournal.mark` each of ``seqs`` with ``state``, all in one durable write."""

    def forget(seqs: Sequence[int]) -> Deferred[None]:
        """Forget the steps ``seqs`` and the before-images they hold, in one durable write (a
        completed delegation's journal is kept as its grant record without those that may hold
        a credential)."""


class IUndoJournalStore(Interface):
    """Where the undo journals are kept: `dmdelegation.client.journal_store.SQLiteJournalStore`
    (one file, one instance) or `dmdelegation.store.journal_postgres.PostgresJournalStore`
    (shared by the instances of a deployment)."""

    def journal_ids() -> list[str]:
        """The journals that still hold steps: of processes to finish or undo after a restart,
        and the grant records of delegations in force."""

    def open(journal_id: str, device_id: str, server_id: str) -> IUndoJournal:
        """The journal named ``journal_id``, created if new; the same journal after a restart
        (or from another instance). `JournalMismatch` if it records another device or server."""

    def close() -> None:
        """Write what is held (the *applied* marks) and let go of the storage."""
