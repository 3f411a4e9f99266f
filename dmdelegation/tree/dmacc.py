"""The DMAcc management object (``./DMAcc/<X>``): build its nodes from a `DMAcc`, read one back.

Layout written (``<X>`` instances are named ``1``, ``2``, ... in the order of the value)::

    <X>/AppID                     chr   w7
    <X>/ServerID                  chr
    <X>/Name                      chr   (when given)
    <X>/PrefConRef                chr   (when given; may be empty)
    <X>/AppAddr/<X>/Addr          chr
    <X>/AppAddr/<X>/AddrType      chr   URI | IPv4 | IPv6
    <X>/AppAddr/<X>/Port/<X>/PortNbr  int   (Port only when there are ports)
    <X>/AAuthPref                 chr   (when given)
    <X>/AppAuth/<X>/AAuthLevel    chr
    <X>/AppAuth/<X>/AAuthType     chr
    <X>/AppAuth/<X>/AAuthName     chr   (when given)
    <X>/AppAuth/<X>/AAuthSecret   chr   (when given; a secret)
    <X>/AppAuth/<X>/AAuthData     bin   (when given; a secret)
    <X>/NoAutoInitialSession      bool  (when given; true: the client opens no session by itself)
"""

from __future__ import annotations

from typing import TypeVar

from attrs import frozen

from dmdelegation.protocol.dmacc import (
    APP_ID,
    AddrType,
    AppAddr,
    AppAuth,
    AuthLevel,
    AuthType,
    DMAcc,
)
from dmdelegation.tree.subtree import (
    ManagementObjectError,
    RelativePath,
    Subtree,
    instances,
    optional,
    optional_text,
    require,
    require_text,
)
from dmdelegation.tree.uri import URI
from dmdelegation.tree.value import Format, Value

DMACC_ROOT = URI(("DMAcc",))
NO_AUTO_INITIAL_SESSION = "NoAutoInitialSession"
SERVER_ID = "ServerID"

_E = TypeVar("_E", AddrType, AuthLevel, AuthType)


@frozen
class DMAccEntry:
    """One ``./DMAcc/<X>`` as read from a tree: the account and its NoAutoInitialSession leaf."""

    account: DMAcc
    no_auto_initial_session: bool | None = None


def dmacc_nodes(
    account: DMAcc, *, no_auto_initial_session: bool | None = None
) -> list[tuple[RelativePath, Value]]:
    """The nodes of ``./DMAcc/<X>`` for ``account``, parents first; ``()`` is ``<X>`` itself."""
    text = Value.text
    nodes: list[tuple[RelativePath, Value]] = [
        ((), Value.interior()),
        (("AppID",), text(APP_ID)),
        ((SERVER_ID,), text(account.server_id)),
    ]
    if account.name is not None:
        nodes.append((("Name",), text(account.name)))
    if account.pref_con_ref is not None:
        nodes.append((("PrefConRef",), text(account.pref_con_ref)))
    nodes.append((("AppAddr",), Value.interior()))
    for index, addr in enumerate(account.app_addrs, start=1):
        base = ("AppAddr", str(index))
        nodes.append((base, Value.interior()))
        nodes.append(((*base, "Addr"), text(addr.addr)))
        nodes.append(((*base, "AddrType"), text(addr.addr_type.value)))
        if addr.ports:
            nodes.append(((*base, "Port"), Value.interior()))
        for port_index, port in enumerate(addr.ports, start=1):
            nodes.append(((*base, "Port", str(port_index)), Value.interior()))
            nodes.append(((*base, "Port", str(port_index), "PortNbr"), Value.integer(port)))
    if account.aauth_pref is not None:
        nodes.append((("AAuthPref",), text(account.aauth_pref.value)))
    nodes.append((("AppAuth",), Value.interior()))
    for index, auth in enumerate(account.app_auths, start=1):
        base = ("AppAuth", str(index))
        nodes.append((base, Value.interior()))
        nodes.append(((*base, "AAuthLevel"), text(auth.level.value)))
        nodes.append(((*base, "AAuthType"), text(auth.type.value)))
        if auth.name is not None:
            nodes.append(((*base, "AAuthName"), text(auth.name)))
        if auth.secret is not None:
            nodes.append(((*base, "AAuthSecret"), text(auth.secret)))
        if auth.data is not None:
            nodes.append(((*base, "AAuthData"), Value.binary(auth.data)))
    if no_auto_initial_session is not None:
        nodes.append(((NO_AUTO_INITIAL_SESSION,), Value.boolean(no_auto_initial_session)))
    return nodes


def _enum(kind: type[_E], nodes: Subtree, path: RelativePath) -> _E:
    try:
        return kind(require_text(nodes, path))
    except ValueError as e:
        if isinstance(e, ManagementObjectError):
            raise
        raise ManagementObjectError(
            f"node {'/'.join(path)} is not a known {kind.__name__}"
        ) from None


def _read_addr(nodes: Subtree, base: RelativePath) -> AppAddr:
    ports = tuple(
        require(nodes, (*base, "Port", name, "PortNbr"), Format.INT).as_int()
        for name in instances(nodes, (*base, "Port"))
    )
    return AppAddr(
        addr=require_text(nodes, (*base, "Addr")),
        addr_type=_enum(AddrType, nodes, (*base, "AddrType")),
        ports=ports,
    )


def _read_auth(nodes: Subtree, base: RelativePath) -> AppAuth:
    data = optional(nodes, (*base, "AAuthData"), Format.BIN)
    return AppAuth(
        level=_enum(AuthLevel, nodes, (*base, "AAuthLevel")),
        type=_enum(AuthType, nodes, (*base, "AAuthType")),
        name=optional_text(nodes, (*base, "AAuthName")),
        secret=optional_text(nodes, (*base, "AAuthSecret")),
        data=None if data is None else data.as_bytes(),
    )


def read_dmacc(nodes: Subtree) -> DMAccEntry:
    """The account that the subtree of one ``./DMAcc/<X>`` describes."""
    require(nodes, (), Format.NODE)
    if require_text(nodes, ("AppID",)) != APP_ID:
        raise ManagementObjectError(f"node AppID is not {APP_ID}")
    aauth_pref = _enum(AuthType, nodes, ("AAuthPref",)) if ("AAuthPref",) in nodes else None
    no_auto = optional(nodes, (NO_AUTO_INITIAL_SESSION,), Format.BOOL)
    account = DMAcc(
        server_id=require_text(nodes, (SERVER_ID,)),
        app_addrs=tuple(
            _read_addr(nodes, ("AppAddr", name)) for name in instances(nodes, ("AppAddr",))
        ),
        app_auths=tuple(
            _read_auth(nodes, ("AppAuth", name)) for name in instances(nodes, ("AppAuth",))
        ),
        name=optional_text(nodes, ("Name",)),
        pref_con_ref=optional_text(nodes, ("PrefConRef",)),
        aauth_pref=aauth_pref,
    )
    return DMAccEntry(account, None if no_auto is None else no_auto.as_bool())
