"""The HTTP route API on a loopback port: the decision JSON of ``tandem route --json``,
rtjson, call ends, health and metrics, bearer tokens, clear 4xx errors for bad input (never
a 500), and a property-based run of schemathesis against the OpenAPI schema."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

import serve_helpers as h  # noqa: E402

from tandem.cli.main import cli  # noqa: E402
from tandem.serve.answer import contact_params, contact_uri  # noqa: E402
from tandem.serve.openapi import openapi_schema  # noqa: E402

pytestmark = pytest.mark.timeout(90)
AT = "2026-06-01T12:00:00Z"
TOKEN = "s3cret-token-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    srv = h.ThreadServer("http", h.service(tmp_path_factory.mktemp("http"), "http"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory):
    srv = h.ThreadServer("http", h.service(tmp_path_factory.mktemp("https"), "http"), TOKEN)
    yield srv
    srv.stop()


def get(srv: h.ThreadServer, path: str, **kw) -> requests.Response:
    return requests.get(f"http://127.0.0.1:{srv.port}{path}", timeout=5, **kw)


def cli_json(srv: h.ThreadServer, *args: str) -> tuple[int, str]:
    svc = srv.service
    config = svc.table_path.parent / "routing.toml"
    result = CliRunner().invoke(
        cli, ["route", *args, "--table", str(svc.table_path), "--config", str(config), "--json"]
    )
    return result.exit_code, result.output


@pytest.mark.parametrize("number", sorted(h.EXPECTED_CODES))
@pytest.mark.parametrize("who", ["customer=acme", "customer=bravo", "source_ip=192.0.2.1"])
def test_route_is_tandem_route_json(server, number: str, who: str) -> None:
    key, value = who.split("=")
    response = get(server, f"/route?number={quote(number)}&{who}&at={AT}&call_id=x1")
    code, output = cli_json(
        server, number, f"--{key.replace('_', '-')}", value, "--at", AT, "--call-id", "x1"
    )
    if code == 0:
        assert response.status_code == 200
        assert response.text == output.strip()  # the very same text
        assert response.headers["Content-Type"] == "application/json"
    else:
        assert response.status_code == 422  # the call cannot be decided (bad number)
        body = response.json()
        assert body["error"] == "bad_number" and body["sip_code"] == 484
        assert body["reason"] in output


def test_rtjson(server) -> None:
    want = json.loads(cli_json(server, "+442079460000", "--customer", "acme", "--at", AT)[1])
    doc = get(server, f"/route?number=%2B442079460000&customer=acme&at={AT}&format=rtjson").json()
    assert doc["version"] == "1.0" and doc["routing"] == "serial"
    assert [r["uri"] for r in doc["routes"]] == [
        contact_uri(want["normalized"], r["carrier"], r["trunk"]) for r in want["routes"]
    ]
    assert doc["routes"][0]["dst_uri"] == "sip:gw1.atlas.example.net"
    assert doc["routes"][0]["headers"]["extra"].startswith("X-Tandem-Carrier: atlas\r\n")
    blocked = get(server, "/route?number=%2B881612345678&customer=acme&format=rtjson").json()
    assert blocked["routes"] == [] and blocked["blocked"]["code"] == 403
    bad = get(server, "/route?number=12ab&customer=acme&format=rtjson")
    assert bad.status_code == 422 and bad.json()["blocked"]["code"] == 484


def test_sip_format_is_the_sip_answer_as_text(server) -> None:
    want = json.loads(cli_json(server, "+442079460000", "--customer", "acme", "--at", AT)[1])
    response = get(server, f"/route?number=%2B442079460000&customer=acme&at={AT}&format=sip")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    lines = response.text.split("\r\n")
    assert lines[0] == "302 Moved Temporarily" and lines[-1] == ""  # every line ends in CRLF
    contacts = [contact_params(line.removeprefix("Contact: ")) for line in lines[1:-1]]
    assert all(line.startswith("Contact: <sip:") for line in lines[1:-1])
    assert [c["uri"] for c in contacts] == [
        contact_uri(want["normalized"], r["carrier"], r["trunk"]) for r in want["routes"]
    ]
    assert [c["carrier"] for c in contacts] == [r["carrier"] for r in want["routes"]]
    assert contacts[0]["q"] == "1.0" and len({c["decision"] for c in contacts}) == 1
    blocked = get(server, f"/route?number=%2B881612345678&customer=acme&at={AT}&format=sip")
    code, output = cli_json(server, "+881612345678", "--customer", "acme", "--at", AT)
    reason = json.loads(output)["reason"]
    assert blocked.status_code == 200
    assert blocked.text == f'403 Forbidden\r\nReason: SIP ;cause=403 ;text="{reason}"\r\n'
    bad = get(server, "/route?number=12ab&customer=acme&format=sip")
    assert bad.status_code == 422
    assert bad.text.startswith("484 Address Incomplete\r\nReason: SIP ;cause=484 ;text=")


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/route", 400, "number"),
        ("/route?number=", 400, "number"),
        ("/route?number=442079", 400, "who is calling"),
        ("/route?number=44&customer=acme&numbr=1", 400, "unknown parameter 'numbr'"),
        ("/route?number=44&number=45&customer=acme", 400, "twice"),
        ("/route?number=44&customer=acme&at=yesterday", 400, "at:"),
        ("/route?number=44&customer=acme&format=xml", 400, "json, rtjson or sip"),
        ("/route?number=%ff&customer=acme", 400, "unreadable"),
        ("/route?number=4%00&customer=acme", 400, "NUL"),
        ("/route?number=44&customer=nobody", 422, "unknown customer"),
        ("/route?number=44&source_ip=10.9.9.9", 422, "10.9.9.9"),
        ("/route?number=44&source_ip=not-an-ip", 422, "not-an-ip"),
        ("/route?number=1234567890123456789&customer=acme", 422, "digits"),
        ("/nowhere", 404, "no such path"),
        ("/calls//end", 404, "no such path"),
    ],
)
def test_bad_requests_get_a_clear_4xx(server, path: str, status: int, words: str) -> None:
    response = get(server, path)
    assert response.status_code == status, response.text
    body = response.json()
    assert words in body["reason"] and body["error"]


def test_wrong_method_and_raw_garbage(server) -> None:
    response = requests.post(f"http://127.0.0.1:{server.port}/route?number=1", timeout=5)
    assert response.status_code == 405 and response.headers["Allow"] == "GET"
    response = requests.get(f"http://127.0.0.1:{server.port}/calls/c1/end", timeout=5)
    assert response.status_code == 405
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(b"GARBAGE / HTTP/9\r\n\r\n")
        data = conn.recv(4096)
    assert data.startswith(b"HTTP/1.1 400 ")
    assert b'"error": "bad_request"' in data and b"Traceback" not in data


def test_call_end(server) -> None:
    url = f"http://127.0.0.1:{server.port}"
    assert get(server, "/route?number=%2B442079460000&customer=acme&call_id=e1").ok
    first = requests.post(f"{url}/calls/e1/end?duration=90&carrier=atlas", timeout=5).json()
    assert first == {
        "call_id": "e1", "known": True, "first": True, "carrier": "atlas", "duration": 90,
        "billed": 120, "cost": "0.04", "released": False,
    }  # fmt: skip
    again = requests.post(f"{url}/calls/e1/end", timeout=5).json()
    assert again["known"] is False  # ended: this node holds it no more
    assert requests.post(f"{url}/calls/zz/end", timeout=5).json() == {
        "call_id": "zz", "known": False,
    }  # fmt: skip
    bad = requests.post(f"{url}/calls/e2/end?duration=-5", timeout=5)
    assert bad.status_code == 400 and "duration" in bad.json()["reason"]


def test_healthz_and_metrics(server) -> None:
    health = get(server, "/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert health.json()["table"]["carriers"] == 3
    get(server, "/route?number=%2B881612345678&customer=acme")
    get(server, "/route?number=%2B442079460000&customer=acme")
    text = get(server, "/metrics").text
    assert 'tandem_blocks_total{server="http",reason="plan"}' in text
    assert "# TYPE tandem_decision_seconds histogram" in text
    assert 'tandem_decision_seconds_bucket{server="http",le="+Inf"}' in text
    assert "tandem_table_age_seconds{" in text and "tandem_redis_fallbacks_total{" in text
    routed = [line for line in text.splitlines() if 'result="routed"' in line]
    assert int(routed[0].rsplit(" ", 1)[1]) >= 1


def test_bearer_token(secured) -> None:
    path = "/route?number=%2B442079460000&customer=acme"
    assert get(secured, path).status_code == 401
    assert get(secured, path, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert get(secured, path, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert get(secured, "/metrics").status_code == 401
    ok = get(secured, path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json()["routes"]
    assert get(secured, "/healthz").status_code == 200  # health checks need no token


def test_openapi_document(server) -> None:
    doc = get(server, "/openapi.json").json()
    assert doc == openapi_schema()
    assert set(doc["paths"]) == {"/route", "/calls/{call_id}/end", "/healthz", "/metrics",
                                 "/openapi.json"}  # fmt: skip


def test_schemathesis_against_the_schema(server) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_dict(openapi_schema())
    base = f"http://127.0.0.1:{server.port}"
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance]  # fmt: skip
    ran = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=40, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(case=operation.as_strategy())
        def run(case) -> None:
            response = case.call(base_url=base, timeout=5)
            assert response.status_code < 500, response.text
            case.validate_response(response, checks=checks)

        run()
        ran += 1
    assert ran == 5


def test_pipelined_requests_answered_in_order_and_big_bodies_refused(server) -> None:
    requests_ = b"".join(
        f"GET /route?number=%2B4420794600{i:02d}&customer=acme&at={AT} HTTP/1.1\r\n"
        f"Host: x\r\n\r\n".encode()
        for i in range(3)
    )
    big = b"x" * 70_000
    requests_ += (
        b"POST /calls/b1/end HTTP/1.1\r\nHost: x\r\nContent-Length: "
        + str(len(big)).encode() + b"\r\n\r\n" + big
    )  # fmt: skip
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(requests_)
        data = b""
        while data.count(b"HTTP/1.1 ") < 4:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    parts = data.split(b"HTTP/1.1 ")[1:]
    assert [p[:3] for p in parts] == [b"200", b"200", b"200", b"413"]
    numbers = [json.loads(p.split(b"\r\n\r\n", 1)[1])["number"] for p in parts[:3]]
    assert numbers == [f"+4420794600{i:02d}" for i in range(3)]


def test_healthz_is_503_once_the_table_expires(tmp_path: Path) -> None:
    from tandem.lcr.router import Router
    from tandem.lcr.table import compile_rates
    from tandem.serve.http import HttpApi
    from tandem.serve.metrics import Metrics
    from tandem.serve.service import RouteService

    frame = h.frame()
    frame["effective_until"] = 2_000_000_000
    compile_rates(frame, 0).save(tmp_path / "t.tdm")
    svc = RouteService(Router(compile_rates(frame, 0)), tmp_path / "t.tdm", metrics=Metrics("http"))
    now = [1_999_999_999.0]
    api = HttpApi(svc, clock=lambda: now[0])
    assert api.handle("GET", "/healthz", None)[0] == 200
    now[0] = 2_000_000_000.0
    status, _ctype, body, _extra = api.handle("GET", "/healthz", None)
    assert status == 503 and json.loads(body)["status"] == "stale"
    status, _ctype, body, _extra = api.handle("GET", "/route?number=%2B4420&customer=acme", None)
    assert status == 200 and "recompile" in json.loads(body)["reason"]
