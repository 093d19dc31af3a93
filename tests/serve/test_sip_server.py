"""The SIP redirect server on a loopback port: 302 Contacts equal to ``tandem route
--json``, blocked codes, compact headers, OPTIONS/ACK/CANCEL, TCP framing, and malformed
datagrams dropped and counted while the server goes on."""

from __future__ import annotations

import json
import random
import socket
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

import serve_helpers as h  # noqa: E402

from tandem.cli.main import cli  # noqa: E402
from tandem.serve.answer import contact_params, contact_uri  # noqa: E402

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("sip")
    srv = h.ThreadServer("sip", h.service(tmp, "sip", keep_calls=False))
    yield srv
    srv.stop()


def route_json(srv: h.ThreadServer, number: str, *extra: str) -> dict:
    svc = srv.service
    config = svc.table_path.parent / "routing.toml"
    result = CliRunner().invoke(
        cli,
        ["route", number, *extra, "--table", str(svc.table_path), "--config", str(config),
         "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize(
    ("number", "who", "args"),
    [
        ("+442079460000", None, ["--customer", "acme"]),
        ("+4930123456", None, ["--customer", "acme"]),
        ("+15551234567", None, ["--customer", "acme"]),
        ("+442071234567", "bravo", ["--customer", "bravo"]),  # priority plan
        ("+442071234567", "ip:192.0.2.9", ["--source-ip", "192.0.2.9"]),  # relayed source IP
        ("+442079460000", "src", ["--source-ip", "127.0.0.1"]),  # the packet's source
    ],
)
def test_302_contacts_are_tandem_route_json(server, number: str, who, args) -> None:
    want = route_json(server, number, *args)
    assert want["routes"], want
    if who is None or who == "bravo":
        message = h.invite(number, f"r{number}{who}", customer=who or "acme")
    elif who.startswith("ip:"):
        message = h.invite(number, f"r{number}ip", customer=None,
                           extra=f"X-Tandem-Source-IP: {who[3:]}")  # fmt: skip
    else:
        message = h.invite(number, f"r{number}src", customer=None)
    answer = h.udp_ask(server.port, message)
    assert answer is not None and h.status_code(answer) == 302, answer
    got = [contact_params(c) for c in h.header_values(answer, "Contact")]
    assert [g["uri"] for g in got] == [
        contact_uri(want["normalized"], r["carrier"], r["trunk"]) for r in want["routes"]
    ]
    assert [(g["carrier"], g["rate"]) for g in got] == [
        (r["carrier"], r["rate"]) for r in want["routes"]
    ]
    assert len({g["decision"] for g in got}) == 1
    qs = [float(g["q"]) for g in got]
    assert qs == sorted(qs, reverse=True) and len(set(qs)) == len(qs)


@pytest.mark.parametrize(("number", "code"), sorted(h.EXPECTED_CODES.items()))
def test_codes_and_reasons(server, number: str, code: int) -> None:
    answer = h.udp_ask(server.port, h.invite(number, f"b{number}"))
    assert answer is not None and h.status_code(answer) == code
    if code == 302:
        return
    (reason,) = h.header_values(answer, "Reason")
    assert reason.startswith(f"SIP ;cause={code} ;text=")
    if code != 484:  # a bad number is no decision: `tandem route` errors out
        assert reason.endswith(f'"{route_json(server, number, "--customer", "acme")["reason"]}"')


def test_unknown_customer_and_untrusted_headers(server) -> None:
    answer = h.udp_ask(server.port, h.invite("+4420", "u1", customer="nobody"))
    assert answer is not None and h.status_code(answer) == 403
    assert "unknown customer" in h.header_values(answer, "Reason")[0]
    # an untrusted source's header is ignored: 127.0.0.1 is trusted here, so trust none
    trusted = server.handler.trusted
    saved = trusted.networks, dict(trusted._seen)
    trusted.networks, trusted._seen = [], {}
    try:
        answer = h.udp_ask(server.port, h.invite("+442071234567", "u2", customer="bravo"))
        assert answer is not None and h.status_code(answer) == 302
        first = contact_params(h.header_values(answer, "Contact")[0])
        assert first["carrier"] == "atlas"  # acme's order (by the source IP), not bravo's
    finally:
        trusted.networks, trusted._seen = saved


def test_compact_form_answers_like_long_form(server) -> None:
    long = h.udp_ask(server.port, h.invite("+442079460000", "k1"))
    short = h.udp_ask(server.port, h.invite("+442079460000", "k1", compact=True))
    assert long is not None and short is not None
    strip = [c.rsplit(";decision=", 1)[0] for c in h.header_values(long, "Contact")]
    assert strip == [c.rsplit(";decision=", 1)[0] for c in h.header_values(short, "Contact")]
    for name in ("From", "Call-ID", "CSeq"):
        assert h.header_values(short, name) == h.header_values(long, name)
    (via,) = h.header_values(short, "Via")
    assert via.startswith("SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKk1;rport=")
    assert via.endswith(";received=127.0.0.1")
    (to,) = h.header_values(short, "To")
    assert to.startswith("<sip:+442079460000@127.0.0.1>;tag=")
    assert h.header_values(long, "To") == [to]  # a retransmission gets the same To-tag


def test_options_ack_cancel_and_other_methods(server) -> None:
    answer = h.udp_ask(server.port, h.request("OPTIONS", "o1"))
    assert answer is not None and h.status_code(answer) == 200
    assert h.header_values(answer, "Allow") == ["INVITE, ACK, CANCEL, OPTIONS"]
    assert h.udp_ask(server.port, h.request("ACK", "a1"), timeout=0.3) is None
    answer = h.udp_ask(server.port, h.request("CANCEL", "c1"))
    assert answer is not None and h.status_code(answer) == 200
    answer = h.udp_ask(server.port, h.request("BYE", "y1"))
    assert answer is not None and h.status_code(answer) == 405


def test_tcp_framing(server) -> None:
    messages = [h.invite("+442079460000", f"t{i}", transport="TCP", body=b"v=0\r\n" * i)
                for i in range(4)]  # fmt: skip
    stream = b"\r\n\r\n" + b"".join(messages[:2]) + messages[2] + b"\r\n\r\n" + messages[3]
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        rng = random.Random(3)
        i = 0
        while i < len(stream):  # in random pieces, one byte at a time sometimes
            n = rng.choice([1, 7, 50, 400])
            conn.sendall(stream[i : i + n])
            i += n
            time.sleep(0.001)
        data = b""
        deadline = time.monotonic() + 5
        while data.count(b"SIP/2.0 302") < 4 and time.monotonic() < deadline:
            data += conn.recv(65535)
    assert data.startswith(b"\r\n")  # the keep-alive's pong
    answers = [b"SIP/2.0 302" + part for part in data.split(b"SIP/2.0 302")[1:]]
    assert [h.header_values(a, "Call-ID")[0] for a in answers] == ["t0", "t1", "t2", "t3"]


def test_tcp_unframeable_stream_is_closed(server) -> None:
    before = server.service.metrics.malformed
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(b"INVITE sip:1@h SIP/2.0\r\nContent-Length: x\r\n\r\n")
        assert conn.recv(100) == b""  # closed
    assert server.service.metrics.malformed == before + 1


def test_malformed_datagrams_are_dropped_and_counted(server) -> None:
    metrics = server.service.metrics
    before = metrics.malformed
    rng = random.Random(11)
    good = h.invite("+442079460000", "f0")
    sent_bad = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(600):
            if i % 2:
                data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
            else:
                data = bytearray(good)
                for _ in range(rng.randrange(1, 5)):
                    j = rng.randrange(len(data))
                    data[j : j + rng.randrange(1, 30)] = b""
                data = bytes(data)
            s.sendto(data, ("127.0.0.1", server.port))
            sent_bad += 1
            if i % 50 == 0:
                time.sleep(0.01)
    answer = h.udp_ask(server.port, h.invite("+442079460000", "after-fuzz"))
    assert answer is not None and h.status_code(answer) == 302  # still serving
    assert metrics.malformed - before >= 300  # every random datagram at least
    assert metrics.malformed - before <= sent_bad
