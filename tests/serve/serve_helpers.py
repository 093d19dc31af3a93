"""Shared pieces of the serving tests: a small table and routing config covering every
answer (routed, each block kind), servers in a thread (protocol tests) or in a subprocess
(``tandem serve ...``: signals, reloads), and a SIP client."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd

from tandem.lcr.policy import load_config
from tandem.lcr.router import Router
from tandem.lcr.table import OPEN_END, RoutingTable, compile_rates
from tandem.money import UNIT
from tandem.serve.http import HttpApi, start_http
from tandem.serve.metrics import Metrics
from tandem.serve.service import RouteService
from tandem.serve.sip import SipServer, TrustedSources, start_sip

ROOT = Path(__file__).resolve().parents[2]
MILLI = UNIT // 1000
COLUMNS = [
    "account", "kind", "currency", "prefix", "rate", "connect_fee", "initial_increment",
    "next_increment", "min_duration", "effective_from", "effective_until",
]  # fmt: skip
#: (account, kind, prefix, rate in thousandths per minute)
RATES = [
    ("atlas", "carrier", "44", 10), ("atlas", "carrier", "4420", 8), ("atlas", "carrier", "1", 5),
    ("atlas", "carrier", "33", 50),
    ("borealis", "carrier", "44", 9), ("borealis", "carrier", "4420", 12),
    ("borealis", "carrier", "49", 7),
    ("cygnus", "carrier", "4", 11), ("cygnus", "carrier", "881", 1),
    ("cygnus", "carrier", "33", 60),
    ("acme", "customer", "44", 20), ("acme", "customer", "4", 20), ("acme", "customer", "1", 20),
    ("acme", "customer", "881", 90), ("acme", "customer", "33", 30),
    ("bravo", "customer", "44", 15),
]  # fmt: skip
CONFIG = """
[defaults]
max_routes = 5
blocked = ["881"]

[carriers.atlas]
trunk = "sip:gw1.atlas.example.net"

[carriers.borealis]
trunk = "sip:edge.borealis.example.com:5080"

[carriers.cygnus]
trunk = "203.0.113.50"

[customers.bravo]
strategy = "priority"
priority = { borealis = 1, atlas = 2 }

[customers.acme.trunks.local]
ips = ["127.0.0.1/32"]

[customers.bravo.trunks.bravo-1]
ips = ["192.0.2.0/24"]
"""
#: number (as dialed by acme unless said) -> the SIP code answered
EXPECTED_CODES = {
    "+442079460000": 302,  # routed: borealis, atlas, cygnus... by rate
    "+4930123456": 302,  # cygnus (4) only for acme
    "+15551234567": 302,
    "+881612345678": 403,  # plan blocks 881
    "+33123456789": 503,  # every carrier above acme's sell rate (margin protection)
    "+999123": 404,  # no prefix matches
    "12ab": 484,  # not a number
}


def frame(rates: list[tuple[str, str, str, int]] = RATES, scale: int = 1) -> pd.DataFrame:
    return pd.DataFrame(
        [(a, k, "USD", p, r * MILLI * scale, 0, 60, 60, 0, 0, OPEN_END) for a, k, p, r in rates],
        columns=COLUMNS,
    )


def table(scale: int = 1) -> RoutingTable:
    """The test table; ``scale`` multiplies every rate (another table, same routes' order)."""
    return compile_rates(frame(scale=scale), 0)


def other_table() -> RoutingTable:
    """A table whose routes for +44 differ from :func:`table`'s (borealis gone)."""
    rates = [r for r in RATES if r[0] != "borealis"]
    return compile_rates(frame(rates), 0)


def write_files(tmp: Path) -> tuple[Path, Path]:
    """``routes.tdm`` and ``routing.toml`` in ``tmp``."""
    path = tmp / "routes.tdm"
    table().save(path)
    config = tmp / "routing.toml"
    config.write_text(CONFIG)
    return path, config


def service(tmp: Path, server: str, *, keep_calls: bool = True) -> RouteService:
    path, config = write_files(tmp)
    router = Router(RoutingTable.load(path), plan=load_config(config))
    calls = None
    if server == "http":
        from tandem.calls import Calls
        from tandem.state import MemoryCounters

        calls = Calls(router, counters=MemoryCounters())
    return RouteService(router, path, metrics=Metrics(server), calls=calls,
                        keep_calls=keep_calls, lifecycle_json=False)  # fmt: skip


class ThreadServer:
    """A server's asyncio loop in a daemon thread (no signals: the protocol tests)."""

    def __init__(self, kind: str, svc: RouteService, token: str | None = None) -> None:
        self.kind = kind
        self.service = svc
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self.closables: list[Any] = []
        if kind == "sip":
            self.handler: Any = SipServer(svc, TrustedSources())
        else:
            self.handler = HttpApi(svc, token)
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)

            async def start() -> None:
                if kind == "sip":
                    self.closables, _c, self.port = await start_sip(self.handler, "127.0.0.1", 0)
                else:
                    self.closables, _c, self.port = await start_http(self.handler, "127.0.0.1", 0)
                ready.set()

            self.loop.run_until_complete(start())
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert ready.wait(10), "server did not start"

    def stop(self) -> None:
        def close() -> None:
            for c in self.closables:
                c.close()
            self.loop.stop()

        self.loop.call_soon_threadsafe(close)
        self.thread.join(5)


