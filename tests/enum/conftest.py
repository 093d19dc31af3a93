"""DNS servers for the ENUM tests.

* ``nsd_server``: a real authoritative server (NSD from Debian) on a free loopback port,
  serving ``e164.arpa.`` and ``e164.example.net.`` from the zone files next to this file.
  Skipped when nsd is not installed, unless ``CI=true`` (then it fails).
* ``responder``: a small UDP+TCP server the tests control, for the failure modes a real
  server will not produce on demand (silence, SERVFAIL, truncation, garbage, wrong ids).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from tandem.enum.resolver import Server

HERE = Path(__file__).parent
IN_CI = os.environ.get("CI", "").lower() == "true"
ZONES = {"e164.arpa": "zone_e164.arpa", "e164.example.net": "zone_e164.example.net"}


def free_port() -> int:
    """A loopback port free for both UDP and TCP right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free loopback port")


def _nsd_binary() -> str | None:
    return shutil.which("nsd") or next(
        (p for p in ("/usr/sbin/nsd", "/usr/local/sbin/nsd") if os.access(p, os.X_OK)), None
    )


def _nsd_conf(workdir: Path, port: int) -> str:
    zones = "".join(
        f'zone:\n  name: "{name}"\n  zonefile: "{file}"\n' for name, file in ZONES.items()
    )
    return f"""server:
  ip-address: 127.0.0.1
  port: {port}
  username: ""
  chroot: ""
  zonesdir: "{workdir}"
  database: ""
  pidfile: "{workdir}/nsd.pid"
  logfile: "{workdir}/nsd.log"
  xfrdfile: "{workdir}/xfrd.state"
  zonelistfile: "{workdir}/zone.list"
  xfrdir: "{workdir}"
  server-count: 1
  verbosity: 1
  hide-version: yes
remote-control:
  control-enable: no
{zones}"""


def _ready(port: int) -> bool:
    for zone in ZONES:
        q = dns.message.make_query(zone + ".", dns.rdatatype.SOA)
        try:
            r = dns.query.udp(q, "127.0.0.1", port=port, timeout=0.2)
        except (dns.exception.Timeout, OSError):
            return False
        if r.rcode() != dns.rcode.NOERROR or not r.answer:
            return False
    return True


