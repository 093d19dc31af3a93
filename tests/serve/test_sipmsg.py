"""The SIP parser, framer and answer builders: pure functions, property-tested and fuzzed."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))

import serve_helpers as h  # noqa: E402

from tandem.lcr.policy import load_config  # noqa: E402
from tandem.lcr.router import Router  # noqa: E402
from tandem.serve.answer import (  # noqa: E402
    BLOCK_CODES,
    block_answer,
    contact_params,
    contact_uri,
    contacts,
    q_values,
    reason_header,
)
from tandem.serve.sipmsg import (  # noqa: E402
    COMPACT_FORMS,
    SipParseError,
    frame,
    parse_request,
    request_user,
    response,
    to_tag,
    via_received,
)

T = 1_767_225_600
LONG = {v: k for k, v in COMPACT_FORMS.items()}


def test_parse_long_and_compact_forms_alike() -> None:
    long = parse_request(h.invite("+442079460000", "c1"))
    short = parse_request(h.invite("+442079460000", "c1", compact=True))
    for req in (long, short):
        assert req.method == "INVITE"
        assert req.uri == "sip:+442079460000@127.0.0.1"
        assert req.call_id == "c1"
        assert req.cseq == "1 INVITE"
        assert req.vias == ("SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKc1;rport",)
        assert req.header("X-Tandem-Customer") == "acme"
        assert req.header("l") == req.header("Content-Length") == "0"
    assert long.from_ == short.from_ and long.to == short.to


def test_folded_lines_multiple_vias_and_body() -> None:
    data = (
        b"INVITE sip:123@h SIP/2.0\r\nVia: SIP/2.0/UDP a:1;branch=z9hG4bK1\r\n"
        b"v: SIP/2.0/TCP b:2;branch=z9hG4bK2\r\nSubject: one\r\n  two\r\n"
        b"From: <sip:a@b>;tag=1\r\nTo: <sip:1@h>\r\ni: x\r\nCSeq : 5 INVITE\r\n"
        b"Content-Length: 3\r\n\r\nabcdef"
    )
    req = parse_request(data)
    assert req.vias == ("SIP/2.0/UDP a:1;branch=z9hG4bK1", "SIP/2.0/TCP b:2;branch=z9hG4bK2")
    assert req.header("subject") == "one two"
    assert req.body == b"abc"  # a datagram's bytes after Content-Length are ignored
    with pytest.raises(SipParseError, match="Content-Length says 9"):
        parse_request(data.replace(b"Content-Length: 3", b"Content-Length: 9"))


@pytest.mark.parametrize(
    ("mutation", "reason"),
    [
        (lambda d: d.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), "version"),
        (lambda d: d.replace(b"Call-ID: c1\r\n", b""), "Call-ID"),
        (lambda d: d.replace(b"CSeq: 1 INVITE", b"CSeq: x INVITE"), "CSeq"),
        (lambda d: d.replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE"), "CSeq method"),
        (lambda d: d.replace(b"\r\nMax-Forwards", b"\r\nMax Forwards"), "header"),
        (lambda d: d.replace(b"\r\n\r\n", b"\r\n"), "end of the header"),
        (lambda d: b"SIP/2.0 200 OK\r\n" + d.split(b"\r\n", 1)[1], "response"),
        (lambda d: d.replace(b"Content-Length: 0", b"Content-Length: -1"), "Content-Length"),
        (lambda d: d.replace(b"caller", b"\xff\xfe"), "UTF-8"),
        (lambda d: d.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\rX: 1\r\n"), "bare CR"),
    ],
)
def test_malformed_requests_say_why(mutation, reason: str) -> None:
    with pytest.raises(SipParseError, match=reason):
        parse_request(mutation(h.invite("+442079460000", "c1")))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_raise_only_parse_errors(data: bytes) -> None:
    try:
        req = parse_request(data)
    except SipParseError:
        return
    assert req.method and req.call_id and req.vias  # what parsed is a whole request


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_requests_raise_only_parse_errors(data: st.DataObject) -> None:
    message = bytearray(h.invite("+442079460000", "c1", compact=data.draw(st.booleans())))
    for _ in range(data.draw(st.integers(1, 6))):
        op = data.draw(st.sampled_from(["flip", "cut", "dup", "insert"]))
        i = data.draw(st.integers(0, len(message) - 1))
        if op == "flip":
            message[i] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del message[i : i + data.draw(st.integers(1, 20))]
        elif op == "dup":
            message[i:i] = message[i : i + data.draw(st.integers(1, 30))]
        else:
            message[i:i] = data.draw(st.sampled_from([b"\r\n", b":", b" ", b"\t", b"\x00", b";"]))
        if not message:
            message = bytearray(b"x")
    try:
        req = parse_request(bytes(message))
    except SipParseError:
        return
    response(req, 200, "OK", tag=to_tag(req))  # whatever parsed can be answered


names = st.sampled_from(["Via", "From", "To", "Call-ID", "CSeq", "Content-Length", "Subject"])


@settings(max_examples=200, deadline=None)
@given(
    order=st.permutations(["Via", "From", "To", "Call-ID", "CSeq", "Content-Length", "Subject"]),
    compact=st.lists(st.booleans(), min_size=7, max_size=7),
    upper=st.lists(st.booleans(), min_size=7, max_size=7),
    space=st.lists(st.sampled_from(["", " ", "\t "]), min_size=7, max_size=7),
    body=st.binary(max_size=40),
)
def test_header_forms_parse_to_the_same_fields(order, compact, upper, space, body) -> None:
    values = {
        "Via": "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc",
        "From": "<sip:a@b>;tag=9",
        "To": "<sip:1@c>",
        "Call-ID": "id-1@host",
        "CSeq": "42 INVITE",
        "Content-Length": str(len(body)),
        "Subject": "s",
    }
    lines = ["INVITE sip:123@c SIP/2.0"]
    for name, short, up, sp in zip(order, compact, upper, space, strict=True):
        key = LONG.get(name.lower(), name) if short else name
        key = key.upper() if up else key
        lines.append(f"{key}{sp}: {values[name]}")
    req = parse_request(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    assert (req.vias, req.from_, req.to, req.call_id, req.cseq, req.body) == (
        (values["Via"],), values["From"], values["To"], values["Call-ID"], values["CSeq"], body,
    )  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=30), min_size=1, max_size=5), st.data())
def test_frame_splits_a_stream_at_any_cut(bodies: list[bytes], data: st.DataObject) -> None:
    messages = [h.invite("+4420", f"c{i}", transport="TCP", body=b) for i, b in enumerate(bodies)]
    stream = b"\r\n\r\n".join(messages)  # keep-alives between messages
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    buffer = bytearray()
    got = []
    last = 0
    for cut in [*cuts, len(stream)]:
        buffer += stream[last:cut]
        last = cut
        while (span := frame(buffer)) is not None:
            got.append(bytes(buffer[span[0] : span[1]]))
            del buffer[: span[1]]
    assert got == messages
    assert [parse_request(m, stream=True).body for m in got] == bodies


def test_frame_refuses_what_cannot_be_framed() -> None:
    with pytest.raises(SipParseError):
        frame(b"INVITE x SIP/2.0\r\nContent-Length: abc\r\n\r\n")
    with pytest.raises(SipParseError):
        frame(b"A" * 70_000)
    assert frame(b"INVITE x SIP/2.0\r\nl: 5\r\n\r\nab") is None  # body not complete yet


def test_response_copies_the_dialog_fields_and_adds_a_to_tag() -> None:
    req = parse_request(h.invite("+4420", "c9"))
    out = response(req, 302, "Moved Temporarily", tag="t1", headers=[("Contact", "<sip:1@a>")])
    text = out.decode()
    assert text.startswith("SIP/2.0 302 Moved Temporarily\r\n")
    assert "\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKc9;rport\r\n" in text
    assert "\r\nTo: <sip:+4420@127.0.0.1>;tag=t1\r\n" in text
    assert "\r\nFrom: <sip:caller@127.0.0.1>;tag=fromc9\r\n" in text
    assert "\r\nCall-ID: c9\r\nCSeq: 1 INVITE\r\nContact: <sip:1@a>\r\n" in text
    assert text.endswith("Content-Length: 0\r\n\r\n")
    tagged = parse_request(h.invite("+4420", "c9").replace(b"127.0.0.1>\r\n", b"1>;tag=x\r\n"))
    assert ";tag=x\r\n" in response(tagged, 200, "OK", tag="t2").decode()
    assert to_tag(req) == to_tag(parse_request(h.invite("+4420", "c9")))  # retransmission
    assert to_tag(req) != to_tag(parse_request(h.invite("+4420", "c10")))


def test_via_received_and_rport() -> None:
    assert via_received("SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bK1", "10.1.1.1", 5060) == (
        "SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bK1"
    )
    assert via_received("SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bK1", "10.9.9.9", 5) == (
        "SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bK1;received=10.9.9.9"
    )
    assert via_received("SIP/2.0/UDP 10.1.1.1;rport;branch=z9hG4bK1", "10.1.1.1", 7) == (
        "SIP/2.0/UDP 10.1.1.1;rport=7;branch=z9hG4bK1;received=10.1.1.1"
    )
    assert via_received("SIP/2.0/UDP [2001:db8::1]:5060;branch=b, SIP/2.0/UDP x", "2001:db8::1",
                        1) == "SIP/2.0/UDP [2001:db8::1]:5060;branch=b, SIP/2.0/UDP x"  # fmt: skip


def test_request_user() -> None:
    assert request_user("sip:+442079460000@h;user=phone") == "+442079460000"
    assert request_user("sip:442079460000;npdi;rn=123@h") == "442079460000"
    assert request_user("sips:%23123442079460000@h") == "#123442079460000"
    assert request_user("tel:+442079460000;phone-context=x") == "+442079460000"
    assert request_user("sip:h.example.com") == ""
    assert request_user("mailto:x@y") == ""


def test_q_values_descend_strictly() -> None:
    for n in range(0, 1001, 7):
        qs = [float(q) for q in q_values(n)]
        assert len(qs) == n
        assert all(a > b for a, b in zip(qs, qs[1:], strict=False))
        assert all(0 < q <= 1 for q in qs) and (not qs or qs[0] == 1.0)


def test_reason_header_escapes() -> None:
    assert reason_header(403, 'a "b" \\ c\r\nd') == 'SIP ;cause=403 ;text="a \\"b\\" \\\\ c d"'


def test_contact_uri_forms() -> None:
    assert contact_uri("44", "a", "sip:gw.example.net") == "sip:44@gw.example.net"
    assert contact_uri("44", "a", "sips:gw.example.net:5061;transport=tls") == (
        "sips:44@gw.example.net:5061"
    )
    assert contact_uri("44", "a", "203.0.113.5:5060") == "sip:44@203.0.113.5:5060"
    assert contact_uri("44", "on-net", "sip:alice@pbx.example.com") == "sip:alice@pbx.example.com"


@settings(max_examples=300, deadline=None)
@given(
    digits=st.text("0123456789", min_size=1, max_size=9),
    head=st.sampled_from(["44", "4420", "49", "1", "33", "881", "4"]),
    customer=st.sampled_from(["acme", "bravo"]),
)
def test_contacts_are_the_routes_in_order(
    digits: str, head: str, customer: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    router = _router(tmp_path_factory)
    decision = router.route(head + digits, customer=customer, at=T, call_id="c")
    if decision.blocked:
        answer = block_answer(decision)
        assert answer.code == BLOCK_CODES[answer.kind]
        return
    got = [contact_params(c) for c in contacts(decision, "d-1")]
    want = [
        {
            "uri": contact_uri(decision.normalized, r.carrier, r.trunk),
            "carrier": r.carrier,
            "rate": f"{r.rate.normalize():f}",
            "decision": "d-1",
        }
        for r in decision.routes
    ]
    assert [{k: g[k] for k in ("uri", "carrier", "rate", "decision")} for g in got] == want
    assert [g["q"] for g in got] == list(q_values(len(want)))


_ROUTER: list[Router] = []


def _router(factory: pytest.TempPathFactory) -> Router:
    if not _ROUTER:
        path, config = h.write_files(factory.mktemp("contacts"))
        _ROUTER.append(Router(h.table(), plan=load_config(config)))
    return _ROUTER[0]


def test_random_garbage_seeded() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
        with pytest.raises(SipParseError):
            parse_request(data)


def test_every_block_kind_gets_its_code(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tandem.calls import Calls
    from tandem.fraud import FraudEngine, fraud_config_from_mapping
    from tandem.lcr.table import compile_rates
    from tandem.serve.answer import block_kind
    from tandem.state import MemoryCounters
    from tandem.store import CreditAccount

    router = _router(tmp_path_factory)
    kinds = {
        "+881612345678": ("acme", "plan"),
        "+33123456789": ("acme", "no_carrier"),
        "+999123": ("acme", "no_prefix"),
        "+4930123": ("bravo", "no_rate"),
    }
    for number, (customer, kind) in kinds.items():
        decision = router.route(number, customer=customer, at=T)
        assert decision.blocked and block_kind(decision) == kind, decision.reason
        assert block_answer(decision).code == BLOCK_CODES[kind]
    # a table valid until T: a call after it is refused until recompiled
    frame = h.frame()
    frame["effective_until"] = T
    stale = Router(compile_rates(frame, 0)).route("+442079460000", customer="acme", at=T + 1)
    assert block_answer(stale).kind == "table_stale" and block_answer(stale).code == 503
    # the lifecycle's blocks: a fraud rule, the credit limit
    counters = MemoryCounters()
    fraud = FraudEngine(fraud_config_from_mapping({"high_risk": {"prefixes": ["4420"]}}),
                        counters)  # fmt: skip
    broke = CreditAccount("acme", "USD", balance_scaled=0, credit_limit_scaled=0,
                          charged_scaled=0, updated=0)  # fmt: skip
    calls = Calls(Router(h.table()), counters=counters, fraud=fraud, accounts=[broke])
    by_fraud = calls.route("+442079460000", customer="acme", at=T).decision
    assert block_answer(by_fraud).kind == "fraud" and block_answer(by_fraud).code == 403
    by_credit = calls.route("+4930123", customer="acme", at=T).decision
    assert block_answer(by_credit).kind == "credit" and block_answer(by_credit).code == 403
