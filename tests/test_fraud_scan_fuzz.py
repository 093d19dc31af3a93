"""Hostile CDRs into the scan: it never raises, and every CDR is readable or counted
unreadable with a reason (nothing dropped silently)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.fraud import fraud_config_from_mapping, scan
from tandem.rating.cdr import canonical_table

CONFIG = fraud_config_from_mapping(
    {
        "high_risk": {"prefixes": ["881"]},
        "cps": {"customer": {"warning": 0}},
        "concurrent": {"customer": {"warning": 0}},
        "sequential": {"same_number": {"warning": 0}},
        "wangiri": {"calls": {"warning": 0}},
        "velocity": {"min_calls": 0, "factors": {"warning": 1}},
        "spend": {"hour": {"warning": "0"}},
        "first_call": {"rate": "0"},
    }
)
_text = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["4420001", "+8812", "0044", "", " 1 ", "1" * 16, "12-34", "１２３"]),
)
_ints = st.one_of(st.none(), st.integers(-(2**40), 2**40))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            _ints,
            _ints,
            _text,
            _text,
            _text,
            st.one_of(st.none(), st.sampled_from(["0.5", "x", "-1", "1e3", "", "99999999999"])),
        ),
        max_size=25,
    )
)
def test_any_cdrs_scan_cleanly(rows: list[tuple[Any, ...]]) -> None:
    table = pa.table(
        {
            "start": pa.array([r[0] for r in rows], pa.int64()),
            "duration": pa.array([r[1] for r in rows], pa.int64()),
            "number": pa.array([r[2] for r in rows], pa.string()),
            "customer": pa.array([r[3] for r in rows], pa.string()),
            "trunk": pa.array([r[4] for r in rows], pa.string()),
            "carrier": pa.array(["c"] * len(rows), pa.string()),
            "sell_rate": pa.array([r[5] for r in rows], pa.string()),
        }
    )
    result = scan(canonical_table(table), CONFIG)
    assert result.rows_in == len(rows)
    assert result.unreadable == sum(result.unreadable_reasons.values())
    readable = len(result.records)
    assert readable + result.unreadable == len(rows)
    for hits in result.hits.values():
        assert len(hits) <= readable
