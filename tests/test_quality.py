"""Carrier quality: the outcome table, the live board (hand-computed figures, decay,
shrinkage, unknown scores, each attempt counted once) on MemoryCounters and on Redis,
quality floors and live ``strategy = "quality"`` in the router, and bad config."""

from __future__ import annotations

import os
import uuid

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.errors import ConfigError
from tandem.lcr.policy import config_from_mapping
from tandem.lcr.router import Router
from tandem.lcr.scores import QualityConfig, Score
from tandem.lcr.table import OPEN_END, compile_rates
from tandem.money import UNIT
from tandem.quality import EFFECTIVE, Outcome, QualityBoard, classify, outcome_of
from tandem.state import MemoryCounters

MILLI = UNIT // 1000
IN_CI = os.environ.get("CI", "").lower() == "true"
REDIS_URL = os.environ.get("TANDEM_TEST_REDIS", "redis://127.0.0.1:6379/0")
PLAIN = QualityConfig(half_life=None, prior_weight=0.0, min_attempts=1, refresh=0)


def redis_counters():
    """RedisCounters on the shared Redis with a key prefix of this test's own."""
    from tandem.state import RedisCounters

    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not there"
        if IN_CI:
            pytest.fail(f"Redis at {REDIS_URL} not reachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} not reachable: {exc}")
    return RedisCounters(REDIS_URL, prefix=f"tandem-test-quality-{uuid.uuid4().hex[:12]}:")


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def counters(request):
    if request.param == "memory":
        yield MemoryCounters()
        return
    c = redis_counters()
    yield c
    c.clear()
    c.close()


# -- the outcome table ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (200, Outcome.ANSWERED),
        (202, Outcome.ANSWERED),
        (486, Outcome.USER_BUSY),
        (600, Outcome.USER_BUSY),
        (480, Outcome.NO_ANSWER),
        (487, Outcome.NO_ANSWER),
        (603, Outcome.REJECTED),
        (404, Outcome.INVALID_NUMBER),
        (484, Outcome.INVALID_NUMBER),
        (302, Outcome.REDIRECTED),
        (503, Outcome.NETWORK_FAILURE),
        (408, Outcome.NETWORK_FAILURE),
        (403, Outcome.NETWORK_FAILURE),
        (499, Outcome.NETWORK_FAILURE),  # unknown 4xx: as 400 (RFC 3261 8.1.3.2)
        (699, Outcome.USER_BUSY),  # unknown 6xx: as 600
        ("486", Outcome.USER_BUSY),  # Kamailio acc writes text
        ("ANSWERED", Outcome.ANSWERED),  # Asterisk
        ("NO ANSWER", Outcome.NO_ANSWER),
        ("BUSY", Outcome.USER_BUSY),
        ("FAILED", Outcome.NETWORK_FAILURE),
        ("CONGESTION", Outcome.NETWORK_FAILURE),
        (" normal_clearing ", Outcome.ANSWERED),  # FreeSWITCH
        ("USER_BUSY", Outcome.USER_BUSY),
        ("NO_USER_RESPONSE", Outcome.NO_ANSWER),
        ("CALL_REJECTED", Outcome.REJECTED),
        ("UNALLOCATED_NUMBER", Outcome.INVALID_NUMBER),
        ("ORIGINATOR_CANCEL", Outcome.NO_ANSWER),
        ("NORMAL_TEMPORARY_FAILURE", Outcome.NETWORK_FAILURE),
    ],
)
def test_classify(answer, outcome):
    assert classify(answer) is outcome


@pytest.mark.parametrize("answer", [100, 180, 183, 700, 0, "", "HUNG UP", True, "1234"])
def test_classify_refuses_what_is_not_a_final_answer(answer):
    with pytest.raises(ValueError):
        classify(answer)


