"""A forward delegation operation's journal steps and client changes, written together.

A delegation operation (create an account, grant rights, add a Bootstrap Config entry) records
each change in the undo journal, durably, before it sends the change to the client. When the
client is one this process writes itself (`ITransactionalSession`: the embedded store) and the
journals can hold a transaction (`ITransactionalJournals`: the SQLite ones), each in its own file,
the whole operation runs inside one transaction of each:

1. the journal's transaction begins, then the client's;
2. the operation runs (the embedded client answers at once: to its end, or to its first wait);
3. the journal commits: every step is durable before any change of the operation is;
4. the client commits;
5. only then are the steps' *applied* marks let go (written with the journal's next write).

A crash between 3 and 4 leaves steps *pending* whose changes the client never kept: pending means
"maybe applied", which `dmdelegation.client.rollback` settles by reading the client. So no change
is ever durable without its step, and the journal never says applied for a change that is not:
the write-ahead promise holds, for two commits per operation instead of one per step and one per
change. Each command stays atomic on its own inside the transaction (a savepoint).

Only for forward operations: an undo writes to the journal *after* each change (its progress, the
marks, the final discard), which needs the other order; it runs one commit at a time, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from twisted.internet.defer import Deferred, fail
from twisted.python.failure import Failure

from dmdelegation.client.interfaces import ITransactionalJournals, ITransactionalSession

_T = TypeVar("_T")


def can_run_together(client: object, journals: object) -> bool:
    """Whether ``client`` and ``journals`` can hold one transaction each (two different files)."""
    if not ITransactionalSession.providedBy(client):
        return False
    if not ITransactionalJournals.providedBy(journals):
        return False
    database = ITransactionalSession(client).database
    return not database or database != ITransactionalJournals(journals).database


def run_together(
    client: object, journals: object, operation: Callable[[], Deferred[_T]]
) -> Deferred[_T]:
    """``operation()``, with the journal steps it appends and the client changes it makes held
    in one transaction each and committed journal first (see above); as it is when they cannot
    be. The Deferred fires once both are committed; it fails, with the operation's own result
    dropped, if a commit fails (then the steps, pending or gone, are for `rollback` to settle)."""
    if not can_run_together(client, journals):
        return operation()
    session = ITransactionalSession(client)
    store = ITransactionalJournals(journals)
    store.begin()
    try:
        session.begin()
    except BaseException:
        store.rollback()
        raise
    try:
        d = operation()
    except BaseException:
        session.rollback()
        store.rollback()
        raise
    for commit in (store.commit, session.commit):
        try:
            commit()
        except Exception:
            failure = Failure()
            session.rollback()
            store.rollback()  # after the journal's commit: only drops the marks held back
            d.addErrback(lambda _: None)
            return fail(failure)
    store.release()
    return d
