"""The call lifecycle (tandem.calls): route -> admit -> attempt/failed/answered -> end, on
in-process counters and on the shared Redis; exact slot counts through cancels, duplicate
and late ends and expiry; credit limits and max_duration; fraud verdicts on decisions."""

from __future__ import annotations

import json

import pytest
from calls_helpers import CUSTOMER, redis_counters, table

from tandem.calls import Calls, Caps, credit_spent_key
from tandem.calls.credit import SellTerms, max_duration
from tandem.fraud import FraudEngine, fraud_config_from_mapping
from tandem.fraud.keys import concurrent_key
from tandem.lcr.policy import config_from_mapping
from tandem.lcr.router import Router
from tandem.money import UNIT
from tandem.quality import QualityBoard
from tandem.state import MemoryCounters, carrier_calls_key
from tandem.store import CreditAccount

T = 1_767_225_600
NUMBER = "442079460000"
CUSTOMER_KEY = concurrent_key("customer", CUSTOMER)


@pytest.fixture(params=["memory", "redis"])
def counters(request):
    if request.param == "memory":
        yield MemoryCounters()
        return
    c, cleanup = redis_counters()
    try:
        yield c
    finally:
        cleanup()


def make_calls(counters, *, caps=Caps(customer=2), accounts=None, fraud=None, quality=None,
               carriers=None, **kw):  # fmt: skip
    config = config_from_mapping({"carriers": carriers or {}})
    router = Router(table(), plan=config, counters=counters)
    return Calls(router, counters=counters, caps=caps, accounts=accounts, fraud=fraud,
                 quality=quality, credit_refresh=0, **kw)  # fmt: skip


def test_admit_and_end_release_exactly(counters):
    calls = make_calls(counters)
    a, b, c = (calls.route(NUMBER, customer=CUSTOMER, at=T, call_id=f"c{i}") for i in range(3))
    assert a.admit(at=T) is None and b.admit(at=T) is None
    assert a.admit(at=T) is None  # admitting twice never counts twice
    assert c.admit(at=T) == CUSTOMER_KEY  # full: nothing taken
    assert counters.in_use(CUSTOMER_KEY, at=T) == 2
    first = a.end(at=T + 5)
    assert first.released and first.first
    assert counters.in_use(CUSTOMER_KEY, at=T + 5) == 1
    again = a.end(at=T + 6)  # duplicate end: changes nothing
    assert not again.released and not again.first
    assert calls.end("c0", at=T + 7) is None  # late end by id: the call is gone
    assert counters.in_use(CUSTOMER_KEY, at=T + 7) == 1
    assert c.admit(at=T + 8) is None
    assert counters.in_use(CUSTOMER_KEY, at=T + 8) == 2
    b.end(at=T + 9)
    c.end(at=T + 9)
    assert counters.in_use(CUSTOMER_KEY, at=T + 9) == 0
    assert calls.in_progress == 0


def test_cancel_busy_and_failed_calls_release(counters):
    board = QualityBoard(counters)
    calls = make_calls(counters, quality=board, carriers={"borealis": {"max_concurrent": 1}})
    call = calls.route(NUMBER, customer=CUSTOMER, at=T, call_id="x1")
    assert [r.carrier for r in call.decision.routes][0] == "borealis"
    assert call.admit(at=T) is None
    assert call.attempt("borealis", at=T)
    other = calls.route(NUMBER, customer=CUSTOMER, at=T, call_id="x2")
    assert other.admit(at=T) is None
    assert not other.attempt("borealis", at=T)  # carrier at its max_concurrent
    call.failed("borealis", 486, at=T + 1, pdd_ms=800)  # busy: the carrier slot is free
    call.failed("borealis", 486, at=T + 1, pdd_ms=800)  # counted once
    assert counters.in_use(carrier_calls_key("borealis"), at=T + 1) == 0
    assert other.attempt("borealis", at=T + 1)
    assert call.attempt("atlas", at=T + 1)
    call.end(at=T + 2)  # CANCEL while atlas rings: recorded as 487, slots freed
    other.end(at=T + 2)  # never answered either
    assert counters.in_use(CUSTOMER_KEY, at=T + 2) == 0
    assert counters.in_use(carrier_calls_key("borealis"), at=T + 2) == 0
    group = board.group_of(NUMBER)
    assert board.score("borealis", group, at=T + 3).attempts == 2  # x1's 486 and x2's 487
    assert board.score("atlas", group, at=T + 3).attempts == 1


def test_lost_ends_expire_and_late_ends_never_go_below_the_truth(counters):
    calls = make_calls(counters, ttl=30)
    lost = calls.route(NUMBER, customer=CUSTOMER, at=T, call_id="lost")
    assert lost.admit(at=T) is None
    live = calls.route(NUMBER, customer=CUSTOMER, at=T + 25, call_id="live")
    assert live.admit(at=T + 25) is None
    assert counters.in_use(CUSTOMER_KEY, at=T + 29) == 2
    assert counters.in_use(CUSTOMER_KEY, at=T + 31) == 1  # the lost call's slot expired
    late = lost.end(at=T + 40)  # its end arrives after all
    assert not late.released
    assert counters.in_use(CUSTOMER_KEY, at=T + 40) == 1  # the live call still counts
    assert calls.expire(at=T + 60) == 1  # the node forgets the live call too (no end)
    assert calls.in_progress == 0


