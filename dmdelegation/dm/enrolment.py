"""DMS-2's own record of the devices delegated to it over DM sessions, in one SQLite file of
``state_dir`` (``dms2-enrolment.sqlite3``, mode 0600 whatever the umask: the secrets are only
there):

- the **enrolments**: the credentials DMS-2 chose for each device (the account DMS-1 creates in
  the DMAcc approach, or DMS-2's bootstrap writes in the Bootstrap Server URL approach), with
  their nonces; a device is admitted to the DM endpoint because it is enrolled, and forgotten
  when its delegation ends;
- the **bootstrap tokens**: single-use, bound to a device and a delegation session, expiring with
  the delegation's ``client_bootstrap`` timeout; only their SHA-256 is kept;
- the **last DevInfo** each device sent (``Man`` and ``Mod`` fill a ``DELEGATION_REQ``).

:class:`DeviceLists` puts the configured device file (if any) and the enrolments together: the
device list the DM endpoint authenticates against.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from attrs import evolve
from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from dmdelegation.client.database import DEFAULT_DURABILITY, Durability, open_database
from dmdelegation.dm.devices import Credentials, DMDevice, IDeviceEnrolment, IDeviceList
from dmdelegation.protocol.dmacc import AuthLevel, AuthType

ENROLMENT_FILE = "dms2-enrolment.sqlite3"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS enrolment ("
    " device TEXT PRIMARY KEY, auth_type TEXT NOT NULL, atomic INTEGER NOT NULL,"
    " client_name TEXT NOT NULL, client_secret TEXT NOT NULL, client_nonce BLOB NOT NULL,"
    " server_name TEXT NOT NULL, server_secret TEXT NOT NULL, server_nonce BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS bootstrap_token ("
    " digest TEXT PRIMARY KEY, device TEXT NOT NULL, session_id TEXT NOT NULL,"
    " expires_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS devinfo ("
    " device TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,"
    " PRIMARY KEY (device, name))",
)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _private_file(path: Path) -> None:
    """Create ``path`` (if need be) readable by its owner only, whatever the umask."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


