"""Requests per second on the delegation interface, against a bare resource behind the same TLS.

This process serves two mutual-TLS listeners on 127.0.0.1 with the same ``server_options``:

- ``endpoint``: ``DelegationResource`` in ``make_site``, whose ``receive`` answers every
  ``DELEGATION_REQ`` with a ``DelegationResponse`` at once (no engine, no store: the figure is
  the interface's own cost: HTTP, limits, content type, peer identity, XML decode and encode);
- ``bare``: a Twisted ``Resource`` returning fixed bytes from a plain ``Site`` (Twisted's
  defaults, but for the access log, which ``make_site`` leaves off too);
- ``minimal``: the same resource in a Site made as cheap as a Site gets: also without
  Twisted's parsing of every POST's Content-Type for form submissions (the email package's
  header parser; ``make_site`` turns it off as well). The interface's cost over it is the
  strictest figure: it is mostly the codec (decode and schema check, encode).

A second process (this script with ``--load``) drives them with Python's ssl module: several
kept-alive connections, one request in flight on each, a fixed body. Bare and endpoint
alternate in rounds so that drift affects both alike; the whole run takes about 20 s.

Prints human lines and, last, one JSON line:
``{"endpoint_req_per_s": ..., "bare_req_per_s": ..., "ratio": ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import ssl
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SERVER, CLIENT = "bench-server.example", "bench-client.example"
SESSION = "6f1c0e6a9d2b4f8e8a3c7b5d1e2f3a4b"


# ---------------------------------------------------------------------- the load generator


class _Connection:
    def __init__(self, context: ssl.SSLContext, port: int, request: bytes) -> None:
        raw = socket.create_connection(("127.0.0.1", port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = context.wrap_socket(raw, server_hostname="localhost")
        self.sock.setblocking(False)
        self.request = request
        self.buffer = b""

    def send(self) -> None:
        self.sock.sendall(self.request)  # small: fits the socket buffer at once

    def receive(self) -> int:
        """Read what is there; the number of complete responses it finished (0 or 1)."""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("server closed the connection")
                self.buffer += data
                if len(data) < 65536:
                    break
        except ssl.SSLWantReadError:
            pass
        head, sep, rest = self.buffer.partition(b"\r\n\r\n")
        if not sep:
            return 0
        status = head.split(b" ", 2)[1]
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(rest) < length:
            return 0
        if status != b"200":
            raise RuntimeError(f"unexpected answer: {head[:200]!r}")
        self.buffer = rest[length:]
        return 1


def load(args: argparse.Namespace) -> None:
    """Drive ``args.port`` for ``args.seconds`` (after ``args.warmup``); print the count."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(args.ca)
    context.load_cert_chain(args.cert, args.key)
    body = Path(args.body).read_bytes()
    request = (
        b"POST /delegation HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/vnd.dm.delegation+xml\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    ) + body
    selector = selectors.DefaultSelector()
    connections = [_Connection(context, args.port, request) for _ in range(args.connections)]
    for connection in connections:
        selector.register(connection.sock, selectors.EVENT_READ, connection)
        connection.send()
    start = time.perf_counter()
    cpu_start = time.process_time()
    counting_from = start + args.warmup
    stop = counting_from + args.seconds
    counted = total = 0
    now = start
    while now < stop:
        for key, _ in selector.select(timeout=1):
            connection = key.data
            if connection.receive():
                total += 1
                if now >= counting_from:
                    counted += 1
                connection.send()
        now = time.perf_counter()
    for connection in connections:
        connection.sock.close()
    busy = (time.process_time() - cpu_start) / (time.perf_counter() - start)
    print(json.dumps({"requests": counted, "seconds": args.seconds, "total": total, "busy": busy}))


# ---------------------------------------------------------------------- the servers


def serve_and_measure(args: argparse.Namespace) -> dict[str, float]:
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred, ensureDeferred, succeed
    from twisted.internet.utils import getProcessOutput
    from twisted.web.resource import Resource
    from twisted.web.server import Site

    from dmdelegation.daemon.config import PeerConfig, TLSConfig
    from dmdelegation.lab import pki
    from dmdelegation.protocol import DelegationRequest, DelegationResponse, Message
    from dmdelegation.web.delegation import DelegationResource, make_site
    from dmdelegation.web.peers import PeerRegistry
    from dmdelegation.web.tls import listen, server_options

    directory = Path(tempfile.mkdtemp(prefix="dmdelegation-bench-"))
    ca = pki.make_ca("benchmark CA")
    server, client = pki.issue(ca, SERVER), pki.issue(ca, CLIENT)
    files = {
        "ca": pki.certificate_pem(ca),
        "server.crt": pki.certificate_pem(server),
        "server.key": pki.key_pem(server),
        "client.crt": pki.certificate_pem(client),
        "client.key": pki.key_pem(client),
    }
    for name, data in files.items():
        (directory / name).write_bytes(data)
    request = DelegationRequest(
        server_id=CLIENT,
        device_id="IMEI:490154203237518",
        device_man="Acme",
        device_mod="Phone 3",
        dm_tree_uri="./Vendor/Enterprise",
        is_delegation_full=False,
        session_id=SESSION,
    )
    (directory / "body.xml").write_bytes(request.encode())
    tls = TLSConfig(directory / "server.crt", directory / "server.key", (directory / "ca",))
    options = server_options(tls)
    registry = PeerRegistry([PeerConfig(CLIENT, "https://bench-client.example/d", CLIENT)])

    def receive(peer: str, message: Message, body: bytes | None = None) -> Deferred[Message | None]:
        assert isinstance(message, DelegationRequest)
        assert message.server_id == peer
        return succeed(
            DelegationResponse(reason_code=200, is_acknowledged=True, session_id=message.session_id)
        )

    fixed = DelegationResponse(reason_code=200, is_acknowledged=True, session_id=SESSION).encode()

    class Bare(Resource):
        isLeaf = True

        def render_POST(self, request: Any) -> bytes:
            return fixed

    class QuietSite(Site):
        def log(self, request: Any) -> None:
            pass

    sites = {
        "endpoint": make_site(DelegationResource(receive, registry, 65536), "/delegation", 65536),
        "bare": QuietSite(Bare()),
        "minimal": QuietSite(Bare(), parsePOSTFormSubmission=False),
    }
    profiler: Any = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()

    async def run() -> dict[str, float]:
        ports = {}
        for name, site in sites.items():
            port = await listen(reactor, "tcp:0:interface=127.0.0.1", options, site)
            ports[name] = port.getHost().port  # type: ignore[attr-defined]
        totals = {name: 0 for name in sites}
        seconds = {name: 0.0 for name in sites}
        busy = {name: 0.0 for name in sites}
        cpu_used = {name: 0.0 for name in sites}
        served = {name: 0 for name in sites}
        for round_number in range(args.rounds):
            names = list(sites)
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:  # each target goes first in turn
                if profiler is not None and name == "endpoint":
                    profiler.enable()
                cpu, wall = time.process_time(), time.perf_counter()
                output = await getProcessOutput(
                    sys.executable,
                    [
                        __file__,
                        "--load",
                        "--port",
                        str(ports[name]),
                        "--seconds",
                        str(args.round_seconds),
                        "--warmup",
                        str(args.warmup),
                        "--connections",
                        str(args.connections),
                        "--ca",
                        str(directory / "ca"),
                        "--cert",
                        str(directory / "client.crt"),
                        "--key",
                        str(directory / "client.key"),
                        "--body",
                        str(directory / "body.xml"),
                    ],
                    env=dict(os.environ),
                    reactor=reactor,
                    errortoo=False,
                )
                cpu = time.process_time() - cpu
                share = cpu / (time.perf_counter() - wall)
                if profiler is not None and name == "endpoint":
                    profiler.disable()
                result = json.loads(output.decode().strip().splitlines()[-1])
                totals[name] += result["requests"]
                seconds[name] += result["seconds"]
                busy[name] += share / args.rounds
                cpu_used[name] += cpu
                served[name] += result["total"]
                print(
                    f"round {round_number + 1}: {name:9}"
                    f"{result['requests'] / result['seconds']:8.0f} requests/s, "
                    f"server {cpu / result['total'] * 1e6:5.0f} us CPU/request, busy {share:4.0%}; "
                    f"load generator busy {result['busy']:4.0%}",
                    flush=True,
                )
        for name, share in busy.items():
            if share < 0.85:
                print(
                    f"note: the server was busy only {share:.0%} of the {name} runs: the load "
                    "generator (or the machine) limited them, not the server",
                    flush=True,
                )
        rates = {name: totals[name] / seconds[name] for name in sites}
        rates.update({f"{name}_cpu": cpu_used[name] / served[name] for name in sites})
        return rates

    rates: dict[str, float] = {}

    def done(result: dict[str, float]) -> None:
        rates.update(result)
        reactor.stop()

    def failed(failure: Any) -> None:
        failure.printTraceback()
        reactor.stop()

    reactor.callWhenRunning(lambda: ensureDeferred(run()).addCallbacks(done, failed))
    reactor.run()
    for path in directory.iterdir():
        path.unlink()
    directory.rmdir()
    if profiler is not None:
        import pstats

        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    if not rates:
        raise SystemExit("the benchmark failed")
    return rates


DAEMON_DELEGATIONS = 300


def daemons_delegations_per_s(count: int = DAEMON_DELEGATIONS) -> float:
    """Complete DMAcc delegations per second between two real daemons (separate processes,
    mutual TLS on 127.0.0.1, durable stores), ``count`` devices delegated at once through the
    admin API by eight clients; the clock runs from the first command to the last delegation
    in force."""
    from dmdelegation.commands.operate import AdminClient
    from dmdelegation.lab.devlab import DMS2, SUBTREE, Lab, device_id

    with tempfile.TemporaryDirectory(prefix="dmdelegation-bench-") as tmp:
        lab = Lab(Path(tmp), devices=count, device="embedded")
        lab.start()
        try:
            admin = AdminClient(lab.dms1.admin)

            def delegate(i: int) -> str:
                body = {"device": device_id(i), "to": DMS2, "subtree": SUBTREE}
                session: str = AdminClient(lab.dms1.admin).call("POST", "/delegate", body)[
                    "session"
                ]
                return session

            start = time.perf_counter()
            with ThreadPoolExecutor(8) as operators:  # several operators (or a host) at once
                sessions = list(operators.map(delegate, range(count)))
            for session in sessions:  # the daemon answers each when its process has ended
                admin.call("GET", f"/sessions/{session}/wait?timeout=120")
            elapsed = time.perf_counter() - start
            status = admin.call("GET", "/status")
            if len(status["delegations"]) != count:
                raise SystemExit(f"only {len(status['delegations'])} of {count} delegated")
        finally:
            lab.stop()
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    parser.add_argument("--cert", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--body", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=4.0, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the three targets")
    parser.add_argument("--round-seconds", type=float, default=1.8, help="measured per run")
    parser.add_argument("--warmup", type=float, default=0.3, help="unmeasured start of a run")
    parser.add_argument("--connections", type=int, default=8, help="kept-alive connections")
    parser.add_argument("--profile", action="store_true", help="profile the endpoint runs")
    parser.add_argument(
        "--delegations", type=int, default=DAEMON_DELEGATIONS, help="between the two daemons"
    )
    args = parser.parse_args()
    if args.load:
        load(args)
        return
    rates = serve_and_measure(args)
    endpoint, bare, minimal = rates["endpoint"], rates["bare"], rates["minimal"]
    delegations = daemons_delegations_per_s(args.delegations)

    def line(what: str, name: str) -> str:
        return (
            f"{what:46} {rates[name]:7.0f} requests/s, "
            f"{rates[name + '_cpu'] * 1e6:4.0f} us server CPU each"
        )

    print(line("delegation endpoint (DELEGATION_REQ -> RESP):", "endpoint"))
    print(line("bare resource, plain Site, same TLS:", "bare"))
    print(line("bare resource, minimal Site, same TLS:", "minimal"))
    print(f"ratio endpoint / bare:    {endpoint / bare:5.2f} (goal: at least 0.7)")
    print(f"ratio endpoint / minimal: {endpoint / minimal:5.2f} (the interface's whole cost)")
    print(
        "the same two ratios by server CPU per request (insensitive to other load): "
        f"{rates['bare_cpu'] / rates['endpoint_cpu']:.2f} and "
        f"{rates['minimal_cpu'] / rates['endpoint_cpu']:.2f}"
    )
    print(
        f"complete DMAcc delegations between two daemons: {delegations:.0f}/s "
        f"({args.delegations} devices at once; goal: at least 200/s)"
    )
    print(
        json.dumps(
            {
                "endpoint_req_per_s": round(endpoint, 1),
                "bare_req_per_s": round(bare, 1),
                "ratio": round(endpoint / bare, 3),
                "minimal_req_per_s": round(minimal, 1),
                "strict_ratio": round(endpoint / minimal, 3),
                "endpoint_cpu_us_per_req": round(rates["endpoint_cpu"] * 1e6, 1),
                "bare_cpu_us_per_req": round(rates["bare_cpu"] * 1e6, 1),
                "minimal_cpu_us_per_req": round(rates["minimal_cpu"] * 1e6, 1),
                "delegations_per_s": round(delegations, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
