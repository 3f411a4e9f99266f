"""Twisted endpoint strings read as Twisted reads them: whether one (``admin.listen``) is a unix
socket or a TCP port bound to one loopback address (`is_loopback`), never by a substring search.
"""

from __future__ import annotations

import ipaddress


def is_loopback(endpoint: str) -> bool:
    """Whether the endpoint string ``endpoint`` is a unix socket, or a TCP port bound to a
    loopback address: parsed as Twisted parses it (one ``interface``; a second one, or an
    unknown parameter, is not trusted), never searched for a substring."""
    kind, _, rest = endpoint.partition(":")
    if kind.lower() == "unix":
        return bool(rest)
    if kind.lower() not in ("tcp", "tcp6"):
        return False
    try:
        args, kwargs = _parse_endpoint(endpoint)
    except ValueError:
        return False
    if len(args) != 2 or set(kwargs) - {"interface", "backlog"}:
        return False
    try:
        return ipaddress.ip_address(kwargs.get("interface", "")).is_loopback
    except ValueError:
        return False


def _parse_endpoint(endpoint: str) -> tuple[list[str], dict[str, str]]:
    """Twisted's own split of an endpoint string into arguments and parameters
    (``endpoints._parse``), refusing a parameter given twice (Twisted would keep the last)."""
    from twisted.internet.endpoints import _STRING, _tokenize

    args: list[str] = []
    kwargs: dict[str, str] = {}

    def add(sofar: tuple[str, ...]) -> None:
        if len(sofar) == 1:
            args.append(sofar[0])
        elif len(sofar) == 2 and sofar[0] not in kwargs:
            kwargs[sofar[0]] = sofar[1]
        else:
            raise ValueError(f"{endpoint!r}: parameter given twice or malformed")

    sofar: tuple[str, ...] = ()
    for kind, value in _tokenize(endpoint):
        if kind is _STRING:
            sofar += (value,)
        elif value == ":":
            add(sofar)
            sofar = ()
    add(sofar)
    return args, kwargs