class ServerProcess:
    """``python -m tandem serve KIND ... --listen 127.0.0.1:0``; the port is read from its
    "listening" line."""

    def __init__(self, kind: str, args: list[str], timeout: float = 60) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tandem", "serve", kind, *args, "--listen", "127.0.0.1:0"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self.port = 0
        deadline = time.monotonic() + timeout
        assert self.proc.stderr is not None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.lines.append(line)
            m = re.search(r"listening on (?:udp\S* )?(?:http://)?127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if not self.port:
            self.proc.kill()
            raise AssertionError("server did not start: " + "".join(self.lines))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise

    def wait_for(self, text: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in list(self.lines)):
                return
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} in the server's log: " + "".join(self.lines))


def invite(number: str, call_id: str, *, customer: str | None = "acme", compact: bool = False,
           extra: str = "", transport: str = "UDP", body: bytes = b"") -> bytes:  # fmt: skip
    """An INVITE to ``number`` (long or compact header names)."""
    h = ("v", "f", "t", "i", "l") if compact else ("Via", "From", "To", "Call-ID", "Content-Length")
    lines = [
        f"INVITE sip:{number}@127.0.0.1 SIP/2.0",
        f"{h[0]}: SIP/2.0/{transport} 127.0.0.1:5999;branch=z9hG4bK{call_id};rport",
        f"{h[1]}: <sip:caller@127.0.0.1>;tag=from{call_id}",
        f"{h[2]}: <sip:{number}@127.0.0.1>",
        f"{h[3]}: {call_id}",
        "CSeq: 1 INVITE",
        "Max-Forwards: 70",
    ]
    if customer is not None:
        lines.append(f"X-Tandem-Customer: {customer}")
    if extra:
        lines.append(extra)
    lines.append(f"{h[4]}: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def request(method: str, call_id: str, cseq_method: str | None = None) -> bytes:
    lines = [
        f"{method} sip:x@127.0.0.1 SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK{call_id}",
        f"From: <sip:caller@127.0.0.1>;tag=f{call_id}",
        "To: <sip:x@127.0.0.1>",
        f"Call-ID: {call_id}",
        f"CSeq: 7 {cseq_method or method}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def udp_ask(port: int, data: bytes, timeout: float = 3.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(data, ("127.0.0.1", port))
        try:
            return s.recv(65535)
        except TimeoutError:
            return None


def status_code(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def header_values(answer: bytes, name: str) -> list[str]:
    out = []
    for line in answer.decode().split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            out.append(value.strip())
    return out
