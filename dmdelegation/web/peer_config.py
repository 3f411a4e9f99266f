"""What the configuration says of this server's TLS identity (`TLSConfig`) and of each peer
(`PeerConfig`): the types the mutual-TLS interface and the peer client read, below the daemon
that parses them from its file (`dmdelegation.daemon.config`, which re-exports both).
"""

from __future__ import annotations

from pathlib import Path

from attrs import frozen

from dmdelegation.engine.admission import DEFAULT_MAX_OPEN


@frozen
class TLSConfig:
    certificate: Path  # PEM: this server's certificate (chain), presented both ways
    key: Path  # PEM private key
    ca: tuple[Path, ...]  # CAs whose certificates this server trusts for its peers


@frozen
class PeerConfig:
    """A server this one delegates to or is delegated by.

    Its certificate is recognised by ``pin_sha256`` (the SHA-256 of the DER certificate) or, when
    no pin is set, by a chain to one of ``tls.ca`` and a DNS or URI name (``name``, by default
    the URL's host) checked with service_identity.
    """

    server_id: str
    url: str
    name: str
    pin_sha256: str | None = None
    we_delegate: bool = True  # True: the peer is a delegated server of ours (we are DMS-1)
    # What the peer is granted: nothing unless the operator writes it (docs/configuration.md).
    accept: bool = False  # accept its DELEGATION_REQ (subject to the grants below)
    subtrees: tuple[str, ...] = ()  # the subtrees it may ask for ("." only if written)
    allow_full: bool = False  # full delegations (the root; our account deleted): its own grant
    devices: tuple[str, ...] = ()  # device ids or fnmatch patterns it may ask for
    device_groups: tuple[str, ...] = ()  # names of [device_groups] it may ask for
    max_open_processes: int = DEFAULT_MAX_OPEN  # processes it may hold open at once
