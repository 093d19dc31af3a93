"""The scan's parts and threads change nothing: the rules keyed by customer evaluated over
parts of whole customers (``chunk_rows``), in two threads, give exactly the alerts of the
straightforward scan (one pass over every row, one thread), on random streams in random
file order with many customers, and on generated traffic with every pattern planted."""

from __future__ import annotations

import importlib
from typing import Any
from unittest import mock

import numpy as np
from fraud_helpers import cdr_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fraud_scan_equivalence import NUMBERS, configs

from tandem.fraud import fraud_config_from_mapping, scan
from tandem.fraud.rows import scan_rows
from tandem.fraud.scanner import _parts

scan_module = importlib.import_module("tandem.fraud.scanner")  # the module (not the function)
CUSTOMERS = ["a", "b", "c", "d", "e", "f", "g"]

rows_strategy = st.lists(
    st.tuples(
        st.integers(0, 200),
        st.one_of(st.just(0), st.integers(0, 150)),
        st.sampled_from(NUMBERS),
        st.sampled_from(CUSTOMERS),
        st.just("x"),
        st.sampled_from(["t1", "t2", None]),
        st.sampled_from(["10.0.0.1", "10.0.0.2", None]),
        st.sampled_from([None, "0", "0.5", "1.25", "3"]),
        st.sampled_from([None, "0.05", "0.2", "0.3"]),
    ),
    max_size=60,
)


def _same(a: Any, b: Any) -> None:
    assert a.call_alerts() == b.call_alerts()
    assert [e.to_dict() for e in a.alerts] == [e.to_dict() for e in b.alerts]
    assert a.by_rule == b.by_rule
    for rule in a.hits:
        assert np.array_equal(a.alerted_records(rule), b.alerted_records(rule))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=configs(), rows=rows_strategy, chunk=st.integers(1, 12))
def test_parts_and_threads_equal_one_pass(
    data: dict[str, Any], rows: list[tuple[Any, ...]], chunk: int
) -> None:
    config = fraud_config_from_mapping(data)
    table = cdr_table(rows)
    plain = scan(table, config, workers=1, chunk_rows=10**9)
    with mock.patch.object(scan_module, "_PARALLEL_ROWS", 0):  # threads at any size
        parted = scan(table, config, workers=2, chunk_rows=chunk)
    _same(parted, plain)


@settings(max_examples=100, deadline=None)
@given(customers=st.lists(st.integers(0, 6), max_size=80), chunk=st.integers(1, 30))
def test_parts_hold_whole_keys_in_replay_order(customers: list[int], chunk: int) -> None:
    rows = [(i, 1, "4420001", CUSTOMERS[c], "x", None, None, None, None) for i, c in
            enumerate(customers)]  # fmt: skip
    scan_rows_, _ = scan_rows(cdr_table(rows), group_prefix_length=3)
    parts = _parts(scan_rows_.customer, chunk)
    every = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    assert sorted(every.tolist()) == list(range(len(customers)))  # each row once
    seen: set[int] = set()
    for idx in parts:
        assert np.all(np.diff(idx) > 0)  # replay order within a part
        codes = set(scan_rows_.customer[idx].tolist())
        assert not codes & seen  # a customer in one part only
        seen |= codes
        biggest = int(np.bincount(scan_rows_.customer[idx]).max(initial=0))
        assert len(idx) < chunk + biggest  # a part overflows by less than its last key


def test_generated_traffic_parts_equal_one_pass() -> None:
    """Every planted pattern, several parts of whole customers, two threads."""
    from pathlib import Path

    from tandem.fraud import load_fraud_config
    from tandem.rating.cdr import canonical_table
    from tandem.sim import generate_traffic
    from tandem.sim.patterns import PATTERNS

    config = load_fraud_config(Path(__file__).resolve().parents[1] / "data" / "fraud.toml")
    table = canonical_table(generate_traffic(5, calls=60_000, days=1, fraud=list(PATTERNS)))
    plain = scan(table, config, workers=1, chunk_rows=10**9)
    parted = scan(table, config, workers=2, chunk_rows=5_000)
    assert sum(plain.by_rule.values()) > 0
    _same(parted, plain)
