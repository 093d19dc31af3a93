"""The vectorised scan answers exactly what the live engine answers call by call.

Random small CDR streams (many equal starts, zero-length calls, repeated numbers and
blocks, several customers, trunks and source IPs) and random rule settings; the scan's
per-call alerts must equal the verdicts of :class:`tandem.fraud.FraudEngine` fed the same
calls in time order over ``MemoryCounters`` (tests/fraud_helpers.replay)."""

from __future__ import annotations

from typing import Any

from fraud_helpers import cdr_table, replay
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.fraud import fraud_config_from_mapping, scan

NUMBERS = [
    "4420001",
    "4420002",
    "4420013",
    "4420013",
    "8812345",
    "88212",
    "97912",
    "4471234567",
    "1212555",
]


def _levels(draw: Any, money: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    warning = draw(st.one_of(st.none(), st.integers(0, 4)))
    critical = draw(st.one_of(st.none(), st.integers(0, 6)))
    if warning is not None and critical is not None and critical < warning:
        critical = warning
    if warning is not None:
        out["warning"] = str(warning) if money else warning
    if critical is not None:
        out["critical"] = str(critical) if money else critical
    return out


@st.composite
def configs(draw: Any) -> dict[str, Any]:
    step = draw(st.sampled_from([1, 2, 5]))
    vstep = draw(st.sampled_from([1, 5]))
    vwindow = vstep * draw(st.integers(1, 4))
    warning = draw(st.one_of(st.none(), st.floats(1, 4)))
    critical = draw(st.one_of(st.none(), st.floats(1, 6)))
    if warning is not None and critical is not None and critical < warning:
        critical = warning
    factors = {k: v for k, v in (("warning", warning), ("critical", critical)) if v is not None}
    data: dict[str, Any] = {
        "high_risk": {
            "prefixes": ["881", "8821", "979"],
            "action": draw(st.sampled_from(["flag", "block"])),
        },
        "concurrent": {
            "customer": _levels(draw),
            "trunk": _levels(draw),
            "group": _levels(draw),
            "group_prefix_length": draw(st.integers(1, 4)),
            "ttl": draw(st.sampled_from([7, 40, 7200])),
        },
        "cps": {
            "window": step * draw(st.integers(1, 3)),
            "step": step,
            "customer": _levels(draw),
            "source_ip": _levels(draw),
        },
        "spend": {
            "hour": _levels(draw, True),
            "day": _levels(draw, True),
            "hour_step": draw(st.sampled_from([1, 60, 600])),
            "day_step": draw(st.sampled_from([60, 3600])),
        },
        "velocity": {
            "prefix_length": draw(st.integers(1, 5)),
            "window": vwindow,
            "step": vstep,
            "baseline": vwindow * draw(st.integers(2, 5)),
            "min_calls": draw(st.integers(0, 3)),
            "min_baseline": draw(st.integers(0, 2)),
            "factors": factors,
        },
        "sequential": {
            "window": step * draw(st.integers(1, 5)),
            "step": step,
            "block_digits": draw(st.integers(1, 3)),
            "same_number": _levels(draw),
            "block": _levels(draw),
        },
        "wangiri": {
            "prefix_length": draw(st.integers(1, 6)),
            "short": draw(st.integers(0, 4)),
            "window": 10 * draw(st.integers(1, 6)),
            "step": 10,
            "calls": _levels(draw),
        },
        "first_call": {
            "prefix_length": draw(st.integers(1, 5)),
            "remember": 10 * draw(st.integers(1, 10)),
            "step": 10,
            "rate": draw(st.sampled_from(["0", "0.1", "0.25"])),
        },
        "long_call": {"minutes": draw(st.integers(1, 2))},
        "customers": {
            "b": {
                "high_risk_allow": ["882"],
                "high_risk_deny": ["4471"],
                "cps": {"customer": _levels(draw)},
                "sequential": {"enabled": draw(st.booleans())},
                "wangiri": {"calls": _levels(draw)},
                "first_call": {"rate": "0.2"},
                "long_call": {"minutes": 2},
                "concurrent": {"customer": _levels(draw)},
                "spend": {"enabled": draw(st.booleans())},
            }
        },
    }
    return data


rows_strategy = st.lists(
    st.tuples(
        st.integers(0, 200),
        st.one_of(st.just(0), st.integers(0, 150)),
        st.sampled_from(NUMBERS),
        st.sampled_from(["a", "b", "c"]),
        st.just("x"),
        st.sampled_from(["t1", "t2", None]),
        st.sampled_from(["10.0.0.1", "10.0.0.2", None]),
        st.sampled_from([None, "0", "0.5", "1.25", "3"]),
        st.sampled_from([None, "0.05", "0.2", "0.3"]),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=configs(), rows=rows_strategy)
def test_scan_equals_live_replay(data: dict[str, Any], rows: list[tuple[Any, ...]]) -> None:
    config = fraud_config_from_mapping(data)
    result = scan(cdr_table(rows), config)
    assert result.call_alerts() == replay(rows, config)
    assert result.rows_in == len(rows) and result.unreadable == 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=configs(),
    rows=rows_strategy,
    picks=st.lists(st.sampled_from(["", "44", "4420", "881", None]), min_size=40, max_size=40),
)
def test_scan_equals_live_replay_with_destinations(
    data: dict[str, Any], rows: list[tuple[Any, ...]], picks: list[str | None]
) -> None:
    """A destination column (the matched prefix) keys velocity, first calls and the
    concurrent destination group, as ``facts.destination`` / ``facts.group`` do live."""
    config = fraud_config_from_mapping(data)
    dests = picks[: len(rows)]
    result = scan(cdr_table(rows, extra={"destination": dests}), config)
    assert result.call_alerts() == replay(rows, config, destinations=dests)
    assert result.rows_in == len(rows) and result.unreadable == 0
    # every alerted call is in exactly one episode of its rule
    for rule, hits in result.hits.items():
        assert sum(e.calls for e in result.alerts if e.rule == rule) == len(hits)