def test_answered_call_is_priced_and_fed_to_quality_once(counters):
    board = QualityBoard(counters)
    calls = make_calls(counters, quality=board)
    call = calls.route(NUMBER, customer=CUSTOMER, at=T, call_id="ans")
    assert call.admit(at=T) is None and call.attempt("borealis", at=T)
    call.answered("borealis", at=T + 2, pdd_ms=1500)
    end = call.end(at=T + 100)
    # 98 s at 0.012/min billed 30/6: 102 billed seconds, 0.0204
    assert (end.duration, end.billed, end.cost) == (98, 102, 20_400_000)
    assert end.cost == SellTerms(12_000_000, 0, 30, 6).cost(98)
    call.end(at=T + 101)
    score = board.score("borealis", board.group_of(NUMBER), at=T + 101)
    assert (score.attempts, score.answered) == (1, 1)
    assert counters.current(credit_spent_key(CUSTOMER)) == 20_400_000


def account(balance, limit=0, charged=0, customer=CUSTOMER):
    return CreditAccount(customer, "USD", balance, limit, charged, T)


def test_max_duration_and_blocked_at_the_limit(counters):
    calls = make_calls(counters, accounts=[account(UNIT // 100, UNIT // 100)])  # 0.01 + 0.01
    call = calls.route(NUMBER, customer=CUSTOMER, at=T, call_id="m1")
    terms = SellTerms(12_000_000, 0, 30, 6)
    assert call.max_duration == max_duration(terms, UNIT // 50) == 96
    assert call.decision.credit == UNIT // 50
    assert call.admit(at=T) is None
    call.answered("borealis", at=T)
    assert call.end(at=T + 60).cost == 12_000_000
    nxt = calls.route(NUMBER, customer=CUSTOMER, at=T + 61, call_id="m2")
    assert nxt.decision.credit == UNIT // 50 - 12_000_000
    assert nxt.max_duration == max_duration(terms, UNIT // 50 - 12_000_000) == 36
    nxt.admit(at=T + 61)
    nxt.answered("borealis", at=T + 61)
    nxt.end(at=T + 61, duration=36)  # costs 0.0072: 0.0008 left, less than 30 s
    blocked = calls.route(NUMBER, customer=CUSTOMER, at=T + 70, call_id="m3")
    assert blocked.decision.blocked and blocked.decision.routes == ()
    assert "credit limit" in blocked.decision.reason
    (verdict,) = blocked.decision.verdicts
    assert verdict.rule == "credit_limit" and verdict.action == "block"
    assert verdict.evidence["remaining"] == "0.0008"
    assert blocked.admit(at=T + 70) == "blocked"
    # a customer without an account has no limit
    free = calls.route(NUMBER, customer="bravo", at=T, call_id="f1")
    assert free.max_duration is None and not free.decision.blocked


def test_two_nodes_share_the_spend(counters):
    accounts = [account(UNIT)]
    a = make_calls(counters, accounts=accounts)
    b = make_calls(counters, accounts=accounts)
    call = a.route(NUMBER, customer=CUSTOMER, at=T, call_id="n1")
    call.admit(at=T)
    call.answered("borealis", at=T)
    cost = call.end(at=T + 600).cost
    seen = b.route(NUMBER, customer=CUSTOMER, at=T + 601, call_id="n2")
    assert seen.decision.credit == UNIT - cost


def test_fraud_block_and_flag(counters):
    config = fraud_config_from_mapping(
        {
            "high_risk": {"prefixes": ["881"]},
            "concurrent": {"customer": {"warning": 0, "critical": 5}},
            "first_call": {"enabled": False},
            "customers": {"bravo": {"high_risk": {"action": "flag"}}},
        }
    )
    engine = FraudEngine(config, counters)
    calls = make_calls(counters, caps=None, fraud=engine)
    blocked = calls.route("881612345678", customer=CUSTOMER, at=T, call_id="h1")
    d = blocked.decision
    assert d.blocked and d.routes == () and "high_risk" in d.reason
    assert [(v.rule, v.action) for v in d.verdicts] == [
        ("high_risk", "block"),
        ("concurrent", "flag"),
    ]
    out = d.to_dict()
    assert out["blocked"] and out["fraud"][0]["rule"] == "high_risk"
    flagged = calls.route(NUMBER, customer=CUSTOMER, at=T, call_id="h2")
    assert flagged.admit(at=T) is None
    again = calls.route(NUMBER, customer=CUSTOMER, at=T, call_id="h3")
    assert not again.decision.blocked and again.decision.routes
    assert [(v.rule, v.action) for v in again.decision.verdicts] == [("concurrent", "flag")]
    # the caps come from the concurrent rule's critical level
    assert calls.limits_for(again.facts) == {CUSTOMER_KEY: 5}
    flagged.end(at=T + 1)


def test_decision_json_adds_fields_and_keeps_the_routers(counters):
    calls = make_calls(counters, accounts=[account(UNIT)])
    call = calls.route(NUMBER, customer=CUSTOMER, at=T, call_id="j1")
    plain = Router(table(), counters=counters).route(NUMBER, customer=CUSTOMER, at=T)
    out = json.loads(call.decision.to_json())
    base = plain.to_dict()
    assert {k: out[k] for k in base} == base
    assert out["max_duration"] == call.max_duration and out["fraud"] == []
    assert out["credit"] == "1"
    text = call.decision.explain()
    assert text.startswith(plain.explain()) and "max_duration" in text


def test_a_long_call_to_a_high_risk_range_is_flagged_while_it_runs(counters):
    config = fraud_config_from_mapping(
        {
            "high_risk": {"prefixes": ["881"], "action": "flag"},
            "long_call": {"minutes": 10},
            "first_call": {"enabled": False},
        }
    )
    calls = make_calls(counters, caps=None, fraud=FraudEngine(config, counters))
    call = calls.route("881612345678", customer=CUSTOMER, at=T, call_id="long")
    assert not call.decision.blocked
    assert call.running(at=T + 3600) == ()  # not answered yet
    call.answered("borealis", at=T)
    assert call.running(at=T + 599) == ()
    (verdict,) = call.running(at=T + 601)
    assert (verdict.rule, verdict.action) == ("long_call", "flag")
    end = call.end(at=T + 700)
    assert [v.rule for v in end.verdicts] == ["long_call"]
    assert call.running(at=T + 800) == ()  # over


def test_an_end_by_id_on_another_node_frees_every_slot(counters):
    carriers = {"borealis": {"max_concurrent": 5}}
    a = make_calls(counters, carriers=carriers)
    b = make_calls(counters, carriers=carriers)
    call = a.route(NUMBER, customer=CUSTOMER, at=T, call_id="x-node")
    assert call.admit(at=T) is None and call.attempt("borealis", at=T)
    assert counters.in_use(carrier_calls_key("borealis"), at=T) == 1
    assert b.end("x-node", at=T + 5) is None  # b never saw the call
    assert counters.in_use(CUSTOMER_KEY, at=T + 5) == 0
    assert counters.in_use(carrier_calls_key("borealis"), at=T + 5) == 0
    call.answered("borealis", at=T + 1)
    own = call.end(at=T + 9)  # the routing node's own end still prices the call, once
    assert own.first and not own.released and own.cost == SellTerms(12_000_000, 0, 30, 6).cost(8)
    assert not call.end(at=T + 10).first


def test_threads_sharing_one_calls_never_pass_the_cap():
    """4 threads route, admit and end 300 calls each through one Calls (one process):
    never more than the cap in flight (sampled at every admission), nothing left after."""
    import threading

    counters = MemoryCounters()
    calls = make_calls(counters, caps=Caps(customer=5))
    seen: list[int] = []
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            for i in range(300):
                at = T + i
                call = calls.route(NUMBER, customer=CUSTOMER, at=at, call_id=f"t{w}-{i}")
                if call.admit(at=at) is None:
                    seen.append(counters.in_use(CUSTOMER_KEY, at=at))
                    call.answered("borealis", at=at)
                call.end(at=at, duration=30)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert seen and max(seen) <= 5
    assert counters.in_use(CUSTOMER_KEY, at=T + 300) == 0 and calls.in_progress == 0


def test_keepalive_keeps_a_long_call_in_its_slots(counters):
    calls = make_calls(counters, ttl=60, carriers={"borealis": {"max_concurrent": 3}})
    call = calls.route(NUMBER, customer=CUSTOMER, at=T, call_id="k1")
    assert call.admit(at=T) is None and call.attempt("borealis", at=T)
    call.answered("borealis", at=T + 2)
    call.keepalive(at=T + 50)
    call.keepalive(at=T + 100)  # slots now live until T + 160
    assert counters.in_use(CUSTOMER_KEY, at=T + 150) == 1
    assert counters.in_use(carrier_calls_key("borealis"), at=T + 150) == 1
    assert call.end(at=T + 155).released
    assert counters.in_use(carrier_calls_key("borealis"), at=T + 155) == 0
    lapsed = calls.route(NUMBER, customer=CUSTOMER, at=T, call_id="k2")
    assert lapsed.admit(at=T) is None
    assert counters.in_use(CUSTOMER_KEY, at=T + 61) == 0  # no keepalive: expired


def test_forget_stops_keeping_a_call_whose_end_will_not_come(counters):
    calls = make_calls(counters)
    kept = calls.route(NUMBER, customer=CUSTOMER, at=T, call_id="kept")
    calls.route(NUMBER, customer=CUSTOMER, at=T, call_id="gone")
    assert calls.in_progress == 2
    calls.forget("gone")
    calls.forget("gone")  # twice: nothing more
    calls.forget("never-routed")
    assert calls.in_progress == 1
    assert calls.get("gone") is None and calls.get("kept") is kept
