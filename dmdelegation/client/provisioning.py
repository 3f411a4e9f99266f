"""Provisioning an embedded managed client from a small TOML file.

The file gives the device's DevInfo, the DMAcc of the server that owns it, optionally more nodes,
and optionally ACLs (see ``docs/tree.md`` for an example)::

    [devinfo]          DevId, Man, Mod (required); DmV (default "1.3"), Lang (default "en-US")
    [owner]            ServerID (required); Name, PrefConRef, AAuthPref, NoAutoInitialSession
    [[owner.AppAddr]]  Addr (required); AddrType (default "URI"); Ports (list of int)
    [[owner.AppAuth]]  AAuthLevel, AAuthType (required); AAuthName, AAuthSecret, AAuthData (base64)
    [nodes]            "URI" = "text" | integer | boolean | {} (interior) | {bin = "base64"}
    [acl]              "URI" = "ACL text"

Unless ``[acl]`` says otherwise, the root grants the owner every command, ``./DevInfo`` is
``Get=*`` and every other node inherits. The owner's account is ``./DMAcc/1``. Interior nodes
above a node of ``[nodes]`` are created as needed. Every fault is reported by key, never by value.
"""

from __future__ import annotations

import base64
import binascii
import os
import tomllib
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import frozen

from dmdelegation.protocol.dmacc import AddrType, AppAddr, AppAuth, AuthLevel, AuthType, DMAcc
from dmdelegation.tree.acl import ACL, ALL_COMMANDS, ACLError
from dmdelegation.tree.devinfo import DEVINFO_ROOT, DevInfo, devinfo_nodes
from dmdelegation.tree.dmacc import DMACC_ROOT, dmacc_nodes
from dmdelegation.tree.storage import NodeRecord
from dmdelegation.tree.uri import ROOT, URI, URIError
from dmdelegation.tree.value import Value, ValueFormatError

OWNER_ACCOUNT = DMACC_ROOT.child("1")

_E = TypeVar("_E", AddrType, AuthLevel, AuthType)


class ProvisioningError(ValueError):
    """A provisioning file that cannot describe a device; names the key at fault."""


@frozen
class DeviceProvision:
    devinfo: DevInfo
    owner: DMAcc
    owner_no_auto_initial_session: bool | None = None
    nodes: tuple[tuple[URI, Value], ...] = ()
    acls: tuple[tuple[URI, ACL], ...] = ()

    def records(self) -> list[NodeRecord]:
        """The device's whole tree, parents first."""
        owner = self.owner.server_id
        values: dict[URI, Value] = {ROOT: Value.interior()}
        for base, built in (
            (DEVINFO_ROOT, devinfo_nodes(self.devinfo)),
            (DMACC_ROOT, [((), Value.interior())]),
            (
                OWNER_ACCOUNT,
                dmacc_nodes(self.owner, no_auto_initial_session=self.owner_no_auto_initial_session),
            ),
        ):
            values.update((base.child(*path), value) for path, value in built)
        for uri, value in self.nodes:
            for ancestor in reversed(list(uri.ancestors())):
                existing = values.setdefault(ancestor, Value.interior())
                if not existing.is_interior:
                    raise ProvisioningError(f"[nodes] {uri}: {ancestor} is a leaf")
            if uri in values:
                raise ProvisioningError(f"[nodes] {uri}: the node exists already")
            values[uri] = value
        acls: dict[URI, ACL] = {
            ROOT: ACL(tuple((command, (owner,)) for command in ALL_COMMANDS)),
            DEVINFO_ROOT: ACL.parse("Get=*"),
        }
        for uri, acl in self.acls:
            if uri not in values:
                raise ProvisioningError(f"[acl] {uri}: no such node")
            acls[uri] = acl
        if acls[ROOT].is_empty:
            raise ProvisioningError("[acl] '.': the root ACL is never empty")
        ordered = sorted(values, key=lambda uri: uri.depth)
        return [NodeRecord(uri, values[uri], acls.get(uri, ACL())) for uri in ordered]


def _table(data: Mapping[str, Any], key: str, where: str, required: bool = True) -> dict[str, Any]:
    value = data.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise ProvisioningError(f"{where}{key}: a table is required")
    return value


