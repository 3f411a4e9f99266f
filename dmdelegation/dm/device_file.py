"""The daemon's device list: the devices reached over DM sessions, read from a TOML file, with
the nonces of each kept in a small SQLite file (so that a restart does not make every device
fail its next authentication).

    [[device]]
    DevId = "IMEI:490154203237518"
    atomic = true                       # the client carries out Atomic (default true)

    [device.client]                     # how the device authenticates itself (CLCRED)
    AAuthType = "HMAC"                  # HMAC or DIGEST
    AAuthName = "IMEI:490154203237518"
    AAuthSecret = "..."

    [device.server]                     # how this server authenticates itself (SRVCRED)
    AAuthType = "HMAC"
    AAuthName = "dms1.operator.example"
    AAuthSecret = "..."

    [[device]]                          # lab only: where package #0 reaches the device
    DevId = "IMEI:490154203237519"      # (http:// to the loopback interface, see lab_notify.py);
    notify = "http://127.0.0.1:8700/notify"  # without client/server: the device is not admitted
                                        # by this entry (DMS-2 enrols it), only notified

Errors name the key (``device[2].client.AAuthType``), never a secret's value.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from attrs import evolve
from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from dmdelegation.client.database import DEFAULT_DURABILITY, Durability, open_database
from dmdelegation.dm.auth import SUPPORTED
from dmdelegation.dm.devices import Credentials, DMDevice, IDeviceEnrolment, IDeviceList
from dmdelegation.dm.lab_notify import check_notify_url
from dmdelegation.protocol.dmacc import AuthLevel, AuthType


class DeviceListError(ValueError):
    """A device list that cannot be used; the message names the key."""


def _text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DeviceListError(f"{where}{key}: expected a non-empty string")
    return value


def _credentials(table: Any, where: str) -> Credentials:
    if not isinstance(table, dict):
        raise DeviceListError(f"{where}: expected a table")
    unknown = sorted(set(table) - {"AAuthType", "AAuthName", "AAuthSecret"})
    if unknown:
        raise DeviceListError(f"{where}.{unknown[0]}: unknown key")
    kind = _text(table, "AAuthType", f"{where}.")
    try:
        auth_type = AuthType(kind)
    except ValueError:
        raise DeviceListError(f"{where}.AAuthType: expected HMAC or DIGEST") from None
    if auth_type not in SUPPORTED:
        raise DeviceListError(f"{where}.AAuthType: expected HMAC or DIGEST")
    return Credentials(
        auth_type, _text(table, "AAuthName", f"{where}."), _text(table, "AAuthSecret", f"{where}.")
    )


def parse_devices(data: Mapping[str, Any]) -> list[DMDevice]:
    return parse_device_file(data)[0]


def parse_device_file(data: Mapping[str, Any]) -> tuple[list[DMDevice], dict[str, str]]:
    """The devices of the file, and the lab ``notify`` URL of the devices that have one."""
    unknown = sorted(set(data) - {"device"})
    if unknown:
        raise DeviceListError(f"{unknown[0]}: unknown key")
    raw = data.get("device", [])
    if not isinstance(raw, list):
        raise DeviceListError("device: expected an array of tables ([[device]])")
    devices: list[DMDevice] = []
    notify: dict[str, str] = {}
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        where = f"device[{i}]"
        if not isinstance(entry, dict):
            raise DeviceListError(f"{where}: expected a table")
        unknown = sorted(set(entry) - {"DevId", "atomic", "client", "server", "notify"})
        if unknown:
            raise DeviceListError(f"{where}.{unknown[0]}: unknown key")
        dev_id = _text(entry, "DevId", f"{where}.")
        if dev_id in seen:
            raise DeviceListError(f"{where}.DevId: {dev_id!r} appears twice")
        seen.add(dev_id)
        if "notify" in entry:
            url = entry["notify"]
            if not isinstance(url, str):
                raise DeviceListError(f"{where}.notify: expected a string")
            try:
                notify[dev_id] = check_notify_url(url)
            except ValueError as e:
                raise DeviceListError(f"{where}.notify: {e}") from None
            if "client" not in entry and "server" not in entry:
                continue  # notified only: DMS-2 enrols the device
        atomic = entry.get("atomic", True)
        if not isinstance(atomic, bool):
            raise DeviceListError(f"{where}.atomic: expected true or false")
        devices.append(
            DMDevice(
                dev_id,
                _credentials(entry.get("client"), f"{where}.client"),
                _credentials(entry.get("server"), f"{where}.server"),
                atomic=atomic,
            )
        )
    return devices, notify


def load_devices(path: str | os.PathLike[str]) -> list[DMDevice]:
    return load_device_file(path)[0]


def load_device_file(path: str | os.PathLike[str]) -> tuple[list[DMDevice], dict[str, str]]:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise DeviceListError(f"{path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise DeviceListError(f"{path}: not valid TOML: {e}") from None
    return parse_device_file(data)


@implementer(IDeviceList, IDeviceEnrolment)
class StoredDeviceList:
    """Devices held in memory, their nonces in SQLite (committed before `save_nonce` fires)."""

    def __init__(
        self,
        devices: list[DMDevice],
        nonces: str | os.PathLike[str],
        *,
        durability: Durability = DEFAULT_DURABILITY,
        notify: dict[str, str] | None = None,
    ) -> None:
        self.notify_urls = dict(notify or {})
        self._conn = open_database(nonces, durability=durability)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS nonce ("
            " device TEXT NOT NULL, level TEXT NOT NULL, value BLOB NOT NULL,"
            " PRIMARY KEY (device, level))"
        )
        self._devices = {d.device_id: d for d in devices}
        for device_id, level, value in self._conn.execute("SELECT device, level, value FROM nonce"):
            self._apply(device_id, AuthLevel(level), bytes(value))

    def _apply(self, device_id: str, level: AuthLevel, nonce: bytes) -> None:
        device = self._devices.get(device_id)
        if device is None:
            return
        if level is AuthLevel.CLIENT:
            device = evolve(device, client=evolve(device.client, nonce=nonce))
        else:
            device = evolve(device, server=evolve(device.server, nonce=nonce))
        self._devices[device_id] = device

    def device(self, device_id: str) -> DMDevice | None:
        return self._devices.get(device_id)

    def save_nonce(self, device_id: str, level: AuthLevel, nonce: bytes) -> Deferred[None]:
        self._conn.execute(
            "INSERT OR REPLACE INTO nonce (device, level, value) VALUES (?, ?, ?)",
            (device_id, str(level), nonce),
        )
        self._apply(device_id, level, nonce)
        return succeed(None)

    def add(self, device: DMDevice) -> None:
        self._devices[device.device_id] = device

    def remove(self, device_id: str) -> None:
        self._devices.pop(device_id, None)

    def close(self) -> None:
        self._conn.close()


def open_device_list(
    devices: Path | None, nonces: Path, *, durability: Durability = DEFAULT_DURABILITY
) -> StoredDeviceList:
    """The device file's list (an empty one without a file: a pure DMS-2 enrols its devices)."""
    found, notify = ([], {}) if devices is None else load_device_file(devices)
    return StoredDeviceList(found, nonces, durability=durability, notify=notify)
