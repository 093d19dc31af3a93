"""The credit limit's sell terms kept per rate (Calls: when every sell row of the table has
the same connect fee, increments and minimum duration, a customer's terms depend on the
rate alone) give the max_duration of the terms of the decision's own prefix, as the
per-prefix entry does (hypothesis: tables with uniform rows and with rows that differ,
rates shared by several prefixes, a credit that moves between calls)."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.calls import Calls
from tandem.calls.credit import max_duration
from tandem.calls.lifecycle import credit_spent_key
from tandem.lcr import Router
from tandem.lcr.table import OPEN_END, compile_rates
from tandem.money import UNIT
from tandem.state import MemoryCounters
from tandem.store import CreditAccount

T = 1_767_225_600
PREFIXES = ["31", "32", "33", "331", "3312", "34", "44", "441", "4420", "49"]


def _table(rates: list[int], shapes: list[tuple[int, int, int, int]]):
    rows = [
        {"account": "acme", "kind": "customer", "prefix": p, "rate": rates[i],
         "connect_fee": shapes[i][0], "initial_increment": shapes[i][1],
         "next_increment": shapes[i][2], "min_duration": shapes[i][3]}
        for i, p in enumerate(PREFIXES)
    ] + [
        {"account": "c1", "kind": "carrier", "prefix": p, "rate": 1, "connect_fee": 0,
         "initial_increment": 1, "next_increment": 1, "min_duration": 0}
        for p in ("3", "4")
    ]  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["currency"] = "USD"
    frame["effective_from"] = 0
    frame["effective_until"] = OPEN_END
    return compile_rates(frame, T)


_shape = st.tuples(
    st.sampled_from([0, 10**6]), st.sampled_from([1, 30, 60]), st.sampled_from([1, 6, 60]),
    st.sampled_from([0, 10]),
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    rates=st.lists(st.sampled_from([10**6, 5 * 10**6, 12 * 10**6]), min_size=10, max_size=10),
    uniform=st.booleans(),
    shapes=st.lists(_shape, min_size=10, max_size=10),
    calls=st.lists(
        st.tuples(
            st.sampled_from(PREFIXES), st.integers(0, 999), st.integers(0, 3 * UNIT)
        ),  # fmt: skip
        max_size=25,
    ),
)
def test_terms_kept_per_rate_give_the_prefix_max_duration(rates, uniform, shapes, calls):
    if uniform:
        shapes = [shapes[0]] * len(shapes)
    table = _table(rates, shapes)
    counters = MemoryCounters()
    account = CreditAccount("acme", "USD", 5 * UNIT, 0, 0, T)
    node = Calls(Router(table), counters=counters, accounts=[account], credit_refresh=0)
    for i, (prefix, tail, spend) in enumerate(calls):
        counters.incr(credit_spent_key("acme"), spend % (UNIT // 3))
        at = T + i
        call = node.route(f"+{prefix}{tail:03d}0000", customer="acme", at=at)
        decision = call.decision
        assert not decision.blocked or decision.reason.startswith("credit")
        credit = decision.credit
        assert credit is not None
        if decision.sell_rate_scaled is None:
            continue
        want = max_duration(node.sell_tariff(decision.decision, at), credit)
        assert call.max_duration == want
    if calls:  # a decision read the table's sell rows
        assert (node._uniform is not None) == (uniform or len(set(shapes)) == 1)
        if node._uniform is not None:  # the terms were kept per rate
            assert set(node._by_rate["acme"]) <= set(rates)
