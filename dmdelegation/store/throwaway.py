"""A throw-away PostgreSQL cluster for the tests and the benchmarks.

``initdb`` into a temporary directory, ``postgres`` listening only on a unix socket in that
directory (no TCP port to collide with anything), trust authentication, no fsync; torn down and
deleted by :meth:`ThrowawayPostgres.stop`. A run killed before it could stop its cluster (a
timeout, a Ctrl-C) leaves it behind: the next one stops and deletes every cluster whose owning
process is gone (:func:`reap_abandoned`). PostgreSQL refuses to run as root: as root, the
cluster runs as the ``postgres`` user (Debian's package creates it), else ``nobody``.

The binaries are looked for in ``$DMDELEGATION_PG_BIN``, on ``PATH``, then in Debian's
``/usr/lib/postgresql/<version>/bin``; ``make test`` installs Debian's ``postgresql`` package
when none is found (``.ci/postgresql.sh``).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import urllib.parse
from pathlib import Path

import psycopg

PORT = 5432  # only names the socket file; nothing listens on TCP


class NoPostgres(RuntimeError):
    """The PostgreSQL server binaries are not installed."""


def find_binaries() -> Path:
    candidates = [os.environ.get("DMDELEGATION_PG_BIN", "")]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if candidate and all((Path(candidate) / b).exists() for b in ("initdb", "pg_ctl")):
            return Path(candidate)
    raise NoPostgres(
        "PostgreSQL's initdb and pg_ctl were not found (set DMDELEGATION_PG_BIN, or install "
        "Debian's postgresql package: .ci/postgresql.sh)"
    )


PREFIX = "dmdpg-"
OWNER = "owner.pid"  # the process that made the cluster, in its directory


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_abandoned(binaries: Path, parent: str | None = None) -> list[Path]:
    """Stop and delete the throw-away clusters under ``parent`` (the temporary directory) whose
    owning process has died; the directories reaped."""
    reaped = []
    for directory in Path(parent or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            owner = int((directory / OWNER).read_text())
        except (OSError, ValueError):
            continue  # not ours to judge (being created, or made before owners were written)
        if _alive(owner):
            continue
        if (directory / "data" / "postmaster.pid").exists():
            stat = directory.stat()
            as_owner: dict[str, object] = {}
            if os.geteuid() == 0 and stat.st_uid != 0:
                as_owner = {"user": stat.st_uid, "group": stat.st_gid, "extra_groups": []}
            subprocess.run(
                [
                    str(binaries / "pg_ctl"),
                    "-D",
                    str(directory / "data"),
                    "-m",
                    "immediate",
                    "stop",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
                **as_owner,  # type: ignore[call-overload]
            )
        shutil.rmtree(directory, ignore_errors=True)
        reaped.append(directory)
    return reaped


class ThrowawayPostgres:
    def __init__(self) -> None:
        self.bin = find_binaries()
        reap_abandoned(self.bin)
        self.dir = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self.dir / OWNER).write_text(str(os.getpid()))
        self.data = self.dir / "data"
        self.user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                self.user = pwd.getpwnam("nobody")
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        self._names = itertools.count(1)
        self.started = False

    def _run(self, *args: str) -> None:
        kwargs: dict[str, object] = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        result = subprocess.run(
            args,
            cwd=self.dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
            **kwargs,  # type: ignore[call-overload]
        )
        if result.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {result.stdout[-2000:]}")

    def start(self) -> ThrowawayPostgres:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "dmdelegation",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = (
            f"-k {self.dir} -c listen_addresses='' -p {PORT} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        # pg_ctl -w waits (bounded by -t) until the server accepts connections.
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.dir / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        self.started = True
        return self

    def url(self, database: str = "postgres", *, schema: str | None = None) -> str:
        query = {"host": str(self.dir), "port": str(PORT)}
        if schema is not None:
            query["options"] = f"-c search_path={schema}"
        encoded = urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
        return f"postgresql://dmdelegation@/{database}?{encoded}"

    def fresh_url(self) -> str:
        """The URL of a new, empty schema: a database of its own for one test."""
        schema = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f"CREATE SCHEMA {schema}")  # a name we made: digits and letters
        return self.url(schema=schema)

    def stop(self) -> None:
        if self.started:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)