def _only(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ProvisioningError(f"{where}: unknown key {unknown[0]!r}")


def _text(data: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise ProvisioningError(f"{where}.{key}: a string is required")
    return value


def _optional_text(data: Mapping[str, Any], key: str, where: str) -> str | None:
    return _text(data, key, where) if key in data else None


def _enum(
    kind: type[_E], data: Mapping[str, Any], key: str, where: str, default: str | None = None
) -> _E:
    text = _text(data, key, where, default)
    try:
        return kind(text)
    except ValueError:
        raise ProvisioningError(f"{where}.{key}: not a known {kind.__name__}") from None


def _bytes(text: object, where: str) -> bytes:
    if not isinstance(text, str):
        raise ProvisioningError(f"{where}: a base64 string is required")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ProvisioningError(f"{where}: not base64") from None


def _addr(data: Any, where: str) -> AppAddr:
    if not isinstance(data, dict):
        raise ProvisioningError(f"{where}: a table is required")
    _only(data, {"Addr", "AddrType", "Ports"}, where)
    ports = data.get("Ports", [])
    if not isinstance(ports, list) or not all(
        type(port) is int and 0 < port < 65536 for port in ports
    ):
        raise ProvisioningError(f"{where}.Ports: a list of port numbers is required")
    return AppAddr(
        addr=_text(data, "Addr", where),
        addr_type=_enum(AddrType, data, "AddrType", where, "URI"),
        ports=tuple(ports),
    )


def _auth(data: Any, where: str) -> AppAuth:
    if not isinstance(data, dict):
        raise ProvisioningError(f"{where}: a table is required")
    _only(data, {"AAuthLevel", "AAuthType", "AAuthName", "AAuthSecret", "AAuthData"}, where)
    return AppAuth(
        level=_enum(AuthLevel, data, "AAuthLevel", where),
        type=_enum(AuthType, data, "AAuthType", where),
        name=_optional_text(data, "AAuthName", where),
        secret=_optional_text(data, "AAuthSecret", where),
        data=_bytes(data["AAuthData"], f"{where}.AAuthData") if "AAuthData" in data else None,
    )


def _list(data: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ProvisioningError(f"{where}.{key}: an array of tables is required")
    return value


def _owner(data: dict[str, Any]) -> tuple[DMAcc, bool | None]:
    where = "[owner]"
    _only(
        data,
        {
            "ServerID",
            "Name",
            "PrefConRef",
            "AAuthPref",
            "NoAutoInitialSession",
            "AppAddr",
            "AppAuth",
        },
        where,
    )
    no_auto = data.get("NoAutoInitialSession")
    if no_auto is not None and type(no_auto) is not bool:
        raise ProvisioningError(f"{where}.NoAutoInitialSession: true or false is required")
    account = DMAcc(
        server_id=_text(data, "ServerID", where),
        app_addrs=tuple(
            _addr(item, f"{where}.AppAddr[{i}]")
            for i, item in enumerate(_list(data, "AppAddr", where))
        ),
        app_auths=tuple(
            _auth(item, f"{where}.AppAuth[{i}]")
            for i, item in enumerate(_list(data, "AppAuth", where))
        ),
        name=_optional_text(data, "Name", where),
        pref_con_ref=_optional_text(data, "PrefConRef", where),
        aauth_pref=_enum(AuthType, data, "AAuthPref", where) if "AAuthPref" in data else None,
    )
    if not account.server_id:
        raise ProvisioningError(f"{where}.ServerID: must not be empty")
    return account, no_auto


def _node_value(raw: Any, where: str) -> Value:
    try:
        if isinstance(raw, dict):
            if not raw:
                return Value.interior()
            _only(raw, {"bin"}, where)
            return Value.binary(_bytes(raw["bin"], f"{where}.bin"))
        if isinstance(raw, bool):
            return Value.boolean(raw)
        if isinstance(raw, int):
            return Value.integer(raw)
        if isinstance(raw, str):
            return Value.text(raw)
    except ValueFormatError as e:
        raise ProvisioningError(f"{where}: {e}") from None
    raise ProvisioningError(f"{where}: text, integer, boolean, {{}} or {{bin = ...}} is required")


def _uri(text: str, where: str) -> URI:
    try:
        return URI.parse(text)
    except URIError as e:
        raise ProvisioningError(f"{where}: {e}") from None


def parse_provision(data: Mapping[str, Any]) -> DeviceProvision:
    """The provision that a parsed TOML document describes."""
    _only(data, {"devinfo", "owner", "nodes", "acl"}, "file")
    info = _table(data, "devinfo", "")
    _only(info, {"DevId", "Man", "Mod", "DmV", "Lang"}, "[devinfo]")
    devinfo = DevInfo(
        dev_id=_text(info, "DevId", "[devinfo]"),
        man=_text(info, "Man", "[devinfo]"),
        mod=_text(info, "Mod", "[devinfo]"),
        dm_v=_text(info, "DmV", "[devinfo]", "1.3"),
        lang=_text(info, "Lang", "[devinfo]", "en-US"),
    )
    if not devinfo.dev_id:
        raise ProvisioningError("[devinfo].DevId: must not be empty")
    owner, no_auto = _owner(_table(data, "owner", ""))
    nodes = tuple(
        (_uri(key, f"[nodes] {key!r}"), _node_value(raw, f"[nodes] {key!r}"))
        for key, raw in _table(data, "nodes", "", required=False).items()
    )
    acls: list[tuple[URI, ACL]] = []
    for key, text in _table(data, "acl", "", required=False).items():
        if not isinstance(text, str):
            raise ProvisioningError(f"[acl] {key!r}: an ACL string is required")
        try:
            acls.append((_uri(key, f"[acl] {key!r}"), ACL.parse(text)))
        except ACLError as e:
            raise ProvisioningError(f"[acl] {key!r}: {e}") from None
    provision = DeviceProvision(devinfo, owner, no_auto, nodes, tuple(acls))
    provision.records()  # every structural fault is found now, before anything is written
    return provision


def load_provision(path: str | os.PathLike[str]) -> DeviceProvision:
    """Read and check a provisioning file; `ProvisioningError` names the fault."""
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as e:
        raise ProvisioningError(f"{os.fspath(path)}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ProvisioningError(f"{os.fspath(path)}: not TOML ({e})") from None
    return parse_provision(data)
