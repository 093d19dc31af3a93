"""In-process servers for ``bench_serve.py``'s CPU ceiling: the SIP handler and the HTTP API
on a table, without sockets."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from serve_stacks import make_api  # noqa: E402

from tandem.lcr.router import Router  # noqa: E402
from tandem.lcr.table import RoutingTable  # noqa: E402
from tandem.serve.http import HttpApi  # noqa: E402
from tandem.serve.metrics import Metrics  # noqa: E402
from tandem.serve.service import RouteService  # noqa: E402
from tandem.serve.sip import SipServer  # noqa: E402


def sip_server(table: Path) -> SipServer:
    router = Router(RoutingTable.load(table))
    return SipServer(RouteService(router, table, metrics=Metrics("sip"), keep_calls=False))


def http_api(table: Path) -> HttpApi:
    return make_api(str(table))


def invite_bytes(number: str, call_id: str, customer: str = "acme") -> bytes:
    """The INVITE SIPp's scenario sends (benchmarks/sipp/invite_302.xml)."""
    n = number.lstrip("+")
    return (
        f"INVITE sip:{n}@127.0.0.1:5070 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{call_id};rport\r\n"
        f"From: <sip:sipp@127.0.0.1:5061>;tag=1234SIPpTag00{call_id}\r\n"
        f"To: <sip:{n}@127.0.0.1:5070>\r\n"
        f"Call-ID: {call_id}-1234@127.0.0.1\r\n"
        "CSeq: 1 INVITE\r\n"
        "Contact: <sip:sipp@127.0.0.1:5061;transport=UDP>\r\n"
        "Max-Forwards: 70\r\n"
        f"X-Tandem-Customer: {customer}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