def test_ner_outcomes_are_those_of_e411():
    effective = {Outcome.ANSWERED, Outcome.USER_BUSY, Outcome.NO_ANSWER, Outcome.REJECTED}
    assert effective == EFFECTIVE
    # billable seconds mean the call was answered, whatever the disposition says
    assert outcome_of("NO ANSWER", 12) is Outcome.ANSWERED
    assert outcome_of(503, 0) is Outcome.NETWORK_FAILURE


# -- figures equal hand-computed values ----------------------------------------------------
def test_plain_figures_by_hand(counters):
    board = QualityBoard(counters, PLAIN)
    feed = [  # sip code, billable seconds, pdd ms
        (200, 30, 900), (200, 60, 1200), (200, 90, 1800), (200, 120, 2600),
        (486, 0, 3100), (486, 0, None), (480, 0, 400), (603, 0, None),
        (503, 0, None), (503, 0, None),
    ]  # fmt: skip
    for i, (code, secs, pdd) in enumerate(feed):
        board.attempt("atlas", "4420", at=1000 + i, sip_code=code, duration=secs, pdd_ms=pdd)
    s = board.score("atlas", "4420", at=1010)
    assert (s.attempts, s.answered, s.known) == (10, 4, True)
    assert s.asr == pytest.approx(4 / 10)
    assert s.ner == pytest.approx(8 / 10)  # 4 answered + 2 busy + 1 no answer + 1 rejected
    assert s.acd == pytest.approx(300 / 4)
    # PDD samples 400, 900, 1200, 1800, 2600, 3100: histogram buckets [250,500) [750,1000)
    # [1000,1500) [1500,2000) [2500,3000) [3000,4000); p50 = 3rd of 6 -> the end of the
    # [1000,1500) bucket; p95 = 5.7 of 6 -> 70% into [3000,4000)
    assert s.pdd_p50 == pytest.approx(1500)
    assert s.pdd_p95 == pytest.approx(3700)
    assert board.score("atlas", "33", at=1010) is None  # nothing recorded
    assert board.score("borealis", "4420", at=1010) is None


def test_decay_and_shrinkage_by_hand(counters):
    config = QualityConfig(
        window=600, bucket=60, half_life=60.0, prior_weight=2.0, min_attempts=1, refresh=0
    )
    board = QualityBoard(counters, config)
    # bucket starting at 0 (weight 0.5 at t=60): two answered calls, 60 s and 120 s
    board.attempt("atlas", "44", at=0, sip_code=200, duration=60)
    board.attempt("atlas", "44", at=30, sip_code=200, duration=120)
    # bucket starting at 60 (weight 1): a busy and a 503
    board.attempt("atlas", "44", at=60, sip_code=486)
    board.attempt("atlas", "44", at=61, sip_code=503)
    # another group of the same carrier: one answered 30 s call
    board.attempt("atlas", "33", at=62, sip_code=200, duration=30)
    s = board.score("atlas", "44", at=60)
    # group 44: A = 0.5*2 + 2 = 3, S = 0.5*2 = 1, E = 0.5*2 + 1 = 2, D = 0.5*180 = 90
    # carrier: A_c = 4, S_c = 2, E_c = 3, D_c = 120 -> ASR_c 0.5, NER_c 0.75, ACD_c 60
    # k = 2: ASR = (1 + 2*0.5) / (3 + 2); NER = (2 + 2*0.75) / 5; ACD = (90 + 2*60) / (1 + 2)
    assert s.attempts == 4 and s.answered == 2
    assert s.asr == pytest.approx(0.4)
    assert s.ner == pytest.approx(0.7)
    assert s.acd == pytest.approx(70.0)
    # outside the window the old bucket no longer counts
    later = board.score("atlas", "44", at=600 + 59)
    assert later.attempts == 2 and later.answered == 0


def test_unknown_below_min_attempts(counters):
    board = QualityBoard(counters, QualityConfig(min_attempts=5, refresh=0))
    for i in range(4):
        board.attempt("atlas", "44", at=100 + i, sip_code=200, duration=10)
    s = board.score("atlas", "44", at=110)
    assert s == Score(4, 4, None, None, None, None, None, False)
    board.attempt("atlas", "44", at=105, sip_code=503)
    assert board.score("atlas", "44", at=110).known


