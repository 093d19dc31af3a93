"""The HTTP API's per-request fast paths give what the plain code gives: the query
parser is ``urllib.parse.parse_qsl`` with the API's settings, ``rtjson_text`` is
``json.dumps(rtjson(...))`` (carriers' trunks of every shape, odd names, on-net routes),
the response heads are those written out in full, and a table swap leaves no reference
cycle behind (the servers move the heap out of the collector's walks with ``gc.freeze``)."""

from __future__ import annotations

import gc
import json
import re
import sys
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))

import serve_helpers as h  # noqa: E402

from tandem.lcr.policy import config_from_mapping  # noqa: E402
from tandem.lcr.router import Router  # noqa: E402
from tandem.lcr.table import RoutingTable  # noqa: E402
from tandem.serve import http  # noqa: E402
from tandem.serve.answer import (  # noqa: E402
    block_answer,
    contacts,
    redirect_text,
    refusal_text,
)
from tandem.serve.rtjson import rtjson, rtjson_text  # noqa: E402

QUERY_CHARS = st.sampled_from(
    list("ab=&%+2B0F9xé ;\x00") + ["%2B", "%2b", "=%2B", "%C3%A9", "%FF", "%", "=="]
)


def reference_pairs(query: str) -> list[tuple[str, str]]:
    """The query parser the API used before its fast path."""
    return parse_qsl(
        query, keep_blank_values=True, strict_parsing=False, errors="strict", max_num_fields=16
    )


@settings(max_examples=400, deadline=None)
@given(st.lists(QUERY_CHARS, max_size=40).map("".join))
def test_query_pairs_is_parse_qsl(query: str) -> None:
    try:
        want: object = reference_pairs(query)
    except (ValueError, UnicodeDecodeError) as exc:
        want = (type(exc), str(exc))
    try:
        got: object = http.query_pairs(query)
    except (ValueError, UnicodeDecodeError) as exc:
        got = (type(exc), str(exc))
    assert got == want


def test_query_pairs_field_limit() -> None:
    assert len(http.query_pairs("&".join(["a=1"] * 16))) == 16
    with pytest.raises(ValueError, match="Max number of fields"):
        http.query_pairs("&".join(["a=1"] * 17))


TRUNKS = st.one_of(
    st.sampled_from([
        "sip:gw1.atlas.example.net", "sips:gw.x.example:5061;transport=tls", "203.0.113.50",
        "sip:user@gw.example.net", "<sip:gw.example.net>", "sip:", "SIP:GW.EXAMPLE.NET",
        'sip:"quoted"\\host', "sip:gw.example.net;lr",
    ]),
    st.text(min_size=1, max_size=20).filter(lambda t: t.strip() != "" and "\x00" not in t),
)  # fmt: skip
IDS = st.one_of(st.sampled_from(["1f-2", "abc123-ff", "0-0"]), st.text(max_size=12))


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    return h.table()


def _decision(table: RoutingTable, trunks: tuple[str, str, str], number: str):
    """The decision for ``number`` with atlas, borealis and cygnus on ``trunks``."""
    config = config_from_mapping(
        {"carriers": {name: {"trunk": trunk} for name, trunk in
                      zip(("atlas", "borealis", "cygnus"), trunks, strict=True)}}
    )  # fmt: skip
    return Router(table, plan=config).route(number, customer="acme", at=1)


def _routed(test):
    """``test`` over random trunks, numbers (routed and not) and decision ids."""
    return settings(
        max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )(
        given(
            trunks=st.tuples(TRUNKS, TRUNKS, TRUNKS),
            number=st.sampled_from(sorted(h.EXPECTED_CODES)[:-1] + ["+4420123", "+1555"]),
            decision_id=IDS,
        )(test)
    )


@_routed
def test_rtjson_text_is_the_dumped_rtjson(table, trunks, number, decision_id) -> None:
    decision = _decision(table, trunks, number)
    assert rtjson_text(decision, decision_id) == json.dumps(rtjson(decision, decision_id))


@_routed
def test_redirect_text_is_the_contacts_as_lines(table, trunks, number, decision_id) -> None:
    """format=sip's 302 (one line per route from cached pieces) holds exactly the Contact
    values tandem serve sip answers with."""
    decision = _decision(table, trunks, number)
    lines = "".join(f"Contact: {c}\r\n" for c in contacts(decision, decision_id))
    assert redirect_text(decision, decision_id) == "302 Moved Temporarily\r\n" + lines


@pytest.mark.parametrize("status", [200, 404, 422, 503])
@pytest.mark.parametrize("close", [False, True])
def test_cached_heads_are_the_written_ones(status: int, close: bool) -> None:
    for length in (0, 7, 1166, 65536):
        want = http._head_text(status, http.JSON_TYPE, str(length), (), close).encode()
        assert http._head(status, http.JSON_TYPE, length, (), close) == want
    extra = ("X-Tandem-Decision: ab-1",)
    assert (
        http._head(status, http.JSON_TYPE, 5, extra, close)
        == http._head_text(status, http.JSON_TYPE, "5", extra, close).encode()
    )


