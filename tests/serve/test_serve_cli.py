"""``tandem serve sip|http`` as processes: one-line errors and exit 2 for a bad --listen, a
missing table or an unprotected public bind; a snapshot swapped mid-run (file change and
SIGHUP) loses no request and mixes no tables; SIGTERM stops cleanly."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

import serve_helpers as h  # noqa: E402

from tandem.cli.main import cli  # noqa: E402
from tandem.serve.answer import contact_params  # noqa: E402

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["sip", "--listen", "127.0.0.1:99999"], "port must be a number from 0 to 65535"),
        (["sip", "--listen", "nonsense"], "give HOST:PORT"),
        (["http", "--listen", "[::1:80"], "[ADDRESS]:PORT"),
        (["sip", "--table", "MISSING"], "MISSING"),
        (["http", "--listen", "0.0.0.0:8080"], "give --token-file"),
        (["http", "--token-file", "SHORT"], "at least 16"),
        (["sip", "--listen", "192.0.2.123:5070"], "192.0.2.123"),  # not an address here
    ],
)
def test_startup_errors_are_one_line(tmp_path: Path, args: list[str], words: str) -> None:
    table, _config = h.write_files(tmp_path)
    (tmp_path / "SHORT").write_text("abc\n")
    full = ["serve", *args]
    if "--table" not in args:
        full += ["--table", str(table)]
    full = [str(tmp_path / a) if a in ("MISSING", "SHORT") else a for a in full]
    result = CliRunner().invoke(cli, full)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tandem: error: "), result.output
    assert words in lines[0]


def _contacts(answer: bytes) -> tuple[str, ...]:
    return tuple(contact_params(c)["carrier"] for c in h.header_values(answer, "Contact"))


def test_reload_mid_run_loses_nothing(tmp_path: Path) -> None:
    table, config = h.write_files(tmp_path)
    proc = h.ServerProcess(
        "sip", ["--table", str(table), "--config", str(config), "--watch", "0.1"]
    )
    try:
        answers: list[tuple[str, ...]] = []
        lost: list[int] = []
        stop = threading.Event()

        def client() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(3)
                i = 0
                while not stop.is_set():
                    i += 1
                    s.sendto(h.invite("+442079460000", f"rl{i}"), ("127.0.0.1", proc.port))
                    try:
                        data = s.recv(65535)
                    except TimeoutError:
                        lost.append(i)
                        continue
                    assert h.header_values(data, "Call-ID") == [f"rl{i}"]
                    answers.append(_contacts(data))

        worker = threading.Thread(target=client)
        worker.start()
        time.sleep(0.5)
        old = set(answers)
        h.other_table().save(tmp_path / "next.tdm")
        os.replace(tmp_path / "next.tdm", table)  # the file changes under the server
        proc.wait_for("table reloaded")
        time.sleep(0.5)
        (tmp_path / "broken.tdm").write_bytes(b"TANDEMRT not a table")
        os.replace(tmp_path / "broken.tdm", table)  # a bad file: the table in use stays
        proc.wait_for("table reload failed")
        time.sleep(0.3)
        h.table().save(tmp_path / "back.tdm")
        os.replace(tmp_path / "back.tdm", table)
        proc.signal(signal.SIGHUP)  # and a SIGHUP reloads at once
        time.sleep(1.0)
        stop.set()
        worker.join(10)
        assert proc.stop() == 0
    finally:
        if proc.proc.poll() is None:
            proc.proc.kill()
    assert not lost
    first = ("atlas", "cygnus", "borealis")  # h.table()'s routes for +4420...
    second = ("atlas", "cygnus")  # h.other_table(): borealis gone
    assert old == {first}
    assert set(answers) == {first, second}  # every answer wholly one table or the other
    switch = answers.index(second)
    assert answers[-1] == first  # back on the first table after the SIGHUP
    assert switch > 0
    assert sum(1 for line in proc.lines if "table reloaded" in line) >= 2


def test_sigterm_answers_what_it_read(tmp_path: Path) -> None:
    table, config = h.write_files(tmp_path)
    proc = h.ServerProcess("http", ["--table", str(table), "--config", str(config)])
    results: list[int] = []
    errors: list[str] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=5)
        for i in range(100_000):
            try:
                conn.request("GET", f"/route?number=%2B442079460000&customer=acme&call_id=s{i}")
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                errors.append(type(exc).__name__)  # refused/closed once the server stops
                return
            assert response.status == 200
            assert json.loads(body)["routes"]  # every answer received is whole
            results.append(i)

    workers = [threading.Thread(target=client) for _ in range(3)]
    for w in workers:
        w.start()
    time.sleep(1.0)
    proc.signal(signal.SIGTERM)
    code = proc.proc.wait(15)
    for w in workers:
        w.join(10)
    assert code == 0
    assert len(results) > 10
    assert any("shutting down" in line for line in proc.lines)
    assert any(line.rstrip().endswith("stopped") for line in proc.lines)
    assert not any("Traceback" in line for line in proc.lines)


def test_debug_log_line_per_decision_and_metrics(tmp_path: Path) -> None:
    table, config = h.write_files(tmp_path)
    proc = h.ServerProcess(
        "sip", ["--table", str(table), "--config", str(config), "--log-level", "debug",
                "--metrics", "127.0.0.1:0"],
    )  # fmt: skip
    try:
        answer = h.udp_ask(proc.port, h.invite("+881612345678", "dbg1"))
        assert answer is not None and h.status_code(answer) == 403
        assert h.udp_ask(proc.port, b"\x00garbage", timeout=0.3) is None
        proc.wait_for("call_id=dbg1")
        (listening,) = [line for line in proc.lines if "metrics on http://" in line]
        port = int(listening.rsplit(":", 1)[1].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.request("GET", "/route?number=1&customer=acme")
        assert conn.getresponse().status == 404  # the metrics listener routes nothing
    finally:
        assert proc.stop() == 0
    assert 'tandem_blocks_total{server="sip",reason="plan"} 1' in text
    assert 'tandem_sip_malformed_total{server="sip"} 1' in text
    assert 'tandem_sip_requests_total{server="sip",method="INVITE"} 1' in text
    (line,) = [line for line in proc.lines if "call_id=dbg1" in line]
    assert " DEBUG tandem.serve decision id=" in line
    assert "number=+881612345678 customer=acme" in line
    assert "result=blocked code=403 kind=plan" in line
    assert 'reason="destination prefix 881 is blocked by the plan of acme"' in line


def test_number_lookup_options_as_tandem_route(tmp_path: Path) -> None:
    """``--local-ports-csv`` (the lookup options of ``tandem route``): both servers route
    a ported number on its routing number, as ``tandem route`` does with the same option."""
    table, config = h.write_files(tmp_path)
    ports = tmp_path / "ports.csv"
    # +44 2079... ported into the +49 30 range: borealis (49) then cygnus (4) for acme
    ports.write_text("number_prefix,routing_number,sip_uri\n+4420794,+4930123456,\n")
    common = ["--table", str(table), "--config", str(config), "--local-ports-csv", str(ports)]
    at = "2026-06-01T12:00:00Z"
    result = CliRunner().invoke(
        cli, ["route", "+442079460000", "--customer", "acme", "--at", at, "--json",
              *common[:4], "--local-ports-csv", str(ports)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    want = json.loads(result.output)
    assert want["routing_number"] == "4930123456"
    assert [r["carrier"] for r in want["routes"]] == ["borealis", "cygnus"]
    proc = h.ServerProcess("http", common)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=5)
        conn.request("GET", f"/route?number=%2B442079460000&customer=acme&at={at}")
        response = conn.getresponse()
        assert response.status == 200
        assert response.read().decode() == result.output.strip()  # the very same text
    finally:
        assert proc.stop() == 0
    proc = h.ServerProcess("sip", common)
    try:
        answer = h.udp_ask(proc.port, h.invite("+442079460000", "lnp1"))
        assert answer is not None and h.status_code(answer) == 302
        assert _contacts(answer) == ("borealis", "cygnus")  # the routing number's routes
        uri = h.header_values(answer, "Contact")[1]
        assert "<sip:442079460000@203.0.113.50>" in uri  # the dialed number, cygnus' trunk
    finally:
        assert proc.stop() == 0
