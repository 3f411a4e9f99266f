"""The ``DMAcc`` element: one DMAcc management object account as a typed, immutable value.

Mirrors the DMAcc MO of the DM Standardized Objects (see ``docs/wire.md``). The two
credential fields, ``AppAuth.secret`` and ``AppAuth.data``, never appear in a ``repr`` (and so
never in a log line or an error that formats the value).
"""

from __future__ import annotations

import enum

from attrs import field, frozen

APP_ID = "w7"
"""The DM Standardized Objects' AppID of a DM server account."""

SECRET_MASK = "***"


class AddrType(enum.StrEnum):
    URI = "URI"
    IPV4 = "IPv4"
    IPV6 = "IPv6"


class AuthLevel(enum.StrEnum):
    CLIENT = "CLCRED"
    SERVER = "SRVCRED"
    OBEX = "OBEX"
    HTTP = "HTTP"


class AuthType(enum.StrEnum):
    HTTP_BASIC = "HTTP-BASIC"
    HTTP_DIGEST = "HTTP-DIGEST"
    BASIC = "BASIC"
    DIGEST = "DIGEST"
    HMAC = "HMAC"
    X509 = "X509"
    SECURID = "SECURID"
    SAFEWORD = "SAFEWORD"
    DIGIPASS = "DIGIPASS"
    TRANSPORT = "TRANSPORT"


def _mask(value: object) -> str:
    return "None" if value is None else repr(SECRET_MASK)


@frozen
class AppAddr:
    """One ``AppAddr/<X>``: an address of the server, its type and its ports."""

    addr: str
    addr_type: AddrType = AddrType.URI
    ports: tuple[int, ...] = ()


@frozen
class AppAuth:
    """One ``AppAuth/<X>``: the credentials for one authentication level."""

    level: AuthLevel
    type: AuthType
    name: str | None = None
    secret: str | None = field(default=None, repr=_mask)
    data: bytes | None = field(default=None, repr=_mask)


@frozen
class DMAcc:
    """A DM server account (``./DMAcc/<X>``) as carried in ``BOOTSTRAP_CONFIRMED``.

    ``pref_con_ref`` distinguishes an absent ``PrefConRef`` (``None``) from an empty one (``""``).
    """

    server_id: str
    app_addrs: tuple[AppAddr, ...]
    app_auths: tuple[AppAuth, ...]
    name: str | None = None
    pref_con_ref: str | None = None
    aauth_pref: AuthType | None = None

    @property
    def app_id(self) -> str:
        return APP_ID


def delegated_account(
    server_id: str,
    dm_url: str,
    auth_type: AuthType,
    server: tuple[str, str, bytes],
    client: tuple[str, str, bytes],
) -> DMAcc:
    """The account a delegated server (DMS-2) supplies for a device: its DM address, and the
    credentials both ways, each ``(name, secret, data)``: the server's, then the client's."""
    return DMAcc(
        server_id=server_id,
        name=f"{server_id} (delegated)",
        app_addrs=(AppAddr(addr=dm_url, addr_type=AddrType.URI),),
        aauth_pref=auth_type,
        app_auths=tuple(
            AppAuth(level=level, type=auth_type, name=name, secret=secret, data=data)
            for level, (name, secret, data) in (
                (AuthLevel.SERVER, server),
                (AuthLevel.CLIENT, client),
            )
        ),
    )