@pytest.fixture(scope="session")
def nsd_server(tmp_path_factory):
    """A running NSD serving the test zones; yields its :class:`Server`."""
    binary = _nsd_binary()
    if binary is None:
        message = "nsd is not installed (apt-get install nsd)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    workdir = tmp_path_factory.mktemp("nsd")
    for file in ZONES.values():
        shutil.copy(HERE / file, workdir / file)
    port = free_port()
    conf = workdir / "nsd.conf"
    conf.write_text(_nsd_conf(workdir, port))
    stderr = (workdir / "stderr.log").open("wb")
    proc = subprocess.Popen(
        [binary, "-d", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=stderr
    )
    try:
        deadline = time.monotonic() + 15
        while not _ready(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (workdir / "nsd.log").read_text() if (workdir / "nsd.log").exists() else ""
                pytest.fail(f"nsd did not start on port {port}: {log}")
            time.sleep(0.05)
        yield Server("127.0.0.1", port)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        stderr.close()


class Responder:
    """A loopback DNS server whose behaviour the test sets with ``mode``.

    Modes: ``blackhole`` (never answers), ``servfail``, ``refused``, ``truncate`` (UDP
    answers with TC and no records; TCP answers fully), ``truncate-tcp-dead`` (TC over UDP,
    TCP never answers), ``garbage`` (random-looking bytes), ``short`` (3 bytes),
    ``wrong-id`` (an answer with another id, then the right one), ``wrong-id-only``,
    ``answer`` (NAPTR ``records`` with ``ttl``), ``nxdomain`` (with an SOA of ``soa_min``),
    ``slow`` (answers after ``delay`` seconds), ``bytes`` (sends ``payload`` with the
    query's id patched in).
    """

    def __init__(self) -> None:
        self.mode = "answer"
        self.records: list[str] = ['10 10 "u" "E2U+sip" "!^\\\\+(.*)$!sip:\\\\1@responder.test!" .']
        self.ttl = 60
        self.soa_min = 7
        self.delay = 0.0
        self.payload = b""
        self.queries = 0
        for _ in range(50):  # a port free for both UDP and TCP
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", 0))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind(("127.0.0.1", self.port))
            except OSError:
                self.udp.close()
                self.tcp.close()
                continue
            break
        else:
            raise RuntimeError("no loopback port free for both UDP and TCP")
        self.tcp.listen(16)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._serve_udp, daemon=True),
            threading.Thread(target=self._serve_tcp, daemon=True),
        ]
        for t in self._threads:
            t.start()

    @property
    def server(self) -> Server:
        return Server("127.0.0.1", self.port)

    def _response(self, query: dns.message.Message, tcp: bool) -> list[bytes]:
        mode = self.mode
        if mode == "garbage":
            return [b"\x13\x37" + bytes(range(40, 90))]
        if mode == "bytes":  # exactly self.payload, with the query's id when it has 2+ bytes
            payload = self.payload
            if len(payload) >= 2:
                payload = query.id.to_bytes(2, "big") + payload[2:]
            return [payload]
        if mode == "short":
            return [b"\x00\x01\x02"]
        r = dns.message.make_response(query)
        if mode == "servfail":
            r.set_rcode(dns.rcode.SERVFAIL)
            return [r.to_wire()]
        if mode == "refused":
            r.set_rcode(dns.rcode.REFUSED)
            return [r.to_wire()]
        if mode in ("truncate", "truncate-tcp-dead") and not tcp:
            r.flags |= dns.flags.TC
            return [r.to_wire()]
        if mode == "nxdomain":
            r.set_rcode(dns.rcode.NXDOMAIN)
            r.authority.append(
                dns.rrset.from_text(
                    "e164.arpa.", 3600, "IN", "SOA", f"ns.test. h.test. 1 3600 600 9 {self.soa_min}"
                )
            )
            return [r.to_wire()]
        qname = query.question[0].name
        r.answer.append(dns.rrset.from_text_list(qname, self.ttl, "IN", "NAPTR", self.records))
        wire = r.to_wire()
        if mode in ("wrong-id", "wrong-id-only"):
            bad = dns.message.from_wire(wire)
            bad.id = (query.id + 1) % 65536
            return [bad.to_wire()] + ([wire] if mode == "wrong-id" else [])
        return [wire]

    def _serve_udp(self) -> None:
        self.udp.settimeout(0.1)
        while not self._stop.is_set():
            try:
                data, addr = self.udp.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self.queries += 1
            if self.mode == "blackhole":
                continue
            try:
                query = dns.message.from_wire(data)
            except Exception:  # noqa: BLE001
                continue
            if self.mode == "slow":
                time.sleep(self.delay)
            for wire in self._response(query, tcp=False):
                self.udp.sendto(wire, addr)

    def _serve_tcp(self) -> None:
        self.tcp.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._tcp_conn, args=(conn,), daemon=True).start()

    def _tcp_conn(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            try:
                head = conn.recv(2)
                size = int.from_bytes(head, "big")
                data = b""
                while len(data) < size:
                    chunk = conn.recv(size - len(data))
                    if not chunk:
                        return
                    data += chunk
                if self.mode in ("blackhole", "truncate-tcp-dead"):
                    time.sleep(1.0)
                    return
                query = dns.message.from_wire(data)
                for wire in self._response(query, tcp=True):
                    conn.sendall(len(wire).to_bytes(2, "big") + wire)
            except (OSError, ValueError, dns.exception.DNSException):
                return

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(1)
        self.udp.close()
        self.tcp.close()


@pytest.fixture
def responder():
    """A controllable loopback DNS responder (see :class:`Responder`)."""
    r = Responder()
    yield r
    r.close()


@pytest.fixture
def free_port_number():
    """A loopback port nobody listens on."""
    return free_port()
