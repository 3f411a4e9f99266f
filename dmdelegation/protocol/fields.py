"""How each kind of value is written as a child element and read back from one.

Writers append escaped text to a list of parts, and refuse (:class:`EncodeError`) any value the
XSD would refuse: wrong Python type, a character XML cannot carry, a length, pattern, range or
count out of the vocabulary's limits (:mod:`dmdelegation.protocol.limits`). So a document
``encode`` returns is valid without being parsed and schema-checked again; the test suite checks
that equivalence against the XSD itself. Readers run only after the schema has accepted the
document, so they convert and never re-check what the XSD already guarantees.
"""

from __future__ import annotations

import binascii
import enum
import re
from collections.abc import Callable
from typing import Any

from attrs import frozen
from lxml import etree

from dmdelegation.protocol import limits as L
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


# The XSD's simple types as Python patterns over the characters XML can carry. XSD's "\S"
# excludes exactly the four XSD spaces (not Python's Unicode whitespace), its "." excludes CR
# and LF: both are spelt out here as character ranges.
_XML = "\\t\\n\\r\\x20-\\ud7ff\\ue000-\\ufffd\\U00010000-\\U0010ffff"  # XML 1.0's Char
_XML_NO_SPACE = "\\x21-\\ud7ff\\ue000-\\ufffd\\U00010000-\\U0010ffff"
_XML_NO_NEWLINE = "\\t\\x20-\\ud7ff\\ue000-\\ufffd\\U00010000-\\U0010ffff"
_XML_NO_SLASH = "\\t\\n\\r\\x20-\\x2e\\x30-\\ud7ff\\ue000-\\ufffd\\U00010000-\\U0010ffff"
_NOT_XML_CHAR = re.compile(f"[^{_XML}]")
_SESSION_ID = f"[{re.escape(L.SESSION_ID_ALPHABET)}]{{{L.SESSION_ID_MIN},{L.SESSION_ID_MAX}}}"


@frozen
class TextType:
    """One of the XSD's string types: length bounds and the pattern (over characters XML can
    carry) it must match."""

    name: str
    max_length: int
    min_length: int
    pattern: re.Pattern[str]

    def valid(self, value: str) -> bool:
        return (
            self.min_length <= len(value) <= self.max_length
            and self.pattern.fullmatch(value) is not None
        )

    def problem(self, value: str) -> str:
        """Why ``value``, which is not :meth:`valid`, is refused (never quoting it)."""
        if not self.min_length <= len(value) <= self.max_length:
            return f"{len(value)} characters, not {self.min_length} to {self.max_length}"
        if _NOT_XML_CHAR.search(value) is not None:
            return "holds a character XML cannot carry"
        return f"is not a valid {self.name}"


def _text_type(name: str, max_length: int, min_length: int, pattern: str) -> TextType:
    return TextType(name, max_length, min_length, re.compile(pattern))


IDENTIFIER = _text_type(
    "identifier",
    L.IDENTIFIER_MAX,
    1,
    f"[{_XML_NO_SPACE}](?:[{_XML_NO_NEWLINE}]*[{_XML_NO_SPACE}])?",
)
TEXT = _text_type("text", L.TEXT_MAX, 0, f"[{_XML}]*")
SESSION_ID = _text_type("session identifier", L.SESSION_ID_MAX, L.SESSION_ID_MIN, _SESSION_ID)
TREE_URI = _text_type("absolute DM tree URI", L.TREE_URI_MAX, 1, f"\\.(?:/[{_XML_NO_SLASH}]+)*")
URL = _text_type("URL", L.URL_MAX, 1, f"[A-Za-z][A-Za-z0-9+.\\-]*:[{_XML_NO_SPACE}]+")
ADDRESS = _text_type("address", L.ADDRESS_MAX, 1, f"[{_XML_NO_SPACE}]+")
SECRET = _text_type("secret", L.SECRET_MAX, 0, f"[{_XML}]*")


def _checked_text(tag: str, value: Any, kind: TextType) -> str:
    if not isinstance(value, str):
        raise EncodeError(f"{tag}: expected text, got {type(value).__name__}")
    if not kind.valid(value):
        raise EncodeError(f"{tag}: the value {kind.problem(value)}")
    return escape(value)


def string_writer(kind: TextType) -> Writer:
    def write_string(parts: Parts, tag: str, value: Any) -> None:
        parts.append(f"<{tag}>{_checked_text(tag, value, kind)}</{tag}>")

    return write_string


