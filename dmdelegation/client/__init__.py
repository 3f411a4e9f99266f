"""The DM session component: how this project changes a managed DM Client.

- `IDMClientSession` (a host DM server implements it, or the embedded store provides it) and
  `IUndoJournal`, with the optional `ISubtreeSnapshot` and `IUndoJournalBatch` that let the
  operations and rollback ask less (the embedded session and journal provide them);
- the embedded default: `ClientTreeStore` (managed client trees in one SQLite file) and
  `SQLiteJournalStore` (durable undo journals), devices provisioned with `load_provision`;
- the delegation operations (`create_account`, `grant_rights`, ...), each change journaled before
  it is applied, and `rollback`.
"""

from dmdelegation.client.delegation import (
    ACCOUNT_RIGHTS,
    add_bootstrap_entry,
    create_account,
    delete_own_account,
    grant_rights,
    remove_account,
    remove_bootstrap_entry,
    revoke_rights,
    set_no_auto_initial_session,
)
from dmdelegation.client.interfaces import (
    IDMClientSession,
    ISubtreeSnapshot,
    ISubtreeWriter,
    IUndoJournal,
    IUndoJournalBatch,
    IUndoJournalStore,
)
from dmdelegation.client.journal_common import JournalMismatch
from dmdelegation.client.journal_entry import JournalEntry, StepState
from dmdelegation.client.journal_store import SQLiteJournalStore
from dmdelegation.client.provisioning import DeviceProvision, ProvisioningError, load_provision
from dmdelegation.client.rollback import rollback
from dmdelegation.client.session import TreeClientSession
from dmdelegation.client.steps import OperationFailed
from dmdelegation.client.store import ClientTreeStore, DeviceTreeError, UnknownDevice

__all__ = [
    "ACCOUNT_RIGHTS",
    "ClientTreeStore",
    "DeviceProvision",
    "DeviceTreeError",
    "IDMClientSession",
    "ISubtreeSnapshot",
    "ISubtreeWriter",
    "IUndoJournal",
    "IUndoJournalBatch",
    "IUndoJournalStore",
    "JournalEntry",
    "JournalMismatch",
    "OperationFailed",
    "ProvisioningError",
    "SQLiteJournalStore",
    "StepState",
    "TreeClientSession",
    "UnknownDevice",
    "add_bootstrap_entry",
    "create_account",
    "delete_own_account",
    "grant_rights",
    "load_provision",
    "remove_account",
    "remove_bootstrap_entry",
    "revoke_rights",
    "rollback",
    "set_no_auto_initial_session",
]