def test_each_attempt_counted_once_opensips_2684(counters):
    """OpenSIPS qrouting #2684: a failed call was counted twice, once on the negative reply
    and once on the failure route. Here the second report of a (call, carrier) is a no-op."""
    board = QualityBoard(counters, PLAIN)
    assert board.attempt("atlas", "44", at=100, sip_code=503, call_id="c1") is not None
    assert board.attempt("atlas", "44", at=100.2, sip_code=503, call_id="c1") is None
    board.attempt("atlas", "44", at=101, sip_code=200, duration=20, call_id="c2")
    # the same call failing over to another carrier is another attempt
    assert board.attempt("borealis", "44", at=100.5, sip_code=200, call_id="c1") is not None
    s = board.score("atlas", "44", at=110)
    assert (s.attempts, s.answered, s.asr) == (2, 1, 0.5)
    assert board.score("borealis", "44", at=110).attempts == 1


def test_scores_are_shared_by_every_board_on_the_same_counters(counters):
    a, b = QualityBoard(counters, PLAIN), QualityBoard(counters, PLAIN)
    a.attempt("atlas", "44", at=100, sip_code=200, duration=20)
    b.attempt("atlas", "44", at=101, sip_code=486)
    assert a.score("atlas", "44", at=102) == b.score("atlas", "44", at=102)
    assert b.score("atlas", "44", at=102).attempts == 2
    until = a.cool("atlas", "44", seconds=60, at=102)
    assert b.look(["atlas"], "44", at=103)[0].cooling_until == until == 162
    assert b.cool("atlas", "44", seconds=600, at=104) == 162  # the running one


def test_bad_attempts_refused():
    board = QualityBoard(MemoryCounters(), PLAIN)
    for kw in (
        {"sip_code": 180},
        {"sip_code": 200, "pdd_ms": -1},
        {"sip_code": 503, "duration": -5},
    ):
        with pytest.raises(ValueError):
            board.attempt("atlas", "44", at=1, **kw)
    assert board.score("atlas", "44", at=2) is None


# -- the router ------------------------------------------------------------------------------
COLUMNS = [
    "account", "kind", "currency", "prefix", "rate", "connect_fee", "initial_increment",
    "next_increment", "min_duration", "effective_from", "effective_until",
]  # fmt: skip
CUSTOMER = "acme"


def table_of(spec):
    return compile_rates(
        pd.DataFrame(
            [(a, k, "USD", p, r * MILLI, 0, 60, 60, 0, 0, OPEN_END) for a, k, p, r in spec],
            columns=COLUMNS,
        ),
        0,
    )


TABLE_SPEC = [
    ("atlas", "carrier", "44", 8),
    ("borealis", "carrier", "44", 9),
    ("cygnus", "carrier", "44", 10),
    ("atlas", "carrier", "33", 20),
    ("borealis", "carrier", "33", 22),
    (CUSTOMER, "customer", "44", 12),
    (CUSTOMER, "customer", "33", 30),
]


def routing(**plan):
    return config_from_mapping({"customers": {CUSTOMER: plan}})


def feed(board, carrier, group, *, at, answered, failed, seconds=60):
    for i in range(answered):
        board.attempt(carrier, group, at=at + i * 0.001, sip_code=200, duration=seconds)
    for i in range(failed):
        board.attempt(carrier, group, at=at + 0.5 + i * 0.001, sip_code=503)