def _checked_int(tag: str, value: Any, low: int, high: int) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        raise EncodeError(f"{tag}: expected an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise EncodeError(f"{tag}: {value} is not in {low} to {high}")
    return str(value)


def write_reason(parts: Parts, tag: str, value: Any) -> None:
    _element(parts, tag, _checked_int(tag, value, L.REASON_CODE_MIN, L.REASON_CODE_MAX))


def write_bool(parts: Parts, tag: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise EncodeError(f"{tag}: expected a bool, got {type(value).__name__}")
    _element(parts, tag, "true" if value else "false")


def enum_writer(enum_type: type[enum.Enum]) -> Writer:
    def write_enum(parts: Parts, tag: str, value: Any) -> None:
        _element(parts, tag, _member(tag, value, enum_type).value)

    return write_enum


def _member(tag: str, value: Any, enum_type: type[enum.Enum]) -> Any:
    if not isinstance(value, enum_type):
        raise EncodeError(f"{tag}: expected a {enum_type.__name__}")
    return value


def _coerced(tag: str, value: Any, enum_type: type[enum.Enum]) -> Any:
    """A DMAcc's enumerated value: a member, or a string equal to a member's value. The DMAcc's
    enumerations are ``StrEnum``: a member is its own text, without the slow ``.value``."""
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        raise EncodeError(f"{tag}: not a {enum_type.__name__}") from None


def read_string(element: etree._Element) -> str:
    return element.text or ""


def read_int(element: etree._Element) -> int:
    return int(element.text or "")


def read_bool(element: etree._Element) -> bool:
    return (element.text or "").strip() == "true"


def enum_reader(enum_type: type[enum.Enum]) -> Reader:
    members = {member.value: member for member in enum_type}  # a lookup, not a call of the type

    def read_enum(element: etree._Element) -> Any:
        return members[(element.text or "").strip()]

    return read_enum


_read_addr_type = enum_reader(AddrType)
_read_auth_type = enum_reader(AuthType)
_read_auth_level = enum_reader(AuthLevel)


def _optional(tag: str, value: str | None, kind: TextType) -> str:
    if value is None:
        return ""
    return f"<{tag}>{_checked_text(tag, value, kind)}</{tag}>"


def _items(tag: str, value: Any, low: int, high: int, item_type: type) -> tuple[Any, ...]:
    if not isinstance(value, tuple | list) or not all(isinstance(v, item_type) for v in value):
        raise EncodeError(f"{tag}: expected a tuple of {item_type.__name__}")
    if not low <= len(value) <= high:
        raise EncodeError(f"{tag}: {len(value)} of them, not {low} to {high}")
    return tuple(value)


def write_dmacc(parts: Parts, tag: str, value: Any) -> None:
    """The ``DMAcc`` element (docs/wire.md): repeated interior nodes are repeated elements.

    Written as few strings as it can be: this is the largest element of the vocabulary, and
    ``BOOTSTRAP_CONFIRMED`` carries it. Enumerated values are ``StrEnum`` members, their own
    text."""
    if not isinstance(value, DMAcc):
        raise EncodeError(f"{tag}: expected a DMAcc")
    add = parts.append
    add(
        f"<{tag}><AppID>{value.app_id}</AppID>"
        f"<ServerID>{_checked_text('ServerID', value.server_id, IDENTIFIER)}</ServerID>"
        f"{_optional('Name', value.name, TEXT)}"
        f"{_optional('PrefConRef', value.pref_con_ref, TEXT)}"
    )
    for app_addr in _items("AppAddr", value.app_addrs, 1, L.APP_ADDR_MAX, AppAddr):
        add(
            f"<AppAddr><Addr>{_checked_text('Addr', app_addr.addr, ADDRESS)}</Addr>"
            f"<AddrType>{_coerced('AddrType', app_addr.addr_type, AddrType)}</AddrType>"
        )
        for number in _items("Port", app_addr.ports, 0, L.PORTS_MAX, int):
            add(f"<Port><PortNbr>{_checked_int('PortNbr', number, 1, 65535)}</PortNbr></Port>")
        add("</AppAddr>")
    if value.aauth_pref is not None:
        add(f"<AAuthPref>{_coerced('AAuthPref', value.aauth_pref, AuthType)}</AAuthPref>")
    for app_auth in _items("AppAuth", value.app_auths, 1, L.APP_AUTH_MAX, AppAuth):
        add(
            f"<AppAuth><AAuthLevel>{_coerced('AAuthLevel', app_auth.level, AuthLevel)}</AAuthLevel>"
            f"<AAuthType>{_coerced('AAuthType', app_auth.type, AuthType)}</AAuthType>"
            f"{_optional('AAuthName', app_auth.name, IDENTIFIER)}"
            f"{_optional('AAuthSecret', app_auth.secret, SECRET)}"
        )
        if app_auth.data is not None:
            if not isinstance(app_auth.data, bytes):
                raise EncodeError("AAuthData: expected bytes")
            if len(app_auth.data) > L.AUTH_DATA_MAX_OCTETS:
                raise EncodeError(f"AAuthData: more than {L.AUTH_DATA_MAX_OCTETS} octets")
            encoded = binascii.b2a_base64(app_auth.data, newline=False).decode("ascii")
            add(f"<AAuthData>{encoded}</AAuthData>")
        add("</AppAuth>")
    add(f"</{tag}>")


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
            fields["aauth_pref"] = _read_auth_type(child)
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
            addr_type = _read_addr_type(child)
        else:  # Port
            ports.append(int(child[0].text or ""))
    return AppAddr(addr=addr, addr_type=addr_type, ports=tuple(ports))


def _read_app_auth(element: etree._Element) -> AppAuth:
    values: dict[str, Any] = {}
    for child in element:
        tag = child.tag
        if tag == "AAuthLevel":
            values["level"] = _read_auth_level(child)
        elif tag == "AAuthType":
            values["type"] = _read_auth_type(child)
        elif tag == "AAuthName":
            values["name"] = child.text or ""
        elif tag == "AAuthSecret":
            values["secret"] = child.text or ""
        else:  # AAuthData, base64 by the schema's pattern
            values["data"] = binascii.a2b_base64(child.text or "")
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


def string(xml: str, attr: str, kind: TextType, optional: bool = False) -> Field:
    return Field(xml, attr, string_writer(kind), read_string, optional)


def reason_code(xml: str, attr: str) -> Field:
    return Field(xml, attr, write_reason, read_int)


def boolean(xml: str, attr: str, optional: bool = False, aliases: tuple[str, ...] = ()) -> Field:
    return Field(xml, attr, write_bool, read_bool, optional, aliases)


def enumeration(xml: str, attr: str, enum_type: type[enum.Enum], optional: bool = False) -> Field:
    return Field(xml, attr, enum_writer(enum_type), enum_reader(enum_type), optional)


def dmacc(xml: str, attr: str, optional: bool = False) -> Field:
    return Field(xml, attr, write_dmacc, read_dmacc, optional)


STATUS_FIELD = Field("status", None)
