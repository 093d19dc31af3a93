"""The SIP redirect server (``tandem serve sip``): asyncio over UDP and TCP.

Every request is answered statelessly (RFC 3261 8.2.7) from :mod:`tandem.serve.sipmsg`
and :mod:`tandem.serve.answer`:

=========  ==========================================================================
INVITE     ``302 Moved Temporarily`` with one ``Contact`` per route in order, or the
           blocked code (403, 404, 484, 503) with a ``Reason`` header
OPTIONS    ``200 OK`` (health checks: Kamailio ``dispatcher``, SBC keep-alives)
ACK        absorbed (no answer: it acknowledges our final answer)
CANCEL     ``200 OK`` (the INVITE was answered at once; the CANCEL has no effect)
other      ``405 Method Not Allowed`` with ``Allow``
malformed  dropped and counted (``tandem_sip_malformed_total``), never answered
=========  ==========================================================================

**Who is calling.** The number is the Request-URI's user part (``sip:NUMBER@host`` or
``tel:NUMBER``). The customer is the trunk the packet's source address belongs to
(``[customers.NAME.trunks.T] ips`` in the routing config), unless the packet comes from a
trusted proxy (``trusted``, loopback by default), which may name the customer in an
``X-Tandem-Customer`` header or relay the caller's address in ``X-Tandem-Source-IP``
(Kamailio: ``append_hf("X-Tandem-Source-IP: $si\\r\\n")``). A header from an untrusted
source is ignored.

The answer goes back to the packet's source address and port (the top ``Via`` gets
``received``/``rport`` as RFC 3261 18.2.1 and RFC 3581 say); over TCP, on the same
connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Iterable
from typing import Any

from tandem.serve.answer import PHRASES, contacts, error_answer
from tandem.serve.service import LOG, RouteService
from tandem.serve.sipmsg import (
    SipParseError,
    SipRequest,
    frame,
    parse_request,
    request_user,
    response,
    to_tag,
    via_received,
)

__all__ = ["CUSTOMER_HEADER", "SOURCE_IP_HEADER", "SipServer", "TrustedSources", "start_sip"]

#: Header naming the customer (honoured from trusted sources only).
CUSTOMER_HEADER = "x-tandem-customer"
#: Header relaying the caller's source address (honoured from trusted sources only).
SOURCE_IP_HEADER = "x-tandem-source-ip"
_ALLOW = ("Allow", "INVITE, ACK, CANCEL, OPTIONS")
_MAX_TCP_BUFFER = 1 << 20


class TrustedSources:
    """Source addresses whose ``X-Tandem-*`` headers are believed (subnets; memoised per
    address)."""

    def __init__(self, networks: Iterable[str] = ("127.0.0.0/8", "::1/128")) -> None:
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks]
        self._seen: dict[str, bool] = {}

    def __contains__(self, host: object) -> bool:
        if not isinstance(host, str):
            return False
        known = self._seen.get(host)
        if known is None:
            try:
                ip = ipaddress.ip_address(host.split("%", 1)[0])
                known = any(ip in n for n in self.networks)
            except ValueError:
                known = False
            if len(self._seen) < 65536:
                self._seen[host] = known
        return known


class SipServer:
    """Answers SIP requests (see the module docstring); :meth:`handle` is the whole logic,
    the transports only move bytes."""

    def __init__(self, service: RouteService, trusted: TrustedSources | None = None) -> None:
        self.service = service
        self.metrics = service.metrics
        self.trusted = trusted if trusted is not None else TrustedSources()
        self.salt = service.next_id()

    def handle(self, data: bytes, host: str, port: int, *, stream: bool = False) -> bytes | None:
        """The response to one message from ``host:port`` (None: nothing to send). An ACK
        is counted and absorbed unread: nothing answers it, well formed or not."""
        if data[:4] == b"ACK ":
            requests = self.metrics.requests
            requests["ACK"] = requests.get("ACK", 0) + 1
            return None
        try:
            request = parse_request(data, stream=stream)
        except SipParseError:
            self.metrics.malformed += 1
            return None
        method = request.method
        requests = self.metrics.requests
        requests[method] = requests.get(method, 0) + 1
        try:
            return self._answer(request, method, host, port)
        except Exception as exc:  # noqa: BLE001 - never crash on one message
            LOG.exception("SIP %s from %s:%s failed: %s", method, host, port, exc)
            try:
                return response(request, 500, PHRASES[500], tag=to_tag(request, self.salt))
            except Exception:  # noqa: BLE001
                return None

    def _answer(self, request: SipRequest, method: str, host: str, port: int) -> bytes | None:
        if method == "ACK":
            return None
        tag = to_tag(request, self.salt)
        via = via_received(request.vias[0], host, port)
        if method == "INVITE":
            return self._invite(request, host, tag, via)
        if method in ("OPTIONS", "CANCEL"):
            extra = [_ALLOW] if method == "OPTIONS" else []
            return response(request, 200, "OK", tag=tag, headers=extra, top_via=via)
        return response(request, 405, "Method Not Allowed", tag=tag, headers=[_ALLOW],
                        top_via=via)  # fmt: skip

    def _invite(self, request: SipRequest, host: str, tag: str, via: str) -> bytes:
        number = request_user(request.uri)
        customer = None
        source_ip: str | None = host
        if host in self.trusted:
            for name, value in request.headers:
                if name == CUSTOMER_HEADER and value:
                    customer, source_ip = value, None
                    break
                if name == SOURCE_IP_HEADER and value:
                    source_ip = value
        if not number:
            block = error_answer("bad_number", f"no number in the Request-URI {request.uri}")
            self.metrics.decision("blocked", 0.0, block.kind)
            return response(request, block.code, block.phrase, tag=tag, headers=[block.header],
                            top_via=via)  # fmt: skip
        outcome = self.service.decide(
            number, customer=customer, source_ip=source_ip, at=int(time.time()),
            call_id=request.call_id,
        )  # fmt: skip
        refused = outcome.block
        if refused is not None:
            return response(request, refused.code, refused.phrase, tag=tag,
                            headers=[refused.header], top_via=via)  # fmt: skip
        decision = outcome.decision
        assert decision is not None
        headers = [("Contact", c) for c in contacts(decision, outcome.decision_id)]
        return response(request, 302, PHRASES[302], tag=tag, headers=headers, top_via=via)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: SipServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        out = self.server.handle(data, addr[0], addr[1])
        if out is not None and self.transport is not None:
            self.transport.sendto(out, addr)

    def error_received(self, exc: Exception) -> None:  # an ICMP error for an earlier answer
        LOG.debug("UDP error: %s", exc)


class _Tcp(asyncio.Protocol):
    def __init__(self, server: SipServer, connections: set[asyncio.Transport]) -> None:
        self.server = server
        self.connections = connections
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.connections.add(self.transport)  # type: ignore[arg-type]
        peer = transport.get_extra_info("peername") or ("", 0)
        self.peer = (str(peer[0]), int(peer[1]))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.connections.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        transport = self.transport
        assert transport is not None
        while buf:
            if buf[:4] == b"\r\n\r\n":  # RFC 5626 keep-alive ping: pong
                del buf[:4]
                transport.write(b"\r\n")
                continue
            try:
                span = frame(buf)
            except SipParseError:
                self.server.metrics.malformed += 1
                transport.close()
                buf.clear()
                return
            if span is None:
                if len(buf) > _MAX_TCP_BUFFER:
                    self.server.metrics.malformed += 1
                    transport.close()
                    buf.clear()
                return
            start, stop = span
            message = bytes(buf[start:stop])
            del buf[:stop]
            out = self.server.handle(message, self.peer[0], self.peer[1], stream=True)
            if out is not None:
                transport.write(out)


async def start_sip(
    server: SipServer, host: str, port: int, *, tcp: bool = True
) -> tuple[list[Any], set[asyncio.Transport], int]:
    """Listen on UDP ``host:port`` (and TCP on the same port): ``(closables, tcp
    connections, port)``; port 0 picks a free port (the same for both)."""
    loop = asyncio.get_running_loop()
    connections: set[asyncio.Transport] = set()
    for _attempt in range(20):
        udp, _proto = await loop.create_datagram_endpoint(
            lambda: _Udp(server), local_addr=(host, port)
        )
        bound = udp.get_extra_info("sockname")[1]
        if not tcp:
            return [udp], connections, bound
        try:
            srv = await loop.create_server(
                lambda: _Tcp(server, connections), host, bound, reuse_address=True
            )
        except OSError:
            udp.close()
            if port != 0:
                raise
            continue  # the free UDP port is taken on TCP: pick another
        return [udp, srv], connections, bound
    raise OSError(f"no free port on {host} for both UDP and TCP")
