"""Each fraud rule, live and in the scan: it fires on its planted pattern and stays silent
on normal traffic of the same volume; shared state unreachable fails open or closed."""

from __future__ import annotations

import dataclasses
import socket
from typing import Any

import pytest

from tandem.fraud import (
    LOCAL_NOTE,
    RULES,
    UNREACHABLE_NOTE,
    CallFacts,
    FraudEngine,
    fraud_config_from_mapping,
    scan,
)
from tandem.fraud.backtesting import backtest
from tandem.instant import parse_instant
from tandem.money import to_scaled
from tandem.rating.cdr import canonical_table
from tandem.sim import generate_traffic
from tandem.sim.patterns import make_pattern
from tandem.state import FallbackCounters, MemoryCounters, RedisCounters

#: Thresholds sized for the generator's traffic (50 customers, 200 destinations, 200,000
#: calls over two days): above normal peaks, below the planted patterns.
SIM_RULES: dict[str, Any] = {
    "high_risk": {"file": "high_risk.csv", "action": "block"},
    "concurrent": {"customer": {"warning": 90, "critical": 150}, "trunk": {"warning": 60}},
    "cps": {"customer": {"warning": 12, "critical": 20}, "source_ip": {"warning": 12}},
    "spend": {"hour": {"warning": "120", "critical": "400"}},
    "velocity": {
        "window": 600,
        "step": 60,
        "baseline": 86400,
        "min_calls": 25,
        "min_baseline": 40,
        "factors": {"warning": 4.0},
    },
    "sequential": {
        "block_digits": 2,
        "window": 600,
        "step": 60,
        "same_number": {"warning": 5},
        "block": {"warning": 8, "critical": 40},
    },
    "wangiri": {
        "prefix_length": 6,
        "short": 5,
        "window": 3600,
        "step": 60,
        "calls": {"warning": 40, "critical": 100},
    },
    "first_call": {"rate": "0.90"},
    "long_call": {"minutes": 60},
}
DAY2 = parse_instant("2026-11-03T00:00:00Z")


