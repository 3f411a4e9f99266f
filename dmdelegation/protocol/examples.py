"""A valid example of every message, for ``dmdelegation message example``, the demo and docs."""

from __future__ import annotations

from dmdelegation.protocol.dmacc import AddrType, AppAddr, AppAuth, AuthLevel, AuthType, DMAcc
from dmdelegation.protocol.messages import (
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

SESSION = "6f1c0e6a9d2b4f8e8a3c7b5d1e2f3a4b"
REVOCATION_SESSION = "0b9e4c2d7a5f4e1c9d8b3a6f2e1d0c7b"
DEVICE = "IMEI:490154203237518"
SUBTREE = "./Vendor/Enterprise"

EXAMPLE_DMACC = DMAcc(
    server_id="dms2.example.net",
    name="Example enterprise DM",
    pref_con_ref="",
    app_addrs=(
        AppAddr(addr="https://dms2.example.net:8443/dm", addr_type=AddrType.URI, ports=(8443,)),
    ),
    aauth_pref=AuthType.HTTP_DIGEST,
    app_auths=(
        AppAuth(
            level=AuthLevel.SERVER,
            type=AuthType.HTTP_DIGEST,
            name="dms2",
            secret="example-server-secret",
            data=b"\x8f\x12nonce",
        ),
        AppAuth(
            level=AuthLevel.CLIENT,
            type=AuthType.HTTP_DIGEST,
            name=DEVICE,
            secret="example-client-secret",
        ),
    ),
)

EXAMPLES: dict[str, Message] = {
    m.ROOT: m
    for m in (
        DelegationRequest(
            server_id="dms1.operator.example",
            device_id=DEVICE,
            device_man="Acme",
            device_mod="Phone 3",
            dm_tree_uri=SUBTREE,
            is_delegation_full=False,
            session_id=SESSION,
            delegation_method=DelegationMethod.DMACC,
        ),
        DelegationResponse(reason_code=200, is_acknowledged=True, session_id=SESSION),
        BootstrapConfirmed(
            reason_code=200,
            is_client_bootstrapped=False,
            dmacc=EXAMPLE_DMACC,
            session_id=SESSION,
        ),
        DelegationPrepared(reason_code=200, is_delegation_full=False, session_id=SESSION),
        DelegationConfirmed(reason_code=200, session_id=SESSION),
        DelegationFailure(reason_code=500, session_id=SESSION),
        BootstrapServerURLRequest(reason_code=200, session_id=SESSION),
        BootstrapServerURLDelivery(
            reason_code=200,
            bootstrap_url="https://bootstrap.dms2.example.net/bs",
            session_id=SESSION,
        ),
        DelegationTerminationRequest(device_id=DEVICE, session_id=REVOCATION_SESSION),
        DelegationTerminationAck(reason_code=200, session_id=REVOCATION_SESSION),
        DelegationTerminationResponse(reason_code=200, session_id=REVOCATION_SESSION),
        DelegationRevocationRequest(
            device_id=DEVICE, session_id=REVOCATION_SESSION, dm_tree_uri=SUBTREE
        ),
        DelegationRevoked(
            device_id=DEVICE,
            reason_code=200,
            session_id=REVOCATION_SESSION,
            dm_tree_uri=SUBTREE,
        ),
        RevocationFailure(reason_code=500, session_id=REVOCATION_SESSION),
    )
}
