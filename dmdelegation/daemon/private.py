"""State files readable by the daemon's user only (mode 0600), whatever the umask.

The stores hold what a peer or a device must never learn from a local user: sessions and their
message logs, undo journals (secrets of processes in progress), DM Clients' trees and
credentials, the DM endpoint's nonces, the JSON log. :func:`private_process` sets the daemon's
umask to 0077, so that every file it makes later is private too; :func:`private_file` makes one
file (and SQLite's companions of it) private before it is opened: SQLite creates ``-wal``,
``-shm`` and ``-journal`` files with the mode of their database, so a database made 0600 first
keeps its companions private.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PRIVATE = 0o600
COMPANIONS = ("-wal", "-shm", "-journal")


def private_process() -> None:
    """Make every file this process creates from now on private (umask 0077)."""
    os.umask(0o077)


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist, else set that mode; and the
    same mode on SQLite's companion files of it that exist."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)
    finally:
        os.close(fd)
    for suffix in COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{path}{suffix}", PRIVATE)


def private_directory(path: Path) -> None:
    """``path`` with mode 0700, and every file in it 0600 (what an earlier run under a wider
    umask left)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    for child in path.iterdir():
        if child.is_file() and not child.is_symlink():
            child.chmod(PRIVATE)
