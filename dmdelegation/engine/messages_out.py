"""The messages a session sends, built from the session itself (one place for each)."""

from __future__ import annotations

from dmdelegation.engine.model import Process, Session
from dmdelegation.protocol import (
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
    DMAcc,
    RevocationFailure,
)

OK = 200


def delegation_request(session: Session, server_id: str) -> DelegationRequest:
    method = (
        DelegationMethod.BOOTSTRAP_SERVER_URL
        if session.process is Process.DELEGATION_BOOTSTRAP
        else DelegationMethod.DMACC
    )
    return DelegationRequest(
        server_id=server_id,
        device_id=session.device_id,
        device_man=session.device_man,
        device_mod=session.device_mod,
        dm_tree_uri=session.subtree,
        is_delegation_full=session.full,
        session_id=session.session_id,
        delegation_method=method,
    )


def delegation_response(session: Session, accept: bool, code: int) -> DelegationResponse:
    return DelegationResponse(
        reason_code=code, is_acknowledged=accept, session_id=session.session_id
    )


def bootstrap_confirmed(session: Session, dmacc: DMAcc | None) -> BootstrapConfirmed:
    if session.process is Process.DELEGATION_BOOTSTRAP:
        return BootstrapConfirmed(reason_code=OK, session_id=session.session_id)
    return BootstrapConfirmed(
        reason_code=OK,
        session_id=session.session_id,
        is_client_bootstrapped=dmacc is None,
        dmacc=dmacc,
    )


def prepared(session: Session) -> DelegationPrepared:
    return DelegationPrepared(
        reason_code=OK, is_delegation_full=session.full, session_id=session.session_id
    )


def confirmed(session: Session) -> DelegationConfirmed:
    return DelegationConfirmed(reason_code=OK, session_id=session.session_id)


def delegation_failure(session: Session, code: int) -> DelegationFailure:
    return DelegationFailure(reason_code=code, session_id=session.session_id)


def url_request(session: Session) -> BootstrapServerURLRequest:
    return BootstrapServerURLRequest(reason_code=OK, session_id=session.session_id)


def url_delivery(session: Session, url: str) -> BootstrapServerURLDelivery:
    return BootstrapServerURLDelivery(
        reason_code=OK, bootstrap_url=url, session_id=session.session_id
    )


def termination_request(session: Session) -> DelegationTerminationRequest:
    return DelegationTerminationRequest(device_id=session.device_id, session_id=session.session_id)


def termination_ack(session: Session) -> DelegationTerminationAck:
    return DelegationTerminationAck(reason_code=OK, session_id=session.session_id)


def termination_response(session: Session) -> DelegationTerminationResponse:
    return DelegationTerminationResponse(reason_code=OK, session_id=session.session_id)


def revocation_request(session: Session) -> DelegationRevocationRequest:
    return DelegationRevocationRequest(
        device_id=session.device_id, session_id=session.session_id, dm_tree_uri=session.subtree
    )


def revoked(session: Session) -> DelegationRevoked:
    """DELEGATION_REVOKED with every optional field: device, session and subtree (docs/wire.md)."""
    return DelegationRevoked(
        device_id=session.device_id,
        reason_code=OK,
        session_id=session.session_id,
        dm_tree_uri=session.subtree,
    )


def revocation_failure(session: Session, code: int) -> RevocationFailure:
    return RevocationFailure(reason_code=code, session_id=session.session_id)
