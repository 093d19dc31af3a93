"""The lifecycle prices a call as the rating module does: Calls' end cost equals
``price_call`` on the store (tariff plan grace, tiers and periods in the deck's time zone,
the deck's decimals and rounding), and max_duration is the longest call that price keeps
within the credit (hypothesis)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.calls import Calls
from tandem.calls.credit import max_tariff_duration
from tandem.lcr import Router, compile_table
from tandem.money import UNIT
from tandem.rating import price_call
from tandem.rating.tariff import Interval, Tariff, cost_scaled
from tandem.state import MemoryCounters
from tandem.store import Store

T = 1_767_225_600  # Thursday 2026-01-01T00:00:00Z
M = 10**6
PLAN = """
[customer.acme]
grace = 5

[customer.acme.periods]
weekend = { days = ["sat", "sun"] }

[[customer.acme.tariffs]]
prefix = "447"
intervals = [
  { start = 0, rate = "0.10", increment = 60 },
  { start = 60, rate = "0.05", increment = 1 },
]

[[customer.acme.tariffs]]
prefix = ""
period = "weekend"
rate = "0.004"
"""
NUMBERS = ["442079460000", "447700900123", "33142278186", "4930123456"]


@pytest.fixture(scope="module")
def calls(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("pricing") / "t.db")
    sell = pd.DataFrame(
        {
            "prefix": ["44", "447", "33", "49"],
            "rate": [12 * M, 50 * M, 30 * M, 7 * M],
            "connect_fee": [10 * M, 0, 0, 1],
            "initial_increment": [30, 60, 1, 60],
            "next_increment": [6, 1, 1, 60],
            "min_duration": [10, 0, 0, 0],
        }
    )
    store.write_deck("acme", "customer", sell, currency="USD", effective_from=0, decimals=5,
                     rounding="up", timezone="Asia/Tokyo")  # fmt: skip
    buy = pd.DataFrame({"prefix": ["3", "4"], "rate": [M, M]})
    store.write_deck("carrier1", "carrier", buy, currency="USD", effective_from=0)
    store.write_plan("tariff", PLAN, effective_from=0)
    store.set_credit("acme", balance=1000 * UNIT, credit_limit=0, currency="USD", at=0)
    counters = MemoryCounters()
    router = Router(compile_table(store, T), counters=counters)
    yield Calls(router, counters=counters, store=store, credit_refresh=0), store
    store.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    number=st.sampled_from(NUMBERS),
    start=st.integers(T, T + 8 * 86400),
    duration=st.integers(0, 4000),
)
def test_end_price_equals_price_call(calls, number, start, duration):
    node, store = calls
    call = node.route("+" + number, customer="acme", at=start)
    assert call.admit(at=start) is None
    call.answered("carrier1", at=start)
    end = call.end(at=start + duration, duration=duration)
    expected = price_call(number, start, duration, account="acme", rates=store)
    assert (end.billed, end.cost) == (expected.billed_seconds, expected.amount_scaled)
    store.set_credit("acme", balance=1000 * UNIT, at=start)  # keep the credit for the next
    node.reload()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    number=st.sampled_from(NUMBERS),
    start=st.integers(T, T + 8 * 86400),
    credit=st.integers(0, 3 * UNIT // 10),
)
def test_max_duration_is_the_longest_call_price_call_keeps_within_the_credit(
    calls, number, start, credit
):
    node, store = calls
    decision = node.router.route("+" + number, customer="acme", at=start)
    seconds = node._max_duration(decision, credit, start)

    def price(d: int) -> int:
        return price_call(number, start, d, account="acme", rates=store).amount_scaled

    assert price(seconds) <= credit
    if seconds < 10**6:
        assert price(seconds + 1) > credit


@settings(max_examples=200, deadline=None)
@given(
    starts=st.lists(st.integers(1, 300), max_size=3, unique=True),
    rates=st.lists(st.integers(0, 10**9), min_size=4, max_size=4),
    increments=st.lists(st.sampled_from([0, 1, 6, 30, 60]), min_size=4, max_size=4),
    fee=st.integers(0, 10**8),
    grace=st.integers(0, 6),
    least=st.integers(0, 90),
    credit=st.integers(-5, 5 * 10**8),
)
def test_max_tariff_duration_equals_brute_force(starts, rates, increments, fee, grace, least,
                                                 credit):  # fmt: skip
    points = [0, *sorted(starts)]
    tariff = Tariff(
        tuple(Interval(p, rates[k], increments[k]) for k, p in enumerate(points)),
        connect_fee=fee, grace=grace, min_duration=least,
    )  # fmt: skip
    cap = 2000
    brute = max((d for d in range(cap + 1) if cost_scaled(tariff, d)[1] <= credit), default=0)
    assert max_tariff_duration(tariff, credit, cap=cap) == (brute if credit >= 0 else 0)