def test_unknown_score_never_ranks_first():
    """CGRateS *qos: a metric with too few samples reads -1 and sorts first. Here the
    cheapest carrier without a known score ranks after the scored ones."""
    board = QualityBoard(
        MemoryCounters(), QualityConfig(min_attempts=20, prior_weight=0, refresh=0, group_digits=2)
    )
    feed(board, "borealis", "44", at=100, answered=18, failed=2)  # ASR 0.9, 20 attempts
    feed(board, "cygnus", "44", at=100, answered=10, failed=10)  # ASR 0.5
    feed(board, "atlas", "44", at=100, answered=1, failed=0)  # 1 attempt: unknown
    router = Router(table_of(TABLE_SPEC), routing(strategy="quality"), scores=board)
    d = router.route("447700900123", customer=CUSTOMER, at=200)
    assert [r.carrier for r in d.routes] == ["borealis", "cygnus", "atlas"]
    assert "live ASR 0.9000" in d.routes[0].why
    assert "no known live score" in d.routes[2].why
    # the static map still speaks for a carrier without a known live score
    router = Router(
        table_of(TABLE_SPEC), routing(strategy="quality", quality={"atlas": 0.99}), scores=board
    )
    d = router.route("447700900123", customer=CUSTOMER, at=200)
    assert [r.carrier for r in d.routes][0] == "atlas"
    assert "from the plan" in d.routes[0].why
    # without a score source: the static map, unlisted carriers count as 1 (as before)
    d = Router(table_of(TABLE_SPEC), routing(strategy="quality")).route(
        "447700900123", customer=CUSTOMER, at=200
    )
    assert [r.carrier for r in d.routes] == ["atlas", "borealis", "cygnus"]


def test_live_quality_order_is_cost_over_asr():
    board = QualityBoard(
        MemoryCounters(), QualityConfig(min_attempts=10, prior_weight=0, refresh=0, group_digits=2)
    )
    feed(board, "atlas", "44", at=100, answered=4, failed=6)  # 8 / 0.4 = 20
    feed(board, "borealis", "44", at=100, answered=6, failed=4)  # 9 / 0.6 = 15
    feed(board, "cygnus", "44", at=100, answered=0, failed=10)  # 10 / 0 = infinite
    router = Router(table_of(TABLE_SPEC), routing(strategy="quality"), scores=board)
    d = router.route("447700900123", customer=CUSTOMER, at=200)
    assert [r.carrier for r in d.routes] == ["borealis", "atlas", "cygnus"]
    assert "quality-adjusted cost 0.015" in d.routes[0].why


FLOOR = {"min_asr": "0.30", "min_attempts": 10, "cooldown": 300, "probe_share": "0.1"}


def test_floor_drops_a_carrier_below_it_naming_figure_and_floor():
    board = QualityBoard(
        MemoryCounters(), QualityConfig(min_attempts=10, prior_weight=0, refresh=0, group_digits=2)
    )
    feed(board, "atlas", "44", at=100, answered=1, failed=19)  # ASR 0.05
    feed(board, "borealis", "44", at=100, answered=10, failed=10)  # ASR 0.5
    router = Router(table_of(TABLE_SPEC), routing(floors=[FLOOR]), scores=board)
    kept = dropped = 0
    for i in range(400):
        d = router.route("447700900123", customer=CUSTOMER, at=200, call_id=f"call-{i}")
        names = [r.carrier for r in d.routes]
        assert "borealis" in names and "cygnus" in names  # above the floor / unknown
        if "atlas" in names:
            kept += 1
            assert "probe call (share 0.1)" in d.routes[names.index("atlas")].why
        else:
            dropped += 1
            (reason,) = [x.reason for x in d.dropped if x.carrier == "atlas"]
            assert "ASR 0.0500 below the floor 0.30" in reason
            assert "group 44" in reason
    assert 20 <= kept <= 60  # the probe share: about 10% of 400 (a stable hash)
    # the same call id always gets the same answer
    again = [
        "atlas" in [r.carrier for r in router.route(
            "447700900123", customer=CUSTOMER, at=201, call_id=f"call-{i}").routes]
        for i in range(50)
    ]  # fmt: skip
    first = [
        "atlas" in [r.carrier for r in router.route(
            "447700900123", customer=CUSTOMER, at=202, call_id=f"call-{i}").routes]
        for i in range(50)
    ]  # fmt: skip
    assert again == first
    # the cooldown is shared state: a second router (another node) sees it
    other = Router(table_of(TABLE_SPEC), routing(floors=[FLOOR]), scores=QualityBoard(
        board.counters, board.config))  # fmt: skip
    d = other.route("447700900123", customer=CUSTOMER, at=250, call_id="x")
    reasons = {x.carrier: x.reason for x in d.dropped}
    assert "atlas" not in [r.carrier for r in d.routes] or "probe" in d.routes[0].why
    if "atlas" in reasons:
        assert "quality cooldown on group 44 until" in reasons["atlas"]


