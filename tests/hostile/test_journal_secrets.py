"""The undo journal of a process that has ended keeps none of its secrets: the daemon discards
it (at start and with each pruning), and the bytes of its before-images are overwritten on
disk, not left in the file's free pages."""

from __future__ import annotations

from pathlib import Path

from twisted.trial.unittest import TestCase

from dmdelegation.client.journal_store import SQLiteJournalStore
from dmdelegation.tree.journal import ReplaceStep
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
        gone = store.purge_ended(lambda session_id: session_id == "ended0")
        assert sorted(gone) == ["ended0", "ended0/bootstrapped"]
        assert store.journal_ids() == ["open00", "own-account:IMEI:1"]
        store.close()
        on_disk = b"".join(
            p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name)
        )
        assert SECRET.encode() not in on_disk
        assert KEPT.encode() in on_disk
