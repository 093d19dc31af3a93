"""Baseline of case (d): a trivial HTTP lookup service. Every request, whatever its path,
gets the same answer of five routes (the size of Tandem's answer), with no lookup behind
it: the rtjson document, or with ``format=sip`` in the request the SIP answer as text (as
``tandem serve http`` answers them). bench_kamailio.py's case (h) has Kamailio query it with
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
SIP = (
    "302 Moved Temporarily\r\n"
    + "".join(
        f"Contact: <sip:442079460000@10.0.0.{i}:5060>;q={1 - (i - 1) / 5:.1f};"
        f"carrier=carrier{i:02d};rate=0.{i:03d};decision=0-{i}\r\n"
        for i in range(1, 6)
    )
).encode()


def _answer(content_type: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type + b"\r\nContent-Length: "
        + str(len(body)).encode() + b"\r\n\r\n" + body
    )  # fmt: skip


ANSWER = _answer(b"application/json", BODY)
SIP_ANSWER = _answer(b"text/plain; charset=utf-8", SIP)


class Lookup(asyncio.Protocol):
    """Answers each request (a head ending in a blank line) with ANSWER (SIP_ANSWER when
    it asks for ``format=sip``)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            sip = b"format=sip" in head.split(b"\r\n", 1)[0]
            self.transport.write(SIP_ANSWER if sip else ANSWER)  # type: ignore[attr-defined]


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
