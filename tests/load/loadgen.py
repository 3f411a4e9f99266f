"""A load generator in a process of its own: CONNECTIONS concurrent mutual-TLS connections,
kept alive, each POSTing its share of MESSAGES one after the other; prints one JSON line with
the count of answers by status.

    python -m tests.load.loadgen HOST PORT CA CERT KEY CONNECTIONS MESSAGES
"""

from __future__ import annotations

import asyncio
import collections
import json
import ssl
import sys

BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<DELEGATION_CONFIRMED><reasonCode>200</reasonCode>'
    b"<status>CONFIRMED</status><sessionId>%032x</sessionId></DELEGATION_CONFIRMED>"
)


async def one_connection(
    host: str,
    port: int,
    context: ssl.SSLContext,
    count: int,
    first: int,
    statuses: collections.Counter[int],
) -> None:
    reader, writer = await asyncio.open_connection(
        host, port, ssl=context, server_hostname="localhost"
    )
    try:
        for n in range(first, first + count):
            body = BODY % n
            writer.write(
                b"POST /delegation HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/vnd.dm.delegation+xml\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body) + body
            )
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            statuses[int(status_line.split(b" ", 2)[1])] += 1
    finally:
        writer.close()


async def main(argv: list[str]) -> None:
    host, port, ca, cert, key = argv[:5]
    connections, messages = int(argv[5]), int(argv[6])
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(cert, key)
    statuses: collections.Counter[int] = collections.Counter()
    share = messages // connections
    await asyncio.gather(
        *(
            one_connection(host, int(port), context, share, i * share, statuses)
            for i in range(connections)
        )
    )
    print(json.dumps({str(k): v for k, v in sorted(statuses.items())}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
