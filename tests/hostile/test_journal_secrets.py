"""The undo journal of a process that has ended keeps none of its secrets: the daemon discards
it (at start and with each pruning), and the bytes of its before-images are overwritten on
disk, not left in the file's free pages. What must outlive the process (a grant record, our own
account's deletion in a full delegation) is kept until the revocation."""

from __future__ import annotations

from pathlib import Path

from twisted.trial.unittest import TestCase

from dmdelegation.client.journal_store import SQLiteJournalStore
from dmdelegation.client.revocation import grant_record_id
from dmdelegation.tree.journal import AddStep, ReplaceStep
from dmdelegation.tree.uri import URI
from dmdelegation.tree.value import Value
from tests.web.certs import temp_dir

SECRET = "AAuthSecret-of-an-ended-process-7f3a9c"
KEPT = "our-own-account-secret-kept-until-revoked"


def _step(secret: str) -> ReplaceStep:
    return ReplaceStep(URI.parse("./DMAcc/x/AppAuth/1/AAuthSecret"), Value.text(secret))


class JournalSecrets(TestCase):
    async def test_ended_processes_journals_are_purged_and_overwritten(self) -> None:
        path = Path(temp_dir(self)) / "journals.sqlite3"
        store = SQLiteJournalStore(path)
        await store.open("ended0", "IMEI:1", "us").append(_step(SECRET))
        await store.open("ended0/bootstrapped", "IMEI:1", "us").append(_step(SECRET))
        await store.open("open00", "IMEI:2", "us").append(_step("still-needed"))
        await store.open("own-account:IMEI:1", "IMEI:1", "us").append(_step(KEPT))
        record = grant_record_id("IMEI:1", "./Vendor")
        await store.open(record, "IMEI:1", "us").append(AddStep(URI.parse("./DMAcc/x")))
        gone = store.purge_ended(lambda session_id: True)  # no process is open
        assert sorted(gone) == ["ended0", "ended0/bootstrapped", "open00"]
        assert store.journal_ids() == [record, "own-account:IMEI:1"]
        store.close()
        on_disk = b"".join(
            p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name)
        )
        assert SECRET.encode() not in on_disk
        assert KEPT.encode() in on_disk

    async def test_a_grant_record_keeps_no_secret_of_its_journal(self) -> None:
        """A completed delegation's journal is kept as its grant record: the steps whose
        before-images hold a credential go first, and their bytes are overwritten on disk."""
        path = Path(temp_dir(self)) / "journals.sqlite3"
        store = SQLiteJournalStore(path)
        journal = store.open("delegation0", "IMEI:1", "us")
        await journal.append(AddStep(URI.parse("./DMAcc/x")))
        await journal.append(_step(SECRET))
        await journal.forget([2])
        assert store.journal_ids() == ["delegation0"]
        store.close()
        on_disk = b"".join(
            p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name)
        )
        assert b"./DMAcc/x" in on_disk
        assert SECRET.encode() not in on_disk
