"""The delegation protocol's wire vocabulary: typed messages, their XML codec, the XSD and the
hardened parser (``docs/wire.md``).

``decode(body)`` turns untrusted bytes into one of the message classes or raises
:class:`ProtocolError` (with a precise ``reason`` and the DM ``status`` to answer with);
``message.encode()`` writes a schema-checked UTF-8 document.
"""

from dmdelegation.protocol.codec import decode, encode
from dmdelegation.protocol.dmacc import AddrType, AppAddr, AppAuth, AuthLevel, AuthType, DMAcc
from dmdelegation.protocol.errors import EncodeError, ProtocolError
from dmdelegation.protocol.messages import (
    BY_ROOT,
    MESSAGE_TYPES,
    BootstrapConfirmed,
    BootstrapServerURLDelivery,
    BootstrapServerURLRequest,
    DelegationConfirmed,
    DelegationFailure,
    DelegationMethod,
    DelegationPrepared,
    DelegationRequest,
    DelegationResponse,
    DelegationRevocationRequest,
    DelegationRevoked,
    DelegationTerminationAck,
    DelegationTerminationRequest,
    DelegationTerminationResponse,
    Message,
    RevocationFailure,
)
from dmdelegation.protocol.parsing import DEFAULT_MAX_DEPTH, DEFAULT_MAX_SIZE

CONTENT_TYPE = "application/vnd.dm.delegation+xml"

__all__ = [
    "BY_ROOT",
    "CONTENT_TYPE",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_SIZE",
    "MESSAGE_TYPES",
    "AddrType",
    "AppAddr",
    "AppAuth",
    "AuthLevel",
    "AuthType",
    "BootstrapConfirmed",
    "BootstrapServerURLDelivery",
    "BootstrapServerURLRequest",
    "DMAcc",
    "DelegationConfirmed",
    "DelegationFailure",
    "DelegationMethod",
    "DelegationPrepared",
    "DelegationRequest",
    "DelegationResponse",
    "DelegationRevocationRequest",
    "DelegationRevoked",
    "DelegationTerminationAck",
    "DelegationTerminationRequest",
    "DelegationTerminationResponse",
    "EncodeError",
    "Message",
    "ProtocolError",
    "RevocationFailure",
    "decode",
    "encode",
]