@implementer(IDeviceList, IDeviceEnrolment)
class EnrolmentStore:
    """The enrolments (held in memory, written through), tokens and DevInfo of DMS-2."""

    def __init__(self, path: Path, *, durability: Durability = DEFAULT_DURABILITY) -> None:
        _private_file(path)
        self.path = path
        self._conn = open_database(path, durability=durability)
        for statement in _SCHEMA:
            self._conn.execute(statement)
        self._devices: dict[str, DMDevice] = {}
        rows = self._conn.execute(
            "SELECT device, auth_type, atomic, client_name, client_secret, client_nonce,"
            " server_name, server_secret, server_nonce FROM enrolment"
        )
        for device, kind, atomic, cname, csecret, cnonce, sname, ssecret, snonce in rows:
            auth_type = AuthType(kind)
            self._devices[device] = DMDevice(
                device,
                Credentials(auth_type, cname, csecret, bytes(cnonce)),
                Credentials(auth_type, sname, ssecret, bytes(snonce)),
                atomic=bool(atomic),
            )

    # IDeviceList

    def device(self, device_id: str) -> DMDevice | None:
        return self._devices.get(device_id)

    def save_nonce(self, device_id: str, level: AuthLevel, nonce: bytes) -> Deferred[None]:
        device = self._devices.get(device_id)
        if device is None:
            return succeed(None)
        column = "client_nonce" if level is AuthLevel.CLIENT else "server_nonce"
        self._conn.execute(
            f"UPDATE enrolment SET {column} = ? WHERE device = ?", (nonce, device_id)
        )
        self._devices[device_id] = _with_nonce(device, level, nonce)
        return succeed(None)

    # IDeviceEnrolment

    def add(self, device: DMDevice) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO enrolment VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                device.device_id,
                device.client.auth_type.value,
                int(device.atomic),
                device.client.name,
                device.client.secret,
                device.client.nonce,
                device.server.name,
                device.server.secret,
                device.server.nonce,
            ),
        )
        self._devices[device.device_id] = device

    def remove(self, device_id: str) -> None:
        self._conn.execute("DELETE FROM enrolment WHERE device = ?", (device_id,))
        self._conn.execute("DELETE FROM bootstrap_token WHERE device = ?", (device_id,))
        self._devices.pop(device_id, None)

    def enrolled(self) -> list[str]:
        return sorted(self._devices)

    # Bootstrap tokens

    def issue_token(self, device_id: str, session_id: str, expires_at: float) -> str:
        """A fresh single-use token for the device's bootstrap in ``session_id``."""
        token = secrets.token_urlsafe(32)
        self._conn.execute(
            "INSERT INTO bootstrap_token VALUES (?, ?, ?, ?)",
            (_digest(token), device_id, session_id, expires_at),
        )
        return token

    def token_session(self, token: str, device_id: str, now: float) -> str | None:
        """The session ``token`` was issued in, if it is one of ours, unused, unexpired, and
        issued for ``device_id``; None otherwise. Changes nothing."""
        row = self._conn.execute(
            "SELECT device, session_id, expires_at FROM bootstrap_token WHERE digest = ?",
            (_digest(token),),
        ).fetchone()
        if row is None or row[0] != device_id or row[2] <= now:
            return None
        return str(row[1])

    def consume_token(self, token: str) -> None:
        self._conn.execute("DELETE FROM bootstrap_token WHERE digest = ?", (_digest(token),))

    def drop_expired_tokens(self, now: float) -> int:
        cursor = self._conn.execute("DELETE FROM bootstrap_token WHERE expires_at <= ?", (now,))
        return cursor.rowcount

    # DevInfo

    def save_devinfo(self, device_id: str, info: Mapping[str, str]) -> None:
        if dict(info) == self.devinfo(device_id):
            return
        self._conn.execute("DELETE FROM devinfo WHERE device = ?", (device_id,))
        self._conn.executemany(
            "INSERT INTO devinfo VALUES (?, ?, ?)",
            [(device_id, name, value) for name, value in info.items()],
        )

    def devinfo(self, device_id: str) -> dict[str, str]:
        rows = self._conn.execute("SELECT name, value FROM devinfo WHERE device = ?", (device_id,))
        return {str(name): str(value) for name, value in rows}

    def close(self) -> None:
        self._conn.close()


def _with_nonce(device: DMDevice, level: AuthLevel, nonce: bytes) -> DMDevice:
    if level is AuthLevel.CLIENT:
        return evolve(device, client=evolve(device.client, nonce=nonce))
    return evolve(device, server=evolve(device.server, nonce=nonce))


@implementer(IDeviceList, IDeviceEnrolment)
class DeviceLists:
    """The configured device list (DMS-1's devices, and any device listed by hand) first, then
    DMS-2's enrolments; new devices are enrolled, never written to the configured list."""

    def __init__(self, configured: IDeviceList | None, enrolled: EnrolmentStore) -> None:
        self.configured = configured
        self.enrolled = enrolled

    def _configured(self, device_id: str) -> DMDevice | None:
        return None if self.configured is None else self.configured.device(device_id)

    def device(self, device_id: str) -> DMDevice | None:
        return self._configured(device_id) or self.enrolled.device(device_id)

    def save_nonce(self, device_id: str, level: AuthLevel, nonce: bytes) -> Deferred[None]:
        if self.configured is not None and self._configured(device_id) is not None:
            return self.configured.save_nonce(device_id, level, nonce)
        return self.enrolled.save_nonce(device_id, level, nonce)

    def add(self, device: DMDevice) -> None:
        self.enrolled.add(device)

    def remove(self, device_id: str) -> None:
        self.enrolled.remove(device_id)
