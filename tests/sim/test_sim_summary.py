"""Exact group sums of money columns against Python integer sums."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.rating.amounts import AMOUNT_TYPE, NARROW_AMOUNT_TYPE, amount_array
from tandem.sim.summary import int_sums, minutes_text, money_sums

BIG = 10**20


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.one_of(st.none(), st.integers(-BIG, BIG))),
        max_size=60,
    ),
    st.booleans(),
)
def test_money_sums_equal_python_sums(rows, narrow):
    groups = 5
    codes = np.array([g for g, _ in rows], dtype=np.int64)
    values = [v for _, v in rows]
    if narrow:
        values = [None if v is None else v % (10**18) - 10**17 for v in values]
    kind = NARROW_AMOUNT_TYPE if narrow else AMOUNT_TYPE
    small = np.array([0 if v is None or abs(v) >= 2**63 else v for v in values], dtype=np.int64)
    wide_at = np.array([i for i, v in enumerate(values) if v is not None and abs(v) >= 2**63])
    col = amount_array(
        small,
        np.array([v is not None for v in values], dtype=bool),
        (wide_at.astype(np.int64), [values[i] for i in wide_at.tolist()]),
        kind,
    )
    expected = [0] * groups
    for g, v in zip(codes.tolist(), values, strict=True):
        expected[g] += v or 0
    assert money_sums(codes, groups, col) == expected
    assert money_sums(codes, groups, pa.chunked_array([col])) == expected


def test_int_sums_exact_past_float_precision():
    codes = np.zeros(3 * (1 << 20) + 5, dtype=np.int64)
    values = np.full(len(codes), (1 << 32) - 1, dtype=np.int64)
    assert int(int_sums(codes, 1, values)[0]) == len(codes) * ((1 << 32) - 1)


def test_minutes_text():
    assert minutes_text(90) == "1.50" and minutes_text(1) == "0.02" and minutes_text(0) == "0.00"
