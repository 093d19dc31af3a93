"""Property tests of the generator's building blocks against brute-force references."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pyarrow.compute as pc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.sim import PATTERNS, generate_traffic
from tandem.sim.rows import DestTable, draw_numbers, outcomes


@given(
    ranges=st.lists(
        st.tuples(
            st.text("123456789", min_size=1, max_size=5),
            st.integers(0, 10),  # digits after the prefix
            st.integers(0, 2**100 - 1),  # block bitmap
        ),
        min_size=1,
        max_size=6,
        unique_by=lambda r: r[0],
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_numbers_fall_in_their_range_and_blocks(ranges, seed):
    table = DestTable()
    for prefix, extra, bits in ranges:
        table.add(prefix, len(prefix) + extra, Decimal(1), bits)
    rng = np.random.default_rng(seed)
    dest = rng.integers(0, len(ranges), 200)
    numbers = draw_numbers(rng, dest, table)
    for d, n in zip(dest.tolist(), numbers.tolist(), strict=True):
        prefix, extra, bits = ranges[d]
        text = str(n)
        assert text.startswith(prefix) and len(text) == len(prefix) + extra
        if extra >= 3 and bits:
            assert bits >> int(text[len(prefix) : len(prefix) + 2]) & 1


@given(
    asr=st.floats(0, 1),
    acd=st.floats(1, 3600),
    n=st.integers(0, 300),
    seed=st.integers(0, 2**32 - 1),
    fail=st.dictionaries(
        st.sampled_from([404, 480, 486, 487, 503, 408]), st.floats(0.01, 1), min_size=1
    ),
)
def test_outcomes_are_consistent(asr, acd, n, seed, fail):
    sip, duration, pdd = outcomes(np.random.default_rng(seed), asr, 2000.0, acd, n=n, fail=fail)
    assert len(sip) == len(duration) == len(pdd) == n
    assert set(sip.tolist()) <= {200, *fail}
    assert ((sip == 200) == (duration > 0)).all()
    assert (duration <= 7200).all() and (pdd >= 20).all()
    if asr == 0:
        assert not (sip == 200).any()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    customers=st.integers(1, 6),
    destinations=st.integers(1, 30),
    calls=st.integers(0, 400),
    days=st.integers(1, 2),
    patterns=st.lists(st.sampled_from(PATTERNS), unique=True, max_size=4),
    collapse=st.booleans(),
)
def test_any_small_traffic_keeps_the_invariants(
    seed, customers, destinations, calls, days, patterns, collapse
):
    table = generate_traffic(
        seed,
        customers=customers,
        destinations=destinations,
        calls=calls,
        days=days,
        fraud=patterns,
        quality_collapse=collapse,
    )
    assert table.num_rows >= calls
    starts = table.column("start").to_numpy()
    assert (np.diff(starts) >= 0).all()
    assert pc.count_distinct(table.column("call_id")).as_py() == table.num_rows
    labels = set(table.column("label").to_pylist())
    assert labels <= {"", "quality_collapse", *patterns}
    assert set(patterns) <= labels
    assert ("" in labels) == (calls > 0) or collapse
    for n, d, dur, rate, amount in zip(
        table.column("number").to_pylist(),
        table.column("destination").to_pylist(),
        table.column("duration").to_pylist(),
        table.column("sell_rate").to_pylist(),
        table.column("sell_amount").to_pylist(),
        strict=True,
    ):
        assert n.startswith(d)
        assert amount == (Decimal(dur) * rate / 60).quantize(Decimal("0.000001"), ROUND_HALF_EVEN)
