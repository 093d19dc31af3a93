"""Tariff arithmetic: every rule against costs computed by hand."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandem.errors import ConfigError
from tandem.money import Rounding, round_scaled, to_scaled
from tandem.rating.plan import parse_plan
from tandem.rating.tariff import (
    ROUNDING_CODES,
    Interval,
    Tariff,
    billed_seconds,
    flat_billed_array,
    round_scaled_array,
)


def S(text: str) -> int:
    return to_scaled(Decimal(text))


@pytest.mark.parametrize(
    "duration, initial, nxt, expected",
    [
        (1, 60, 60, 60),
        (60, 60, 60, 60),
        (61, 60, 60, 120),
        (1, 1, 1, 1),
        (61, 1, 1, 61),
        (1, 30, 6, 30),
        (30, 30, 6, 30),
        (31, 30, 6, 36),
        (40, 30, 6, 42),
        (1, 60, 1, 60),
        (61, 60, 1, 61),
        (0, 60, 60, 0),
        (5, 0, 0, 5),  # increments of 0 mean per second
    ],
)
def test_increments(duration, initial, nxt, expected):
    assert billed_seconds(duration, initial, nxt) == expected
    got = flat_billed_array(
        np.array([duration]), np.array([initial]), np.array([nxt]), np.array([0])
    )
    assert got.tolist() == [expected]


def test_minimum_duration():
    # 1/1 with a 30 s minimum: a 10 s call bills 30 s, a 45 s call bills 45 s.
    assert billed_seconds(10, 1, 1, 30) == 30
    assert billed_seconds(45, 1, 1, 30) == 45
    # 30/6 with a 60 s minimum: 10 s -> 60 s (30 + 5*6).
    assert billed_seconds(10, 30, 6, 60) == 60


def test_flat_cost_rounding_half_up():
    # 0.0123/min, 61 s at 1/1 = 0.0123 * 61 / 60 = 0.012505 -> 0.0125 (4 decimals)
    t = Tariff.flat(S("0.0123"), initial_increment=1, next_increment=1)
    assert t.price(61) == (61, S("0.0125"))
    # 0.0123 * 62 / 60 = 0.01271 -> 0.0127
    assert t.price(62) == (62, S("0.0127"))


def test_rounding_modes_on_exact_half():
    # 0.0001 * 30 / 60 = 0.00005: exactly half a unit of the 4th decimal.
    base = dict(initial_increment=1, next_increment=1, decimals=4)
    assert Tariff.flat(S("0.0001"), rounding="half-up", **base).price(30)[1] == S("0.0001")
    assert Tariff.flat(S("0.0001"), rounding="half-even", **base).price(30)[1] == 0
    assert Tariff.flat(S("0.0003"), rounding="half-even", **base).price(30)[1] == S("0.0002")
    assert Tariff.flat(S("0.0001"), rounding="down", **base).price(30)[1] == 0
    assert Tariff.flat(S("0.0001"), rounding="up", **base).price(1)[1] == S("0.0001")
    assert Tariff.flat(S("0.0001"), rounding="ceiling", **base).price(1)[1] == S("0.0001")
    assert Tariff.flat(S("0.0001"), rounding="floor", **base).price(59)[1] == 0


def test_connect_fee_and_decimals():
    # 0.02/min, 60/60, fee 0.015, 2 decimals: 61 s -> 120 s -> 0.04 + 0.015 = 0.055 -> 0.06
    t = Tariff.flat(S("0.02"), connect_fee=S("0.015"), decimals=2)
    assert t.price(61) == (120, S("0.06"))
    assert Tariff.flat(S("0.02"), connect_fee=S("0.015"), decimals=2, rounding="down").price(
        61
    ) == (120, S("0.05"))


def test_grace_period():
    t = Tariff.flat(S("0.10"), connect_fee=S("0.05"), grace=5)
    assert t.price(5) == (0, 0)  # at the grace limit: free, no connect fee
    assert t.price(6) == (60, S("0.15"))
    assert Tariff.flat(S("0.10")).price(0) == (0, 0)  # default grace 0: only 0 s is free


def test_tiered_intervals_cgrates_style():
    # First 60 s at 0.10/min per 60 s, then 0.05/min per second.
    t = Tariff((Interval(0, S("0.10"), 60), Interval(60, S("0.05"), 1)))
    assert t.price(1) == (60, S("0.10"))
    assert t.price(60) == (60, S("0.10"))
    assert t.price(90) == (90, S("0.125"))  # 0.10 + 30 s * 0.05/60 = 0.125
    assert t.price(61) == (61, S("0.1008"))  # 0.10 + 0.000833.. -> 0.1008
    # three tiers: 30 s blocks, then 6 s blocks at a lower rate after 60 s
    t3 = Tariff(
        (Interval(0, S("0.12"), 30), Interval(60, S("0.06"), 6)), min_duration=0, decimals=6
    )
    # 70 s: 60 s at 0.12 (2 blocks) = 0.12, then 10 s -> 12 s at 0.06 = 0.012
    assert t3.price(70) == (72, S("0.132"))


def test_tariff_validation():
    with pytest.raises(ConfigError):
        Tariff((Interval(10, 1, 1),))
    with pytest.raises(ConfigError):
        Tariff((Interval(0, 1, 1), Interval(0, 1, 1)))
    with pytest.raises(ConfigError):
        Interval(-1, 0, 1)


@given(
    st.lists(st.integers(-(10**15), 10**15), min_size=1, max_size=50),
    st.integers(0, 9),
    st.sampled_from(list(Rounding)),
)
def test_round_scaled_array_matches_money(values, decimals, mode):
    step = 60 * 10 ** (9 - decimals)
    got = round_scaled_array(np.array(values, dtype=np.int64), step, ROUNDING_CODES[mode])
    assert got.tolist() == [round_scaled(v, step, mode) for v in values]
    per_row = round_scaled_array(
        np.array(values, dtype=np.int64),
        np.full(len(values), step),
        np.full(len(values), ROUNDING_CODES[mode]),
    )
    assert per_row.tolist() == got.tolist()
    per_minute = round_scaled_array(
        np.array(values, dtype=np.int64), step, ROUNDING_CODES[mode], unit=step // 60
    )
    assert per_minute.tolist() == [round_scaled(v, step, mode) // 60 for v in values]


def test_plan_parsing_and_errors():
    plan = parse_plan(
        {
            "customer": {
                "acme": {
                    "grace": 3,
                    "periods": {
                        "weekend": {"days": ["sat", "sun"]},
                        "night": {"from": "19:00", "until": "07:00"},
                    },
                    "tariffs": [
                        {"prefix": "44", "rate": "0.01"},
                        {"prefix": "447", "period": "weekend", "rate": "0.02"},
                    ],
                }
            }
        }
    )
    acme = plan.get("customer", "acme")
    assert acme.grace == 3
    assert acme.period_index(5, 600) == 1  # Saturday 10:00 -> weekend
    assert acme.period_index(0, 20 * 60) == 2  # Monday 20:00 -> night
    assert acme.period_index(0, 6 * 60) == 2  # Monday 06:00 -> night (wraps)
    assert acme.period_index(0, 12 * 60) == 0
    assert acme.tariff_for("4477", 1).rate == S("0.02")
    assert acme.tariff_for("4477", 0).rate == S("0.01")
    assert acme.tariff_for("33", 0) is None
    assert plan.get("carrier", "nobody").grace == 0
    bad = [
        {"vendor": {}},
        {"customer": {"a": {"grace": -1}}},
        {"customer": {"a": {"tariffs": [{"prefix": "4x", "rate": "1"}]}}},
        {"customer": {"a": {"tariffs": [{"prefix": "4", "rate": 0.1}]}}},
        {"customer": {"a": {"tariffs": [{"prefix": "4"}]}}},
        {"customer": {"a": {"tariffs": [{"prefix": "4", "period": "x", "rate": "1"}]}}},
        {"customer": {"a": {"periods": {"x": {"days": ["funday"]}}}}},
        {"customer": {"a": {"periods": {"x": {"from": "25:00"}}}}},
        {
            "customer": {
                "a": {"tariffs": [{"prefix": "4", "intervals": [{"start": 5, "rate": "1"}]}]}
            }
        },
    ]
    for data in bad:
        with pytest.raises(ConfigError):
            parse_plan(data)