def test_floor_on_acd_and_per_prefix():
    board = QualityBoard(
        MemoryCounters(), QualityConfig(min_attempts=5, prior_weight=0, refresh=0, group_digits=2)
    )
    feed(board, "atlas", "44", at=100, answered=10, failed=0, seconds=8)  # ACD 8 s
    feed(board, "atlas", "33", at=100, answered=10, failed=0, seconds=8)
    floors = [{"prefix": "44", "min_acd": 20, "probe_share": 0}]
    router = Router(table_of(TABLE_SPEC), routing(floors=floors), scores=board)
    d = router.route("447700900123", customer=CUSTOMER, at=200, call_id="a")
    assert "atlas" not in [r.carrier for r in d.routes]
    assert any("ACD 8.0 s below the floor 20 s" in x.reason for x in d.dropped)
    d = router.route("33612345678", customer=CUSTOMER, at=200, call_id="a")
    assert [r.carrier for r in d.routes][0] == "atlas"  # no floor for 33


def test_floors_without_a_score_source_leave_the_express_path_alone():
    router = Router(table_of(TABLE_SPEC), routing(floors=[FLOOR]))
    d = router.route("447700900123", customer=CUSTOMER, at=200)
    assert [r.carrier for r in d.routes] == ["atlas", "borealis", "cygnus"]
    assert router.route("447700900123", customer=CUSTOMER, at=200) == d
    assert CUSTOMER in router._state.express  # the plain least-cost fast path


