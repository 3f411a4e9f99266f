#!/bin/sh
# The tests and benchmarks start a throw-away PostgreSQL cluster (dmdelegation/store/throwaway.py)
# from the server's binaries: found on PATH, in $DMDELEGATION_PG_BIN or in Debian's
# /usr/lib/postgresql/<version>/bin; installed from Debian's packages when none is there.
set -eu
found() {
    [ -n "${DMDELEGATION_PG_BIN:-}" ] && [ -x "$DMDELEGATION_PG_BIN/initdb" ] && return 0
    command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && return 0
    done
    return 1
}
found && exit 0
echo "PostgreSQL's server is not installed: installing Debian's postgresql package" >&2
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
else
    echo "installing postgresql needs root (or sudo): apt-get install postgresql" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends postgresql
found || { echo "postgresql installed, but initdb/pg_ctl not found" >&2; exit 1; }