def test_a_table_swap_leaves_no_cycle(tmp_path: Path) -> None:
    path, config = h.write_files(tmp_path)
    router = Router(RoutingTable.load(path), plan=config_from_mapping({}))
    for number in ("+442079460000", "+881612345678"):
        router.route(number, customer="acme", at=1)
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            router.swap(RoutingTable.load(path))
            for number in ("+442079460000", "+4930123456", "+999123"):
                router.route(number, customer="acme", at=1)
        assert gc.collect() == 0  # every dropped table was freed by its reference counts
    finally:
        gc.enable()


# -- the protocol's fast path for GET /route ------------------------------------------------
TOKEN = "s3cret-token-0123456789"
CLOCK = 1_780_000_000.0


class Wire:
    """A transport that keeps what the protocol writes (and whether it closed)."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


@pytest.fixture(scope="module")
def apis(tmp_path_factory: pytest.TempPathFactory):
    """Per token (None, TOKEN): two APIs on services in the same state, one whose protocol
    takes the fast path and one whose protocol always goes through httptools."""
    out = {}
    for token in (None, TOKEN):
        pair = []
        where = tmp_path_factory.mktemp("fast")
        for _ in range(2):
            svc = h.service(where, "http")
            svc._id_prefix = "a1b2c3"
            svc.loaded_at = CLOCK
            pair.append(http.HttpApi(svc, token, clock=lambda: CLOCK))
        out[token] = pair
    return out


def converse(api: http.HttpApi, chunks: list[bytes], fast: bool) -> tuple[list[bytes], bool]:
    """What one connection writes for ``chunks`` (each one read), and whether it closed."""
    wire = Wire()
    proto = http._HttpProtocol(api, set())
    proto.fast = fast
    proto.connection_made(wire)  # type: ignore[arg-type]
    for chunk in chunks:
        if wire.closed:
            break
        proto.data_received(chunk)
    return wire.out, wire.closed


NUMBERS = st.sampled_from([*sorted(h.EXPECTED_CODES), "+44%2020", "%2B4930123456", "+4930123456"])
PARAM = st.one_of(
    st.tuples(st.just("number"), NUMBERS),
    st.tuples(st.sampled_from(["customer", "customer", "source_ip"]),
              st.sampled_from(["acme", "bravo", "nobody", "127.0.0.1", "192.0.2.7", ""])),
    st.tuples(st.just("format"), st.sampled_from(["sip", "rtjson", "json", "xml", ""])),
    st.tuples(st.just("at"), st.sampled_from(["2026-06-01T12:00:00Z", "1780000000", "x", ""])),
    st.tuples(st.just("call_id"), st.sampled_from(["c1", "c%2B2", "", "abc@host"])),
    st.tuples(st.sampled_from(["foo", "num%62er", ""]), st.sampled_from(["1", "", "%FF"])),
)  # fmt: skip
HEADERS = st.sampled_from([
    "Host: 127.0.0.1:8080", "User-Agent: kamailio (5.6.3 (x86_64/linux))", "Accept: */*",
    f"Authorization: Bearer {TOKEN}", f"authorization:   bearer {TOKEN}", "Authorization: Bearer x",
    "Authorization: Basic abc", "Connection: close", "Connection: keep-alive",
    "Content-Length: 0", "Content-Length: 3", "Transfer-Encoding: chunked", "Upgrade: h2c",
    "X-Empty:", "X-Trailing: a ", "X-Tab:\tb", "Bad Header: x", "X-Latin: caf\xe9",
    "X-Fold: a\r\n b", "Proxy-Connection: close",
])  # fmt: skip
LINES = st.sampled_from([
    "GET /route?{q} HTTP/1.1", "GET /route?{q} HTTP/1.0", "HEAD /route?{q} HTTP/1.1",
    "POST /route?{q} HTTP/1.1", "GET /route?{q}#frag HTTP/1.1", "GET /Route?{q} HTTP/1.1",
    "GET /route/?{q} HTTP/1.1", "GET /rou%74e?{q} HTTP/1.1", "GET /route?{q} HTTP/1.1 ",
    "GET  /route?{q} HTTP/1.1", "get /route?{q} HTTP/1.1", "GET /route?{q} HTTP/2.0",
    "GET /healthz HTTP/1.1", "GET /metrics/?{q} HTTP/1.1",
])  # fmt: skip


@st.composite
def requests_(draw) -> bytes:
    """A request: mostly the fast path's shape, often a little off it."""
    pairs = draw(st.lists(PARAM, max_size=6))
    query = "&".join(f"{k}={v}" if k or v else "" for k, v in pairs)
    if draw(st.booleans()):
        old = draw(st.sampled_from(["=", "&", "%", "1"]))
        query = query.replace(
            old, draw(st.sampled_from(["==", "&&", "%%", " ", "\x00", "é", '"'])), 1
        )
    line = draw(st.sampled_from(["GET /route?{q} HTTP/1.1"]) | LINES).format(q=query)
    headers = draw(st.lists(HEADERS, max_size=4))
    text = line + "\r\n" + "".join(f"{x}\r\n" for x in headers) + "\r\n"
    data = text.encode("utf-8")
    if draw(st.integers(0, 9)) == 0:  # a stray byte somewhere
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\n", b"\r", b"\x00", b"\x80", b" "])) + data[at:]
    return data


