"""Every @implementer class of the web and TLS modules provides its interfaces."""

from __future__ import annotations

from pathlib import Path

from twisted.internet import reactor
from twisted.internet.interfaces import (
    IHandshakeListener,
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
    IProtocolNegotiationFactory,
)
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.web.iweb import INonQueuedRequestFactory, IPolicyForHTTPS
from twisted.web.resource import IResource
from zope.interface.verify import verifyObject

from dmdelegation.engine.interfaces import IPeerTransport
from dmdelegation.web.client import HTTPSPeerTransport
from dmdelegation.web.delegation import BoundedRequestFactory, DelegationResource, make_site
from dmdelegation.web.peers import PeerRegistry
from dmdelegation.web.tls import (
    ClientTLSPolicy,
    _HandshakeWatch,
    _HandshakeWatchFactory,
    server_options,
)

from .certs import certs, peer_configs, registry, write_tls
from .serving import Recorder


def test_the_transport_and_the_policy(tmp_path: Path) -> None:
    peers = PeerRegistry(peer_configs({"dms2.enterprise.example": "https://localhost:1/d"}))
    policy = ClientTLSPolicy(write_tls(tmp_path, certs().us), peers)
    assert verifyObject(IPolicyForHTTPS, policy)
    assert verifyObject(IOpenSSLClientConnectionCreator, policy.creatorForNetloc(b"localhost", 1))
    transport = HTTPSPeerTransport(reactor, peers, policy)
    assert verifyObject(IPeerTransport, transport)


def test_the_server_side(tmp_path: Path) -> None:
    assert verifyObject(
        IOpenSSLServerConnectionCreator, server_options(write_tls(tmp_path, certs().us))
    )
    resource = DelegationResource(Recorder(), registry(), 1024)
    assert verifyObject(IResource, resource)
    site = make_site(resource, "/d", 1024, reactor=Clock())
    assert verifyObject(IProtocolNegotiationFactory, site)
    assert site.acceptableProtocols() == [b"http/1.1"]
    assert verifyObject(INonQueuedRequestFactory, BoundedRequestFactory(1024))
    watch = _HandshakeWatch(_HandshakeWatchFactory(site), Protocol())
    assert verifyObject(IHandshakeListener, watch)


def test_the_log_recorder_of_the_tests() -> None:
    from twisted.logger import ILogObserver
    from twisted.trial.unittest import SynchronousTestCase

    from .serving import LogLines

    case = SynchronousTestCase()
    lines = LogLines(case)  # type: ignore[arg-type]
    try:
        assert verifyObject(ILogObserver, lines)
    finally:
        case.doCleanups()