def test_timeline_collapse_drop_probe_recover(counters):
    """A carrier whose ASR collapses on one destination loses that traffic within the
    window, keeps its probe share, and gets all of it back after it recovers; its other
    destination keeps its traffic all along."""
    import random

    config = QualityConfig(
        window=1800, bucket=60, half_life=300.0, prior_weight=10.0, min_attempts=20,
        group_digits=2, refresh=0,
    )  # fmt: skip
    floor = {"min_asr": "0.30", "min_attempts": 20, "cooldown": 300, "probe_share": "0.1"}
    board = QualityBoard(counters, config)
    router = Router(table_of(TABLE_SPEC), routing(floors=[floor]), scores=board)
    rng = random.Random(12)
    collapse, recover, end = 3600, 5400, 9000

    def true_asr(carrier, group, t):
        if carrier == "atlas" and group == "44" and collapse <= t < recover:
            return 0.05
        return 0.6

    share: dict[tuple[str, int], list[bool]] = {}
    first_drop = None
    reasons = []
    n = 0
    for t in range(0, end, 5):
        for number in ("447700900123", "33612345678"):
            n += 1
            call_id = f"c{n}"
            d = router.route(number, customer=CUSTOMER, at=t, call_id=call_id)
            carrier = d.routes[0].carrier
            group = number[:2]
            period = t // 600
            share.setdefault((group, period), []).append(carrier == "atlas")
            if group == "44" and carrier != "atlas" and t >= collapse and first_drop is None:
                first_drop = t
                reasons = [x.reason for x in d.dropped if x.carrier == "atlas"]
            ok = rng.random() < true_asr(carrier, group, t)
            board.attempt(
                carrier, group, at=t, call_id=call_id,
                sip_code=200 if ok else 503, duration=60 if ok else 0,
            )  # fmt: skip

    def atlas_share(group, start, stop):
        calls = [x for p in range(start // 600, stop // 600) for x in share[(group, p)]]
        return sum(calls) / len(calls)

    assert atlas_share("44", 600, collapse) == 1.0  # healthy: all its traffic
    assert first_drop is not None and first_drop - collapse <= config.window
    assert any("below the floor 0.30" in r for r in reasons)
    cooled = atlas_share("44", first_drop // 600 * 600 + 600, recover)
    assert 0.03 <= cooled <= 0.2  # its probe share (10%)
    assert atlas_share("33", 0, end) == 1.0  # the other destination is untouched
    assert atlas_share("44", recover + config.window, end) == 1.0  # recovered


# -- configuration ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"defaults": {"floors": [{"min_asr": "1.5"}]}}, "defaults.floors[0].min_asr"),
        ({"defaults": {"floors": [{"min_asr": "abc"}]}}, "defaults.floors[0].min_asr"),
        ({"defaults": {"floors": [{"cooldown": 60}]}}, "defaults.floors[0]: a floor needs"),
        ({"defaults": {"floors": [{"min_asr": "0.3", "probe_share": "1"}]}}, "probe_share"),
        ({"defaults": {"floors": [{"min_acd": -3}]}}, "defaults.floors[0].min_acd"),
        ({"defaults": {"floors": [{"min_asr": 0.3, "colldown": 5}]}}, "unknown key(s) colldown"),
        ({"defaults": {"floors": [{"min_asr": 0.3, "prefix": "4a"}]}}, "floors[0].prefix"),
        ({"defaults": {"floors": {"min_asr": 0.3}}}, "defaults.floors must be an array"),
        ({"customers": {"x": {"floors": [{"min_asr": 0.3, "cooldown": "5"}]}}},
         "customers.x.floors[0].cooldown"),
        ({"defaults": {"floors": [{"min_asr": 0.3}, {"min_acd": 5}]}}, "has a floor already"),
        ({"quality": {"half_life": "10"}}, "quality.half_life"),
        ({"quality": {"window": 100, "bucket": 60}}, "quality.window must be a whole multiple"),
        ({"quality": {"min_attempts": 0}}, "quality.min_attempts"),
        ({"quality": {"group_digits": 16}}, "quality.group_digits"),
        ({"quality": {"prior_weight": -1}}, "quality.prior_weight"),
        ({"quality": {"windows": 60}}, "quality: unknown key(s) windows"),
        ({"quality": 3}, "quality must be a table"),
    ],
)  # fmt: skip
def test_bad_quality_config_is_refused_naming_the_key(data, message):
    with pytest.raises(ConfigError) as exc:
        config_from_mapping(data)
    assert message in str(exc.value)


def test_quality_config_read_from_toml():
    config = config_from_mapping(
        {
            "quality": {"window": 3600, "bucket": 300, "half_life": 0, "group_digits": 3},
            "defaults": {"floors": [{"min_asr": 0.25, "min_acd": 20, "cooldown": 900}]},
        }
    )
    assert config.quality == QualityConfig(window=3600, bucket=300, half_life=None, group_digits=3)
    (floor,) = config.defaults.floors
    assert (floor.prefix, str(floor.min_asr), floor.min_acd, floor.cooldown) == (
        "",
        "0.25",
        20,
        900,
    )
    assert str(floor.probe_share) == "0.05" and not config.defaults.simple


def test_shipped_routing_toml_loads():
    from pathlib import Path

    from tandem.lcr.policy import load_config

    config = load_config(Path(__file__).resolve().parents[1] / "data" / "routing.toml")
    assert config.plan_for("acme-telecom").floors


# -- fuzz: outside input is classified or refused, never anything else ----------------------

_value = st.one_of(
    st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=True),
    st.text(max_size=8), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)  # fmt: skip