_ROUTE = b"GET /route?number=%2B442079460000&customer=acme&format=sip HTTP/1.1\r\n"


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(  # a body announced: the next read, whole as it is, is that body, not a request
    [_ROUTE + b"Content-Length: 3\r\n\r\n", _ROUTE + b"\r\n"], [], None, False
)
@example(  # the header's leading blanks are not the value's (httptools drops them)
    [_ROUTE + f"authorization: \t bearer {TOKEN}\r\n\r\n".encode()], [], TOKEN, False
)
@example([_ROUTE + b"Authorization: Bearer x\r\n\r\n"] * 2, [], TOKEN, False)
@example(  # the same header lines again (the known tail), then a query off the shape
    [_ROUTE + f"Authorization: Bearer {TOKEN}\r\n\r\n".encode(),
     _ROUTE.replace(b"acme", b"ac me") + f"Authorization: Bearer {TOKEN}\r\n\r\n".encode(),
     _ROUTE.replace(b"acme", b"bravo") + f"Authorization: Bearer {TOKEN}\r\n\r\n".encode()],
    [], TOKEN, False,
)  # fmt: skip
@given(
    st.lists(requests_(), min_size=1, max_size=3),
    st.lists(st.integers(0, 400), max_size=3),
    st.sampled_from([None, TOKEN]),
    st.booleans(),
)
def test_fast_path_writes_what_httptools_path_writes(apis, reqs, cuts, token, body) -> None:
    """Any sequence of requests, whole, pipelined or split anywhere, with or without the
    bearer token required: the fast path writes the very bytes (decision ids included) and
    closes exactly when the httptools path does, and both count the same requests."""
    stream = b"".join(reqs) + (b"abc" if body else b"")
    bounds = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    chunks = [stream[a:b] for a, b in zip(bounds, bounds[1:], strict=False)] or [stream]
    if len(reqs) > 1 and not cuts:
        chunks = reqs  # one read per request: each may take the fast path
    plain, fast = apis[token]
    want = converse(plain, chunks, fast=False)
    got = converse(fast, chunks, fast=True)
    assert got == want
    assert plain.metrics.requests == fast.metrics.requests
    assert plain.metrics.decisions == fast.metrics.decisions


def test_kamailio_request_takes_the_fast_path(apis, monkeypatch) -> None:
    """The request http_client sends on every INVITE is answered without httptools, the
    same bytes as through it; the general path still answers everything else."""
    plain, fast = apis[None]
    request = (
        b"GET /route?format=sip&number=%2b442079460000&source_ip=127.0.0.1 HTTP/1.1\r\n"
        b"Host: 127.0.0.1:8080\r\nUser-Agent: kamailio (5.6.3 (x86_64/linux))\r\n"
        b"Accept: */*\r\n\r\n"
    )
    want = converse(plain, [request, request], fast=False)

    def refuse(*_args: object) -> None:
        raise AssertionError("httptools was asked")

    monkeypatch.setattr(http.httptools, "HttpRequestParser", lambda _p: type(
        "P", (), {"feed_data": refuse})())  # fmt: skip
    got = converse(fast, [request, request], fast=True)
    assert got == want
    assert got[0][0].startswith(b"HTTP/1.1 200 OK\r\n") and b"302 Moved Temporarily" in got[0][0]


def test_metrics_api_has_no_fast_route(tmp_path: Path) -> None:
    api = http.MetricsApi(h.service(tmp_path, "sip"))
    out, _closed = converse(api, [b"GET /route?number=%2B442079460000&customer=acme "
                                  b"HTTP/1.1\r\n\r\n"], fast=api.fast_route)  # fmt: skip
    assert out[0].startswith(b"HTTP/1.1 404 ")


WHO = [
    {"customer": "acme"},
    {"customer": "bravo"},
    {"source_ip": "127.0.0.1"},
    {"source_ip": "192.0.2.9"},
]


