"""One typed, immutable class per message of the wire vocabulary (``docs/wire.md``).

Attribute names are Pythonic; the element names are the specification's own, in table order,
including its spellings ``isAknowledged`` and ``isClientBootstapped`` (the corrected spellings are
accepted on input). ``encode()`` writes a valid UTF-8 document: every value is checked against
the vocabulary's limits as it is written (:mod:`dmdelegation.protocol.fields`), so the output is
not parsed and schema-checked again; the test suite checks every encoded document against the
XSD.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, ClassVar

from attrs import frozen
from lxml import etree

from dmdelegation.protocol.dmacc import DMAcc
from dmdelegation.protocol.errors import EncodeError, ProtocolError
from dmdelegation.protocol.fields import (
    IDENTIFIER,
    SESSION_ID,
    STATUS_FIELD,
    TEXT,
    TREE_URI,
    URL,
    Field,
    Writer,
    boolean,
    dmacc,
    enumeration,
    escape,
    reason_code,
    string,
)


class DelegationMethod(enum.StrEnum):
    """This project's ``delegationMethod`` extension of ``DELEGATION_REQ`` (docs/wire.md)."""

    DMACC = "DMAcc"
    BOOTSTRAP_SERVER_URL = "BootstrapServerURL"


_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


class Message:
    """Base of every message: the root element, fixed status, and the children in order."""

    ROOT: ClassVar[str]
    STATUS: ClassVar[str | None] = None
    SYNCHRONOUS_RESPONSE: ClassVar[bool] = False
    FIELDS: ClassVar[tuple[Field, ...]]
    _READERS: ClassVar[dict[str, tuple[str, Callable[[etree._Element], Any]]]]
    _STATUS_ELEMENT: ClassVar[str]
    _WRITERS: ClassVar[tuple[tuple[str | None, str, Writer | None, bool], ...]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "FIELDS" in cls.__dict__:
            cls._READERS = {
                tag: (f.attr, f.read)
                for f in cls.FIELDS
                for tag in (f.xml, *f.aliases)
                if f.attr is not None and f.read is not None
            }
            cls._STATUS_ELEMENT = f"<status>{escape(cls.STATUS or '')}</status>"
            cls._WRITERS = tuple((f.attr, f.xml, f.write, f.optional) for f in cls.FIELDS)

    def encode(self) -> bytes:
        """The message as a UTF-8 XML document, valid against the schema (raises
        :class:`EncodeError` if a field is out of the vocabulary's range; the reason names the
        element and never quotes its value)."""
        root = self.ROOT
        parts = [_DECLARATION, "<", root, ">"]
        for attr, xml, write, optional in self._WRITERS:  # FIELDS as plain tuples
            if write is None:
                parts.append(self._STATUS_ELEMENT)
                continue
            value = getattr(self, attr)  # type: ignore[arg-type]
            if value is None:
                if optional:
                    continue
                raise EncodeError(f"{root}: {xml} is required")
            try:
                write(parts, xml, value)
            except EncodeError as e:
                raise EncodeError(f"{root} is not valid: {e}") from None
        parts.append(f"</{root}>")
        return "".join(parts).encode("utf-8")

    @classmethod
    def from_element(cls, root: etree._Element) -> Message:
        """Read a message from a root element the schema has already accepted."""
        readers = cls._READERS
        values: dict[str, Any] = {}
        for child in root:
            reader = readers.get(child.tag)
            if reader is not None:
                values[reader[0]] = reader[1](child)
        return cls(**values)

    @property
    def name(self) -> str:
        return self.ROOT


_REASON = reason_code("reasonCode", "reason_code")
_SESSION = string("sessionId", "session_id", SESSION_ID)
_DEVICE = string("deviceId", "device_id", IDENTIFIER)
_TREE_URI = string("DMTreeURI", "dm_tree_uri", TREE_URI)
_FULL = boolean("isDelegationFull", "is_delegation_full")


@frozen(kw_only=True)
class DelegationRequest(Message):
    """``DELEGATION_REQ`` (5.3.1.1): either server asks the other to start a delegation.

    ``server_id`` is the sender's ServerID. ``delegation_method`` ``None`` means not announced
    (a receiver then assumes the DMAcc approach; see :attr:`method`).
    """

    ROOT = "DELEGATION_REQ"
    FIELDS = (
        string("serverId", "server_id", IDENTIFIER),
        _DEVICE,
        string("deviceMan", "device_man", TEXT),
        string("deviceMod", "device_mod", TEXT),
        _TREE_URI,
        _FULL,
        _SESSION,
        enumeration("delegationMethod", "delegation_method", DelegationMethod, optional=True),
    )

    server_id: str
    device_id: str
    device_man: str
    device_mod: str
    dm_tree_uri: str
    is_delegation_full: bool
    session_id: str
    delegation_method: DelegationMethod | None = None

    @property
    def method(self) -> DelegationMethod:
        return self.delegation_method or DelegationMethod.DMACC


@frozen(kw_only=True)
class DelegationResponse(Message):
    """``DELEGATION_RESP`` (5.3.1.2): the synchronous answer to ``DELEGATION_REQ``."""

    ROOT = "DELEGATION_RESP"
    STATUS = "DELEGATION_RESP"
    SYNCHRONOUS_RESPONSE = True
    FIELDS = (
        _REASON,
        STATUS_FIELD,
        boolean("isAknowledged", "is_acknowledged", aliases=("isAcknowledged",)),
        _SESSION,
    )

    reason_code: int
    is_acknowledged: bool
    session_id: str


@frozen(kw_only=True)
class BootstrapConfirmed(Message):
    """``BOOTSTRAP_CONFIRMED`` (5.3.1.3, 5.3.2.5): DMS-2 tells DMS-1 about the bootstrap.

    In the DMAcc approach it carries ``is_client_bootstrapped`` and, when that is false, the
    ``dmacc`` DMS-1 is to create; in the Bootstrap Server URL approach it carries neither.
    """

    ROOT = "BOOTSTRAP_CONFIRMED"
    STATUS = "BOOTSTRAP_CONFIRMED"
    FIELDS = (
        _REASON,
        STATUS_FIELD,
        boolean(
            "isClientBootstapped",
            "is_client_bootstrapped",
            optional=True,
            aliases=("isClientBootstrapped",),
        ),
        dmacc("DMAcc", "dmacc", optional=True),
        _SESSION,
    )

    reason_code: int
    session_id: str
    is_client_bootstrapped: bool | None = None
    dmacc: DMAcc | None = None

    @classmethod
    def from_element(cls, root: etree._Element) -> Message:
        """As for every message; and ``isClientBootstapped`` false promises the ``DMAcc`` DMS-1
        is to create, so a document without it is refused (docs/wire.md, 5.3.1.3)."""
        message = super().from_element(root)
        assert isinstance(message, BootstrapConfirmed)
        if message.is_client_bootstrapped is False and message.dmacc is None:
            raise ProtocolError(
                "BOOTSTRAP_CONFIRMED: isClientBootstapped is false but there is no DMAcc",
                400,
                "DMAcc",
            )
        return message


@frozen(kw_only=True)
class DelegationPrepared(Message):
    """``DELEGATION_PREPARED`` (5.3.1.4): DMS-1 has prepared the DM Client."""

    ROOT = "DELEGATION_PREPARED"
    STATUS = "PREPARED"
    FIELDS = (_REASON, STATUS_FIELD, _FULL, _SESSION)

    reason_code: int
    is_delegation_full: bool
    session_id: str


@frozen(kw_only=True)
class DelegationConfirmed(Message):
    """``DELEGATION_CONFIRMED`` (5.3.1.5): DMS-2 holds a DM session with the client."""

    ROOT = "DELEGATION_CONFIRMED"
    STATUS = "CONFIRMED"
    FIELDS = (_REASON, STATUS_FIELD, _SESSION)

    reason_code: int
    session_id: str


@frozen(kw_only=True)
class DelegationFailure(Message):
    """``DELEGATION_FAILURE`` (5.3.1.6): either server halts a delegation."""

    ROOT = "DELEGATION_FAILURE"
    STATUS = "FAILURE"
    FIELDS = (_REASON, STATUS_FIELD, _SESSION)

    reason_code: int
    session_id: str


@frozen(kw_only=True)
class BootstrapServerURLRequest(Message):
    """``BOOTSTRAP_SRV_URL_REQ`` (5.3.2.3): DMS-1 asks DMS-2 for its Bootstrap Server URL."""

    ROOT = "BOOTSTRAP_SRV_URL_REQ"
    STATUS = "BOOT_SRV_URL_REQ"
    FIELDS = (_REASON, STATUS_FIELD, _SESSION)

    reason_code: int
    session_id: str


@frozen(kw_only=True)
class BootstrapServerURLDelivery(Message):
    """``BOOTSTRAP_SRV_URL_DELIVERY`` (5.3.2.4): the synchronous answer with the URL."""

    ROOT = "BOOTSTRAP_SRV_URL_DELIVERY"
    STATUS = "BOOT_SRV_URL_DEL"
    SYNCHRONOUS_RESPONSE = True
    FIELDS = (_REASON, STATUS_FIELD, string("bootstrapURL", "bootstrap_url", URL), _SESSION)

    reason_code: int
    bootstrap_url: str
    session_id: str


@frozen(kw_only=True)
class DelegationTerminationRequest(Message):
    """``DELEGATION_TERMINATION_REQ`` (5.3.3.1): DMS-1 asks DMS-2 to stop (asked revocation)."""

    ROOT = "DELEGATION_TERMINATION_REQ"
    STATUS = "DEL_TERM_REQ"
    FIELDS = (_DEVICE, STATUS_FIELD, _SESSION)

    device_id: str
    session_id: str


@frozen(kw_only=True)
class DelegationTerminationAck(Message):
    """``DELEGATION_TERMINATION_ACK`` (5.3.3.2): the synchronous acknowledgement."""

    ROOT = "DELEGATION_TERMINATION_ACK"
    STATUS = "DEL_TERM_ACK"
    SYNCHRONOUS_RESPONSE = True
    FIELDS = (_REASON, STATUS_FIELD, _SESSION)

    reason_code: int
    session_id: str


@frozen(kw_only=True)
class DelegationTerminationResponse(Message):
    """``DELEGATION_TERMINATION_RESP`` (5.3.3.3): DMS-2 has stopped all activity."""

    ROOT = "DELEGATION_TERMINATION_RESP"
    STATUS = "DEL_TERM_RESP"
    FIELDS = (_REASON, STATUS_FIELD, _SESSION)

    reason_code: int
    session_id: str


@frozen(kw_only=True)
class DelegationRevocationRequest(Message):
    """``DELEGATION_REVOCATION_REQ`` (5.3.4.1): DMS-2 asks DMS-1 to revoke (requested)."""

    ROOT = "DELEGATION_REVOCATION_REQ"
    STATUS = "DEL_TERM_REQ"
    FIELDS = (
        _DEVICE,
        STATUS_FIELD,
        _SESSION,
        string("DMTreeURI", "dm_tree_uri", TREE_URI, optional=True),
    )

    device_id: str
    session_id: str
    dm_tree_uri: str | None = None


@frozen(kw_only=True)
class DelegationRevoked(Message):
    """``DELEGATION_REVOKED`` (5.3.3.4, 5.3.4.2, 5.3.5.1): DMS-1 has cleaned the client.

    Forced revocation names the device (``device_id``, ``dm_tree_uri``); asked and requested
    revocation name the session.
    """

    ROOT = "DELEGATION_REVOKED"
    STATUS = "DEL_REVOKED"
    FIELDS = (
        string("deviceId", "device_id", IDENTIFIER, optional=True),
        _REASON,
        STATUS_FIELD,
        string("sessionId", "session_id", SESSION_ID, optional=True),
        string("DMTreeURI", "dm_tree_uri", TREE_URI, optional=True),
    )

    reason_code: int
    device_id: str | None = None
    session_id: str | None = None
    dm_tree_uri: str | None = None


@frozen(kw_only=True)
class RevocationFailure(Message):
    """``REVOCATION_FAILURE`` (5.3.3.5): either server halts a revocation."""

    ROOT = "REVOCATION_FAILURE"
    STATUS = "FAILURE"
    FIELDS = (_REASON, STATUS_FIELD, _SESSION)

    reason_code: int
    session_id: str


MESSAGE_TYPES: tuple[type[Message], ...] = (
    DelegationRequest,
    DelegationResponse,
    BootstrapConfirmed,
    DelegationPrepared,
    DelegationConfirmed,
    DelegationFailure,
    BootstrapServerURLRequest,
    BootstrapServerURLDelivery,
    DelegationTerminationRequest,
    DelegationTerminationAck,
    DelegationTerminationResponse,
    DelegationRevocationRequest,
    DelegationRevoked,
    RevocationFailure,
)

BY_ROOT: dict[str, type[Message]] = {cls.ROOT: cls for cls in MESSAGE_TYPES}
