"""One decision, one round trip: everything ``Calls.route`` reads and writes in the shared
counters (the router's quality scores and carrier capacity, the fraud rules' windows, the
credit limit's spend counter, a quality cooldown started by the previous decision) goes in
one Redis pipeline, on the express path and on the general path, for allowed, flagged and
blocked calls; counted on the client's connections (``tandem.state.counting_client``).
And the gathered decision is the one the parts make one after the other."""

from __future__ import annotations

import random

import pytest
from calls_helpers import CUSTOMER, REDIS_URL, PrivateRedis, redis_counters, table

from tandem.calls import UNREACHABLE_CREDIT_NOTE, Calls
from tandem.fraud import FraudEngine, fraud_config_from_mapping
from tandem.fraud.engine import UNREACHABLE_NOTE
from tandem.lcr.policy import config_from_mapping
from tandem.lcr.router import Router
from tandem.lcr.scores import QualityConfig
from tandem.money import UNIT
from tandem.quality import QualityBoard
from tandem.state import FallbackCounters, MemoryCounters, RedisCounters, counting_client
from tandem.store import CreditAccount

T = 1_767_225_600
LONDON = "442079460000"

FRAUD = {
    "high_risk": {"prefixes": ["881"]},
    "concurrent": {"customer": {"warning": 1000}},
    "cps": {"window": 10, "step": 1, "customer": {"warning": 3, "critical": 6}},
    "spend": {"hour": {"warning": "1000"}},
    "velocity": {"factors": {"warning": 1000}},
    "sequential": {"same_number": {"warning": 1000}, "block": {"warning": 1000}},
    "wangiri": {"calls": {"warning": 1000}},
    "first_call": {"rate": "0.01"},
}
#: The general path: a quality floor on every destination and a capped carrier.
GENERAL = {
    "defaults": {"floors": [{"min_asr": "0.3", "cooldown": 600, "probe_share": 0}]},
    "carriers": {"borealis": {"max_concurrent": 100}},
}
#: Quality floors alone: the express path serves the customer while the floor leaves every
#: candidate.
FLOORS = {"defaults": {"floors": [{"min_asr": "0.3", "cooldown": 600, "probe_share": 0}]}}
QUALITY = QualityConfig(min_attempts=5, refresh=0, group_digits=2, half_life=None)


def accounts():
    return [
        CreditAccount(CUSTOMER, "USD", 10**6 * UNIT, 0, 0, T),
        CreditAccount("bravo", "USD", 0, 0, 0, T),  # at its limit: blocked
    ]


def lifecycle(counters, routing: dict, *, gather: bool | None = None) -> Calls:
    board = QualityBoard(counters, QUALITY)
    router = Router(table(), plan=config_from_mapping(routing), counters=counters, scores=board)
    engine = FraudEngine(fraud_config_from_mapping(FRAUD), counters)
    return Calls(router, counters=counters, fraud=engine, quality=board, accounts=accounts(),
                 credit_refresh=0, gather=gather)  # fmt: skip


@pytest.fixture
def counted():
    """RedisCounters on the shared Redis (fresh prefix) whose client counts round trips."""
    plain, cleanup = redis_counters()
    client, trips = counting_client(REDIS_URL)
    counters = RedisCounters(REDIS_URL, prefix=plain.prefix, node="rt", client=client)
    # connected, and the scripts loaded (a server that lost them loads them all at once)
    counters.total("warm", window=1, step=1, at=T)
    try:
        yield counters, trips
    finally:
        cleanup()


def trips_of(trips, fn):
    before = trips.sent
    out = fn()
    return trips.sent - before, out


def decide(calls, number, at, customer=CUSTOMER, i=0):
    return lambda: calls.route(number, customer=customer, at=at, call_id=f"c{at}-{i}")


@pytest.mark.parametrize("wrap", [False, True], ids=["redis", "fallback"])
def test_express_path_one_round_trip_allowed_flagged_and_blocked(counted, wrap):
    counters, trips = counted
    shared = FallbackCounters(counters) if wrap else counters
    calls = lifecycle(shared, {})
    seen = []
    for i in range(8):  # cps: flagged past 3 calls in 10 s, blocked past 6
        n, call = trips_of(trips, decide(calls, LONDON, T + 1, i=i))
        assert n == 1, (i, n)
        seen.append(call.decision.to_dict()["fraud"])
    assert calls.router._express.get(CUSTOMER) is not None  # the express path served it
    actions = [[v["action"] for v in f if v["rule"] == "cps"] for f in seen]
    assert actions[:3] == [[], [], []] and actions[3] == ["flag"] and actions[-1] == ["block"]
    assert "blocked by fraud rule cps" in call.decision.reason
    # blocked by the high-risk list (no counter needed, the rules' windows still move)
    n, call = trips_of(trips, decide(calls, "881612345678", T + 30))
    assert n == 1 and "blocked by fraud rule high_risk" in call.decision.reason
    # blocked by the credit limit (the spend counter is read in the same round trip)
    n, call = trips_of(trips, decide(calls, LONDON, T + 60, customer="bravo"))
    assert n == 1 and call.decision.blocked and "credit limit" in call.decision.reason