@pytest.mark.parametrize("who", WHO)
def test_a_call_without_id_decided_by_the_router_alone_is_the_lifecycle_s(tmp_path, who) -> None:
    """The HTTP API's lifecycle adds nothing to a call without an id (no fraud, credit or
    shared counters): the service asks the router alone, and every answer (JSON, SIP text,
    block) is what the lifecycle's decision gives; with a call id it still runs the
    lifecycle, and any fraud engine, credit account or quality board turns the shortcut off."""
    svc = h.service(tmp_path, "http")
    calls = svc.calls
    assert calls is not None and calls.router_alone()
    for number in sorted(h.EXPECTED_CODES):
        outcome = svc.decide(number, at=1_780_000_000, call_id=None, **{"customer": None,
                             "source_ip": None, **who})  # fmt: skip
        assert outcome.call is None  # no call record made
        try:
            call = calls.route(number, at=1_780_000_000, **who)
        except Exception as exc:  # noqa: BLE001 - the router's errors: the same block
            assert outcome.block is not None and outcome.decision is None
            assert str(exc) == outcome.block.reason
            continue
        calls.forget(call.call_id)
        if outcome.block is not None:
            assert call.decision.blocked
            assert refusal_text(outcome.block) == refusal_text(block_answer(call.decision))
        else:
            assert outcome.json() == call.decision.decision.to_json()
            assert redirect_text(outcome.decision, "x-1") == redirect_text(call.decision, "x-1")
    routed = svc.decide("+442079460000", customer="acme", source_ip=None, at=1, call_id="k1")
    assert routed.call is not None and "k1" in calls._live
    calls.quality = object()  # type: ignore[assignment]
    assert not calls.router_alone()


# -- the common query read in one match -----------------------------------------------------
QUERY_PIECES = st.sampled_from([
    "format=sip", "format=rtjson", "format=json", "format=xml", "format=", "number=%2B4420",
    "number=%2b442079460000", "number=4930123456", "number=+4420", "number=%2B44%2520",
    "number=%2B", "number=", "number=%2B4420\x00", "source_ip=127.0.0.1", "source_ip=::1",
    "source_ip=192.0.2.7", "customer=acme", "customer=ac%6De", "customer=a+b", "customer=",
    "call_id=c1", "at=1780000000", "foo=1", "", "source_ip=1.2.3.4&source_ip=1.2.3.4",
])  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(QUERY_PIECES, min_size=1, max_size=5), st.sampled_from(["&", "&&", ";"]))
@example(["format=sip", "number=%2b442079460000", "source_ip=127.0.0.1"], "&")
@example(["format=rtjson", "number=442079460000", "customer=acme"], "&")
def test_common_query_reads_as_the_general_parser(pieces, sep) -> None:
    """Where the one match reads a query, it gives what the general parser gives; where the
    general parser refuses one (a name twice, an unknown name...), the match does not
    read it."""
    query = sep.join(pieces)
    found = http._COMMON_QUERY.fullmatch(query)
    try:
        want = http.HttpApi._params(query, http._ROUTE_PARAMS)
    except http._BadRequest:
        assert found is None
        return
    if found is not None:
        fmt, plus, digits, who, value = found.groups()
        got = {"format": fmt, "number": "+" + digits if plus else digits, who: value}
        assert got == want


@pytest.mark.parametrize(
    "query",
    [
        "format=sip&number=%2B442079460000&source_ip=127.0.0.1",
        "format=sip&number=%2B442079460000&source_ip=127.0.0.1&source_ip=127.0.0.1",
        "format=sip&number=%2B442079460000&source_ip=127.0.0.1&bogus=1",
        "format=sip&number=%2B442079460000&source_ip=300.1.1.1",
        "format=sip&number=%2B44207946000000000000&source_ip=127.0.0.1",
        "format=sip&number=%2B4420%FF&source_ip=127.0.0.1",
        "format=sip&number=%2B&source_ip=127.0.0.1",
        "format=xml&number=%2B442079460000&source_ip=127.0.0.1",
        "format=sip&number=%2B442079460000&customer=nobody",
        "format=sip&number=%2B442079460000&customer=",
        "format=sip&number=%2B442079460000",
        "=&&=%&number=%%",
    ],
)
def test_odd_kamailio_queries_are_answered_as_the_general_path(apis, query) -> None:
    """Odd and malformed queries near the common shape: the same answer (a clear 4xx or
    the SIP answer of a call that cannot be decided) through route() as through the
    general dispatch; never a 500."""
    plain, fast = apis[None]
    want = plain.handle("GET", "/route?" + query, None)
    got = fast.route(query, None)
    assert 400 <= got[0] < 500 or got[0] == 200
    # the same answer but for the decision id (the two services count their own)
    unid = re.compile(rb"decision=[0-9a-f]+-[0-9a-f]+")
    assert got[:2] == want[:2] and got[3] == want[3]
    assert unid.sub(b"", got[2]) == unid.sub(b"", want[2])
