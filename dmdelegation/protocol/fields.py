"""How each kind of value is written as a child element and read back from one.

Writers append escaped text to a list of parts (the encoder parses and schema-checks the joined
document afterwards, so a writer only refuses what is of the wrong Python type). Readers run only
after the schema has accepted the document, so they convert and never re-check what the XSD
already guarantees.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Callable
from typing import Any

from attrs import frozen
from lxml import etree

from dmdelegation.protocol.dmacc import AddrType, AppAddr, AppAuth, AuthLevel, AuthType, DMAcc
from dmdelegation.protocol.errors import EncodeError

Parts = list[str]
Writer = Callable[[Parts, str, Any], None]
Reader = Callable[[etree._Element], Any]


def escape(text: str) -> str:
    """Escape element content; a carriage return is kept as a character reference."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


def _element(parts: Parts, tag: str, text: str) -> None:
    parts.append(f"<{tag}>{text}</{tag}>")


def write_string(parts: Parts, tag: str, value: Any) -> None:
    if not isinstance(value, str):
        raise EncodeError(f"{tag}: expected text, got {type(value).__name__}")
    _element(parts, tag, escape(value))


def write_int(parts: Parts, tag: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise EncodeError(f"{tag}: expected an int, got {type(value).__name__}")
    _element(parts, tag, str(value))


def write_bool(parts: Parts, tag: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise EncodeError(f"{tag}: expected a bool, got {type(value).__name__}")
    _element(parts, tag, "true" if value else "false")


def enum_writer(enum_type: type[enum.Enum]) -> Writer:
    def write_enum(parts: Parts, tag: str, value: Any) -> None:
        if not isinstance(value, enum_type):
            raise EncodeError(f"{tag}: expected a {enum_type.__name__}")
        _element(parts, tag, str(value.value))

    return write_enum


def read_string(element: etree._Element) -> str:
    return element.text or ""


def read_int(element: etree._Element) -> int:
    return int(element.text or "")


def read_bool(element: etree._Element) -> bool:
    return (element.text or "").strip() == "true"


def enum_reader(enum_type: type[enum.Enum]) -> Reader:
    def read_enum(element: etree._Element) -> Any:
        return enum_type((element.text or "").strip())

    return read_enum


def _optional(parts: Parts, tag: str, value: str | None) -> None:
    if value is not None:
        write_string(parts, tag, value)


def write_dmacc(parts: Parts, tag: str, value: Any) -> None:
    """The ``DMAcc`` element (docs/wire.md): repeated interior nodes are repeated elements."""
    if not isinstance(value, DMAcc):
        raise EncodeError(f"{tag}: expected a DMAcc")
    parts.append(f"<{tag}><AppID>{value.app_id}</AppID>")
    write_string(parts, "ServerID", value.server_id)
    _optional(parts, "Name", value.name)
    _optional(parts, "PrefConRef", value.pref_con_ref)
    for app_addr in value.app_addrs:
        parts.append("<AppAddr>")
        write_string(parts, "Addr", app_addr.addr)
        _element(parts, "AddrType", AddrType(app_addr.addr_type).value)
        for number in app_addr.ports:
            parts.append("<Port>")
            write_int(parts, "PortNbr", number)
            parts.append("</Port>")
        parts.append("</AppAddr>")
    if value.aauth_pref is not None:
        _element(parts, "AAuthPref", AuthType(value.aauth_pref).value)
    for app_auth in value.app_auths:
        parts.append("<AppAuth>")
        _element(parts, "AAuthLevel", AuthLevel(app_auth.level).value)
        _element(parts, "AAuthType", AuthType(app_auth.type).value)
        _optional(parts, "AAuthName", app_auth.name)
        _optional(parts, "AAuthSecret", app_auth.secret)
        if app_auth.data is not None:
            if not isinstance(app_auth.data, bytes):
                raise EncodeError("AAuthData: expected bytes")
            _element(parts, "AAuthData", base64.b64encode(app_auth.data).decode("ascii"))
        parts.append("</AppAuth>")
    parts.append(f"</{tag}>")


def read_dmacc(element: etree._Element) -> DMAcc:
    fields: dict[str, Any] = {}
    addrs: list[AppAddr] = []
    auths: list[AppAuth] = []
    for child in element:
        tag = child.tag
        if tag == "ServerID":
            fields["server_id"] = child.text or ""
        elif tag == "Name":
            fields["name"] = child.text or ""
        elif tag == "PrefConRef":
            fields["pref_con_ref"] = child.text or ""
        elif tag == "AAuthPref":
            fields["aauth_pref"] = AuthType((child.text or "").strip())
        elif tag == "AppAddr":
            addrs.append(_read_app_addr(child))
        elif tag == "AppAuth":
            auths.append(_read_app_auth(child))
    return DMAcc(app_addrs=tuple(addrs), app_auths=tuple(auths), **fields)


def _read_app_addr(element: etree._Element) -> AppAddr:
    addr = ""
    addr_type = AddrType.URI
    ports: list[int] = []
    for child in element:
        if child.tag == "Addr":
            addr = child.text or ""
        elif child.tag == "AddrType":
            addr_type = AddrType((child.text or "").strip())
        else:  # Port
            ports.append(int(child[0].text or ""))
    return AppAddr(addr=addr, addr_type=addr_type, ports=tuple(ports))


def _read_app_auth(element: etree._Element) -> AppAuth:
    values: dict[str, Any] = {}
    for child in element:
        tag = child.tag
        if tag == "AAuthLevel":
            values["level"] = AuthLevel((child.text or "").strip())
        elif tag == "AAuthType":
            values["type"] = AuthType((child.text or "").strip())
        elif tag == "AAuthName":
            values["name"] = child.text or ""
        elif tag == "AAuthSecret":
            values["secret"] = child.text or ""
        else:  # AAuthData, base64 by the schema's pattern
            values["data"] = base64.b64decode(child.text or "")
    return AppAuth(**values)


@frozen
class Field:
    """One child of a message: element name (and accepted aliases), attribute, and how its
    value is written and read. The ``status`` child has ``attr=None``: its value is the
    message class's fixed ``STATUS``."""

    xml: str
    attr: str | None
    write: Writer | None = None
    read: Reader | None = None
    optional: bool = False
    aliases: tuple[str, ...] = ()


def string(xml: str, attr: str, optional: bool = False) -> Field:
    return Field(xml, attr, write_string, read_string, optional)


def integer(xml: str, attr: str) -> Field:
    return Field(xml, attr, write_int, read_int)


def boolean(xml: str, attr: str, optional: bool = False, aliases: tuple[str, ...] = ()) -> Field:
    return Field(xml, attr, write_bool, read_bool, optional, aliases)


def enumeration(xml: str, attr: str, enum_type: type[enum.Enum], optional: bool = False) -> Field:
    return Field(xml, attr, enum_writer(enum_type), enum_reader(enum_type), optional)


def dmacc(xml: str, attr: str, optional: bool = False) -> Field:
    return Field(xml, attr, write_dmacc, read_dmacc, optional)


STATUS_FIELD = Field("status", None)