_floor_keys = st.sampled_from(
    ["prefix", "min_asr", "min_acd", "min_attempts", "cooldown", "probe_share", "bogus"]
)
_quality_keys = st.sampled_from(
    [
        "window",
        "bucket",
        "half_life",
        "prior_weight",
        "min_attempts",
        "group_digits",
        "refresh",
        "x",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    floors=st.one_of(
        _value, st.lists(st.dictionaries(_floor_keys, _value, max_size=6), max_size=3)
    ),
    quality=st.one_of(_value, st.dictionaries(_quality_keys, _value, max_size=7)),
)
def test_fuzz_quality_config_is_read_or_refused_with_config_error(floors, quality):
    try:
        config = config_from_mapping({"defaults": {"floors": floors}, "quality": quality})
    except ConfigError as exc:
        assert str(exc)
        return
    for floor in config.defaults.floors:
        assert floor.min_asr is not None or floor.min_acd is not None
        assert 0 <= floor.probe_share < 1 and floor.cooldown >= 0
    q = config.quality
    assert q.window % q.bucket == 0 and q.min_attempts >= 1


@settings(max_examples=300, deadline=None)
@given(answer=st.one_of(st.integers(-1000, 2000), st.text(max_size=30), st.booleans()))
def test_fuzz_classify_gives_an_outcome_or_value_error(answer):
    try:
        outcome = classify(answer)
    except ValueError:
        return
    assert isinstance(outcome, Outcome)
    if isinstance(answer, int):
        assert 200 <= answer <= 699


def test_unreachable_shared_state_never_stops_routing():
    """A bare RedisCounters on a port nobody listens on: the router still routes, the
    plan's floors are inert and ``quality`` falls back to its map; the board counts it."""
    import socket

    from tandem.errors import StateUnavailableError
    from tandem.state import RedisCounters

    with socket.socket() as s:  # a free port, closed again: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    counters = RedisCounters(f"redis://127.0.0.1:{port}/0", socket_timeout=0.2)
    board = QualityBoard(counters, QualityConfig(refresh=0, group_digits=2))
    for plan in (
        routing(floors=[FLOOR]),
        routing(strategy="quality", quality={"cygnus": 0.99}),
    ):
        d = Router(table_of(TABLE_SPEC), plan, scores=board).route(
            "447700900123", customer=CUSTOMER, at=200, call_id="x"
        )
        assert len(d.routes) == 3 and not d.blocked
    assert d.routes[0].carrier == "cygnus"  # the static map spoke
    assert board.unreachable == 2
    assert board.cool("atlas", "44", seconds=60, at=200) == 260 and board.unreachable == 3
    with pytest.raises(StateUnavailableError):  # recording says so (FallbackCounters keeps it)
        board.attempt("atlas", "44", at=201, sip_code=503)


def test_look_memo_names_where_the_same_looks_come_back():
    """look_memo's interval and live flag: the same list from look at every instant inside
    it while the flag stands; a cooldown or a fresh read of the group clears it, and
    leaves the other groups' flags alone."""
    board = QualityBoard(MemoryCounters(), QualityConfig(refresh=5.0, min_attempts=1))
    carriers = ("atlas", "borealis")
    looks, since, until, live = board.look_memo(carriers, "442", at=100)
    other = board.look_memo(carriers, "331", at=100)[3]
    assert (since, until) == (100, 105) and live == [True]
    for t in (100, 101.5, 104.9):
        assert board.look(carriers, "442", at=t) is looks
        assert live[0]
    fresh = board.look(carriers, "442", at=105)  # every read expired: read again
    assert fresh is not looks and not live[0] and other[0]
    live = board.look_memo(carriers, "442", at=105)[3]
    board.cool("atlas", "442", seconds=60, at=106)
    assert not live[0] and other[0]
    again, since, until, live = board.look_memo(carriers, "442", at=106)
    assert again[0].cooling_until == 166 and since <= 106 < until and live[0]
    board.cool_later("borealis", "442", seconds=60, at=107)
    assert not live[0]
    single, since, until, live = board.look_memo(["atlas"], "442", at=107)  # a list: not kept
    assert since == until == 107 and not live[0] and single[0].cooling_until == 166