@pytest.fixture(scope="module")
def sim_config(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data"
    return fraud_config_from_mapping(SIM_RULES, base_dir=data)


def _traffic(seed: int, planted: bool) -> Any:
    # day 1 warms the rules up (baselines, first calls); the patterns run on day 2, two
    # hours apart
    patterns = [
        dataclasses.replace(make_pattern(name), at=DAY2 + 3600 * (3 + 2 * i))
        for i, name in enumerate(RULES)
    ]
    table = generate_traffic(seed, calls=200_000, days=2, fraud=patterns if planted else [])
    return canonical_table(table)


@pytest.mark.parametrize("seed", [7, 11])
def test_normal_traffic_raises_no_alert(sim_config: Any, seed: int) -> None:
    result = scan(_traffic(seed, planted=False), sim_config, report_from=DAY2)
    assert result.rows_in == 200_000 and result.unreadable == 0
    assert result.alerts == [], result.alerts[:3]
    assert set(result.by_rule) == set(RULES) and not any(result.by_rule.values())


@pytest.mark.parametrize("seed", [7, 11])
def test_every_rule_fires_on_its_planted_pattern(sim_config: Any, seed: int) -> None:
    cdrs = _traffic(seed, planted=True)
    result = scan(cdrs, sim_config, report_from=DAY2)
    scores = backtest(result, cdrs.column("record").to_numpy(), cdrs.column("label").to_pylist())
    for rule in RULES:
        s = scores[rule]
        assert s.labelled > 0 and s.true_positives > 0, (rule, s)
        assert result.by_rule[rule] > 0
    # the rules that see the pattern call by call find nearly all of it...
    for rule in ("high_risk", "long_call", "first_call", "wangiri", "sequential"):
        assert scores[rule].recall is not None and scores[rule].recall >= 0.7, scores[rule]
    # ...and alert on planted calls only (a Wangiri burst into one block of numbers is
    # sequential dialling too: the rules overlap on fraud, not on normal traffic)
    records, label_col = cdrs.column("record").to_pylist(), cdrs.column("label").to_pylist()
    labels = dict(zip(records, label_col, strict=True))
    for rule in ("high_risk", "long_call", "cps", "sequential", "wangiri", "concurrent"):
        alerted = result.alerted_records(rule).tolist()
        normal = [r for r in alerted if not labels[r]]
        assert len(normal) <= 0.1 * len(alerted), (rule, len(normal), len(alerted))


# -- the live engine, rule by rule ----------------------------------------------------------------


def _facts(i: int, at: float, **kw: Any) -> CallFacts:
    base = {"call_id": f"c{i}", "customer": "acme", "number": "442071234567", "at": at}
    base.update(kw)
    return CallFacts(**base)


def test_concurrent_counts_slots_taken_and_freed_by_the_lifecycle() -> None:
    config = fraud_config_from_mapping(
        {"concurrent": {"customer": {"warning": 1, "critical": 2}, "ttl": 60}}
    )
    counters = MemoryCounters()
    engine = FraudEngine(config, counters)
    actions, refused = [], []
    for i in range(4):
        f = _facts(i, 100.0 + i)
        actions.append(engine.check(f).action)
        limits = engine.admission_limits(f)
        assert limits == {"fraud:cc:customer:acme": 2}
        refused.append(counters.acquire(f.call_id, limits, ttl=engine.slot_ttl, at=f.at))
    assert actions == ["allow", "flag", "block", "block"]  # in progress incl. this one
    assert refused == [None, None, "fraud:cc:customer:acme", "fraud:cc:customer:acme"]
    counters.release("c0")
    counters.release("c0")  # a duplicate end frees nothing more
    assert engine.check(_facts(9, 105.0)).action == "flag"  # c1 up: 1 + this one
    counters.release("c1")
    assert engine.check(_facts(9, 106.0)).action == "allow"
    # a lost end: the slot expires after the ttl and the count never goes below zero
    assert counters.acquire("lost", {"fraud:cc:customer:acme": 2}, ttl=60, at=110.0) is None
    assert engine.check(_facts(9, 111.0)).action == "flag"
    assert engine.check(_facts(9, 170.0)).action == "allow"
    counters.release("lost")
    assert counters.in_use("fraud:cc:customer:acme", at=171.0) == 0


def test_cps_per_customer_and_source_ip() -> None:
    config = fraud_config_from_mapping(
        {"cps": {"customer": {"critical": 3}, "source_ip": {"warning": 1}}}
    )
    engine = FraudEngine(config, MemoryCounters())
    out = [
        engine.check(_facts(i, 50.2, source_ip="10.0.0.1", customer=f"c{i % 2}")) for i in range(8)
    ]
    assert [r.action for r in out] == ["allow"] + ["flag"] * 5 + ["block"] * 2
    last = out[-1].blocked_by()
    assert last is not None and last.evidence == {
        "scope": "customer", "window": "1", "count": "4", "threshold": "3", "name": "c1"
    }  # fmt: skip
    assert engine.check(_facts(9, 51.0, source_ip="10.0.0.1")).action == "allow"  # next second


def test_spend_is_added_at_call_end_and_capped_per_hour() -> None:
    config = fraud_config_from_mapping({"spend": {"hour": {"warning": "1", "critical": "2.5"}}})
    engine = FraudEngine(config, MemoryCounters())
    f = _facts(1, 1000.0)
    assert engine.check(f).action == "allow"
    engine.ended(f, duration=60, cost=to_scaled("1.5"), at=1060.0)
    assert engine.check(_facts(2, 1061.0)).action == "flag"
    engine.ended(f, duration=60, cost=to_scaled("1.5"), at=1100.0)
    r = engine.check(_facts(3, 1101.0))
    assert r.action == "block" and r.verdicts[0].evidence["spent"] == "3"
    assert engine.check(_facts(4, 1000.0 + 3600 + 120)).action == "allow"  # an hour later


def test_high_risk_with_customer_allow_and_deny() -> None:
    config = fraud_config_from_mapping(
        {
            "high_risk": {"prefixes": ["881", "88216"]},
            "customers": {"sat": {"high_risk_allow": ["881", "882"], "high_risk_deny": ["4470"]}},
        }
    )
    engine = FraudEngine(config, MemoryCounters())
    assert engine.check(_facts(1, 1.0, number="881612345")).action == "block"
    assert engine.check(_facts(2, 1.0, number="881612345", customer="sat")).action == "allow"
    assert engine.check(_facts(3, 1.0, number="88216555", customer="sat")).action == "block"
    assert engine.check(_facts(4, 1.0, number="447012345", customer="sat")).action == "block"
    assert engine.check(_facts(5, 1.0, number="447012345")).action == "allow"


def test_long_call_flagged_while_running_and_at_end() -> None:
    config = fraud_config_from_mapping(
        {"high_risk": {"prefixes": ["979"], "action": "flag"}, "long_call": {"minutes": 30}}
    )
    engine = FraudEngine(config, MemoryCounters())
    f = _facts(1, 0.0, number="979123456")
    assert engine.running(f, elapsed=1800, at=1800.0) == ()
    (v,) = engine.running(f, elapsed=1801, at=1801.0)
    assert v.rule == "long_call" and v.action == "flag" and v.evidence["prefix"] == "979"
    assert engine.ended(f, duration=4000, cost=0, at=4000.0)[0].evidence["seconds"] == "4000"
    assert engine.ended(_facts(2, 0.0), duration=4000, cost=0, at=4000.0) == ()


def _of(result: Any, rule: str) -> str:
    """The action of one rule's verdict in a result ('allow' when it gave none)."""
    return next((v.action for v in result.verdicts if v.rule == rule), "allow")


def test_velocity_wangiri_sequential_and_first_call() -> None:
    minute = {"window": 60, "step": 60}
    config = fraud_config_from_mapping(
        {
            "velocity": {**minute, "baseline": 240, "min_calls": 3, "factors": {"critical": 2.0}},
            "sequential": {**minute, "block_digits": 2, "block": {"warning": 2}},
            "wangiri": {"prefix_length": 6, "short": 3, "window": 600, "step": 60,
                        "calls": {"critical": 2}},
            "first_call": {"rate": "0.5", "prefix_length": 4},
        }
    )  # fmt: skip
    engine = FraudEngine(config, MemoryCounters())
    # velocity: one call a minute for 3 minutes, then a burst of 3 in a minute
    for i in range(3):
        assert engine.check(_facts(i, 60.0 * i, number=f"25{i}9000")).action == "allow"
    burst = [
        engine.check(_facts(10 + i, 200.0 + i, number="2519000", destination="251"))
        for i in range(3)
    ]
    assert [(v.rule, v.action) for v in burst[-1].verdicts if v.rule == "velocity"] == [
        ("velocity", "block")
    ]
    assert not [v for v in burst[1].verdicts if v.rule == "velocity"]  # below min_calls
    # sequential: consecutive numbers in one block of 100
    seq = [
        engine.check(_facts(20 + i, 1000.0, number=f"3361234560{i}", customer="s"))
        for i in range(3)
    ]
    assert [_of(r, "sequential") for r in seq] == ["allow", "allow", "flag"]
    # wangiri: short calls into one range, counted at their end
    w = _facts(30, 2000.0, number="2347031234", customer="w")
    for k in range(3):
        engine.ended(w, duration=k, cost=0, at=2001.0 + k)
    assert (
        _of(engine.check(_facts(31, 2010.0, number="2347039999", customer="w")), "wangiri")
        == "block"
    )
    # first call above the rate: flagged once
    dear = [
        engine.check(
            _facts(40 + i, 3000.0 + i, number="88261234", customer="f", sell_rate=to_scaled("0.9"))
        )
        for i in range(2)
    ]
    assert [_of(r, "first_call") for r in dear] == ["flag", "allow"]
    assert next(v for v in dear[0].verdicts if v.rule == "first_call").evidence == {
        "prefix": "8826",
        "remember": "2592000",
        "rate": "0.9",
        "threshold": "0.5",
    }


# -- shared state unreachable ----------------------------------------------------------------------


class _Down:
    """Counters whose server is away: every batch raises ConnectionError."""

    class _Batch:
        def __getattr__(self, name: str) -> Any:
            return lambda *a, **k: None

        def execute(self) -> list[Any]:
            raise ConnectionError("connection refused")

    def batch(self) -> Any:
        return self._Batch()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


FAIL_RULES = {
    "cps": {"customer": {"critical": 100}, "fail": "closed"},
    "sequential": {"same_number": {"critical": 100}, "fail": "open"},
}


def test_unreachable_counters_fail_open_or_closed_and_never_raise() -> None:
    engine = FraudEngine(fraud_config_from_mapping(FAIL_RULES), _Down())
    r = engine.check(_facts(1, 1.0))
    assert r.action == "block" and [v.rule for v in r.verdicts] == ["cps"]
    assert r.verdicts[0].evidence == {"reason": "shared state unreachable"}
    assert r.notes == (UNREACHABLE_NOTE,) and engine.unreachable == 1 and engine.last_fell_back
    assert engine.ended(_facts(1, 1.0), duration=3, cost=5, at=4.0) == ()
    opened = fraud_config_from_mapping({"cps": {"customer": {"critical": 100}}})
    assert FraudEngine(opened, _Down()).check(_facts(1, 1.0)).action == "allow"


def test_redis_down_falls_back_to_local_counters() -> None:
    redis = RedisCounters(f"redis://127.0.0.1:{_closed_port()}/0", socket_timeout=0.2)
    counters = FallbackCounters(redis, retry_after=60.0)
    engine = FraudEngine(fraud_config_from_mapping(FAIL_RULES), counters)
    r = engine.check(_facts(1, 1.0))
    assert r.notes == (LOCAL_NOTE,) and r.action == "block"  # cps fails closed
    counters2 = FallbackCounters(redis, retry_after=60.0)
    open_rules = dict(FAIL_RULES, cps={"customer": {"critical": 1}, "fail": "open"})
    engine2 = FraudEngine(fraud_config_from_mapping(open_rules), counters2)
    results = [engine2.check(_facts(i, 5.0)) for i in range(3)]
    # fail open: the local counters still count (the second call in a second is over 1)
    assert [x.action for x in results] == ["allow", "block", "block"]
    assert all(x.notes == (LOCAL_NOTE,) for x in results) and engine2.unreachable == 3
    assert counters2.fallbacks >= 3