@pytest.mark.parametrize("routing", [GENERAL, FLOORS], ids=["general", "express-floors"])
@pytest.mark.parametrize("wrap", [False, True], ids=["redis", "fallback"])
def test_general_path_one_round_trip_with_scores_capacity_and_cooldowns(counted, wrap, routing):
    counters, trips = counted
    shared = FallbackCounters(counters) if wrap else counters
    calls = lifecycle(shared, routing)
    board = calls.quality
    for k in range(10):  # atlas answers 1 call in 10 on group 44: below the 0.3 floor
        board.attempt("atlas", "44", at=T, sip_code=200 if k == 0 else 503, call_id=f"q{k}")
        board.attempt("borealis", "44", at=T, sip_code=200, duration=60, call_id=f"q{k}")
    n, call = trips_of(trips, decide(calls, LONDON, T + 1))
    assert n == 1
    express = calls.router._express.get(CUSTOMER)
    assert (express is None) == (routing is GENERAL)  # capped carriers: the general path
    reasons = {d.carrier: d.reason for d in call.decision.dropped}
    assert "quality floor of every destination" in reasons["atlas"]
    assert [r.carrier for r in call.decision.routes] == ["borealis", "cygnus"]
    # the cooldown this node started goes with its next decision's one round trip...
    mark = board._cool_key("atlas", "44")
    assert counters.marked(mark, at=T + 2) is None
    for i in range(7):
        n, call = trips_of(trips, decide(calls, LONDON, T + 2, i=i))
        assert n == 1, (i, n)
        if not call.decision.blocked:
            reasons = {d.carrier: d.reason for d in call.decision.dropped}
            assert "quality cooldown on group 44" in reasons["atlas"]
    assert call.decision.blocked and "cps" in call.decision.reason  # blocked, one trip
    # ... and every node sees it
    assert counters.marked(mark, at=T + 3) is not None
    other = QualityBoard(counters, QUALITY)
    assert other.look(["atlas"], "44", at=T + 3)[0].cooling_until == T + 1 + 600
    n, call = trips_of(trips, decide(calls, LONDON, T + 60, customer="bravo"))
    assert n == 1 and "credit limit" in call.decision.reason
    # a number with no route at all: refused before the candidates, one trip still
    n, call = trips_of(trips, decide(calls, "33123456789", T + 61))
    assert n == 1 and call.decision.blocked


@pytest.mark.parametrize("routing", [GENERAL, FLOORS], ids=["general", "express-floors"])
def test_bare_redis_down_the_gathered_decision_goes_on(routing):
    """Without FallbackCounters, a decision whose one round trip cannot reach Redis goes on:
    unknown quality, the rules failing open, the credit from the last spend read; it says
    so and nothing raises."""
    server = PrivateRedis()
    try:
        counters = RedisCounters(server.url, prefix="g:", node="n1", socket_timeout=0.2,
                                 connect_timeout=0.2)  # fmt: skip
        routing = {**routing, "carriers": {}}  # capacity needs the counters: none here
        calls = lifecycle(counters, routing)
        up = calls.route(LONDON, customer=CUSTOMER, at=T, call_id="u")
        assert not up.decision.blocked and "notes" not in up.decision.to_dict()
        server.stop()
        down = calls.route(LONDON, customer=CUSTOMER, at=T + 1, call_id="d")
        assert [r.carrier for r in down.decision.routes] == [r.carrier for r in up.decision.routes]
        notes = down.decision.to_dict()["notes"]
        assert UNREACHABLE_NOTE in notes and UNREACHABLE_CREDIT_NOTE in notes
        assert calls.quality.unreachable == 1
    finally:
        server.stop()


def timeline(calls: Calls, seed: int) -> list:
    """A seeded run of calls (decisions, attempts, answers, ends) on one lifecycle: every
    decision's JSON and explanation."""
    rng = random.Random(seed)
    out = []
    at = T
    numbers = [LONDON, "447700900123", "33612345678", "881612345678", "4930123456"]
    for i in range(160):
        at += rng.choice([0, 0, 1, 2, 7])
        customer = rng.choice([CUSTOMER, CUSTOMER, CUSTOMER, "bravo"])
        call = calls.route(rng.choice(numbers), customer=customer, at=at, call_id=f"t{i}")
        out.append((call.decision.to_dict(), call.decision.explain()))
        routes = call.decision.routes
        if call.decision.blocked or not routes or call.admit(at=at) is not None:
            continue
        carrier = rng.choice(routes).carrier
        if not call.attempt(carrier, at=at):
            continue
        bad = carrier == "atlas" or rng.random() < 0.2
        if bad:
            call.failed(carrier, 503, at=at + 1, pdd_ms=rng.randrange(3000))
            call.end(at=at + 1)
        else:
            call.answered(carrier, at=at + 2, pdd_ms=rng.randrange(3000))
            call.end(at=at + 2 + rng.randrange(1, 300))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    "routing", [{}, GENERAL, FLOORS], ids=["express", "general", "express-floors"]
)
def test_gathered_decisions_equal_the_parts_one_after_the_other(seed, routing):
    one_by_one = timeline(lifecycle(MemoryCounters(), routing, gather=False), seed)
    gathered = timeline(lifecycle(MemoryCounters(), routing, gather=True), seed)
    assert gathered == one_by_one
    reasons = " ".join(explain for _, explain in gathered)
    if routing:  # the run exercised floors, cooldowns and blocks
        assert "quality cooldown" in reasons
    assert "BLOCKED" in reasons
