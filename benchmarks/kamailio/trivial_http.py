"""Baseline of case (d): a trivial HTTP lookup service. Every request, whatever its path,
gets the same rtjson document of five routes (the size of Tandem's answer), with no
lookup behind it. bench_kamailio.py's case (h) has Kamailio query it with
``http_client_query`` and a new TCP connection per INVITE: "a blocking HTTP lookup".

    python benchmarks/kamailio/trivial_http.py PORT
"""

from __future__ import annotations

import asyncio
import json
import sys

ROUTES = [
    {
        "uri": f"sip:442079460000@10.0.0.{i}:5060",
        "dst_uri": f"sip:10.0.0.{i}:5060",
        "headers": {"extra": f"X-Tandem-Carrier: carrier{i:02d}\r\nX-Tandem-Decision: 0-{i}\r\n"},
        "fr_timer": 2000,
        "fr_inv_timer": 60000,
    }
    for i in range(1, 6)
]
BODY = json.dumps({"version": "1.0", "routing": "serial", "routes": ROUTES}).encode()
ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


class Lookup(asyncio.Protocol):
    """Answers each request (a head ending in a blank line) with ANSWER."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            self.transport.write(ANSWER)  # type: ignore[attr-defined]


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Lookup, "127.0.0.1", port, backlog=1024)
    print(f"trivial lookup listening on http://127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    asyncio.run(main(int(sys.argv[1])))
