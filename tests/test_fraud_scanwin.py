"""The C windows of the scan (tandem/fraud/_scanwin.c, optional) answer exactly what the
numpy windows answer, and both what brute force answers row by row; a whole scan gives
the same episodes either way (and the live engine's verdicts, tests/fraud_helpers.replay).

The tests that need the extension are skipped when it is not built (``python setup.py
build_ext --inplace``); the numpy path is checked against brute force either way."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from fraud_helpers import cdr_table, replay
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fraud_scan_equivalence import configs, rows_strategy
from test_fraud_windows import _arrays

from tandem.fraud import fraud_config_from_mapping, scan
from tandem.fraud import windows as win
from tandem.fraud.windows import (
    NATIVE,
    Grouping,
    digit_values,
    ended_sums,
    in_progress,
    keyed_ended_sums,
    keyed_in_progress,
    keyed_window_sums,
    pair_key,
    window_sums,
)

native = pytest.mark.skipif(not NATIVE, reason="C windows not built (setup.py build_ext)")
PATHS = [pytest.param(True, marks=native, id="C"), pytest.param(False, id="numpy")]


@pytest.fixture(autouse=True)
def _restore_kernel() -> Iterator[None]:
    before = win.native_in_use()
    yield
    win.use_native(before)


ROWS = st.lists(
    st.tuples(
        st.one_of(st.integers(0, 3), st.integers(0, 2**62)),  # key: small or any
        st.integers(0, 40),  # start
        st.one_of(st.just(0), st.integers(0, 12)),  # duration (often zero)
        st.integers(-3, 5),  # amount / weight
    ),
    max_size=60,
)


def _brute_window(key: np.ndarray, b: np.ndarray, w: np.ndarray | None, span: int) -> list[int]:
    return [
        sum(
            1 if w is None else int(w[j])
            for j in range(i + 1)
            if key[j] == key[i] and b[i] - span < b[j] <= b[i]
        )
        for i in range(len(key))
    ]


def _brute_progress(key: np.ndarray, s: np.ndarray, e: np.ndarray, h: np.ndarray) -> list[int]:
    return [
        sum(1 for j in range(i) if key[j] == key[i] and h[j] and e[j] > s[i])
        for i in range(len(key))
    ]


def _brute_ended(
    key: np.ndarray, s: np.ndarray, e: np.ndarray, a: np.ndarray, span: int, step: int
) -> list[int]:
    return [
        sum(
            int(a[j])
            for j in range(i)
            if key[j] == key[i] and e[j] <= s[i] and e[j] // step > s[i] // step - span
        )
        for i in range(len(key))
    ]


@pytest.mark.parametrize("use_c", PATHS)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=ROWS, step=st.integers(1, 5), span=st.sampled_from([1, 2, 3, 7, 50]))
def test_windows_equal_brute_force(
    use_c: bool, rows: list[tuple[int, int, int, int]], step: int, span: int
) -> None:
    win.use_native(use_c)
    key, start, end, amount = _arrays(rows)
    buckets = start // step
    g = Grouping(key)
    # the grouping: every row once, a group's rows together in replay order
    assert sorted(g.order.tolist()) == list(range(len(key)))
    for p in range(1, len(key)):
        same = g.code[p] == g.code[p - 1]
        assert same == (key[g.order[p]] == key[g.order[p - 1]])
        if same:
            assert g.order[p] > g.order[p - 1]
    for p in range(len(key)):
        assert key[g.order[g.first[p]]] == key[g.order[p]]
        assert g.first[p] == 0 or g.code[g.first[p] - 1] != g.code[p]
    holds = amount > 0
    weights = [None, amount, holds]
    expect = {
        "count": _brute_window(key, buckets, None, span),
        "sum": _brute_window(key, buckets, amount, span),
        "held": _brute_window(key, buckets, holds, span),
        "own": _brute_window(key, buckets, amount, 1),
    }
    for name, w in zip(("count", "sum", "held"), weights, strict=True):
        got, own = window_sums(g, buckets, w, (span, 1))
        assert got.tolist() == expect[name]
        if name == "sum":
            assert own.tolist() == expect["own"]
        grouped = window_sums(g, buckets, w, (span,), grouped=True)[0]
        assert grouped[np.argsort(g.order)].tolist() == expect[name]
    busy = _brute_progress(key, start, end, holds)
    assert in_progress(g, start, end, holds).tolist() == busy
    assert in_progress(g, start, end, holds, grouped=True)[np.argsort(g.order)].tolist() == busy
    assert ended_sums(g, start, end, amount, span=span, step=step).tolist() == _brute_ended(
        key, start, end, amount, span, step
    )
    # over the key itself (row by row with every key's state when the codes are small)
    assert keyed_in_progress(key, start, end, holds).tolist() == busy
    count, total = (
        keyed_window_sums(key, buckets, None, (span,))[0],
        keyed_window_sums(key, buckets, amount, (span, 1)),
    )
    assert count.tolist() == expect["count"]
    assert total[0].tolist() == expect["sum"] and total[1].tolist() == expect["own"]
    ended = keyed_ended_sums(key, start, end, amount, span=span, step=step)
    assert ended.tolist() == _brute_ended(key, start, end, amount, span, step)


@pytest.mark.parametrize("use_c", PATHS)
@settings(max_examples=100, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(st.integers(0, 5), st.one_of(st.integers(0, 7), st.integers(0, 2**61))),
        max_size=30,
    )
)
def test_pair_keys_group_as_pairs(use_c: bool, pairs: list[tuple[int, int]]) -> None:
    """``pair_key`` (packed, or too wide to pack) tells pairs apart exactly as the pairs
    themselves, and ``Grouping.pairs`` groups by it."""
    win.use_native(use_c)
    a = np.asarray([p[0] for p in pairs], dtype=np.int64)
    b = np.asarray([p[1] for p in pairs], dtype=np.int64)
    key = pair_key(a, b, max(1, int(b.max(initial=0)).bit_length()))
    for i in range(len(pairs)):
        for j in range(len(pairs)):
            assert (key[i] == key[j]) == (pairs[i] == pairs[j])
    g = Grouping.pairs(a, b, max(1, int(b.max(initial=0)).bit_length()))
    for p in range(1, len(pairs)):
        same = g.code[p] == g.code[p - 1]
        assert same == (pairs[g.order[p]] == pairs[g.order[p - 1]])


@native
@settings(max_examples=200, deadline=None)
@given(rows=ROWS, ttl=st.integers(0, 20))
def test_heap_and_wheel_agree(rows: list[tuple[int, int, int, int]], ttl: int) -> None:
    """Calls in progress by a heap of the ends or by a wheel of seconds (the kernel picks
    the cheaper): the same counts."""
    from tandem.fraud import _scanwin

    key, start, end, amount = _arrays(rows)
    end = np.minimum(end, start + ttl)
    holds = amount > 0
    g = Grouping(key)
    busy = _brute_progress(key, start, end, holds)
    for method in (0, 1, 2):
        out = np.empty(len(key), dtype=np.int64)
        _scanwin.in_progress(g.order, g.code, start, end, holds, out, False, method)
        assert out.tolist() == busy


@native
def test_large_sums_wrap_like_numpy() -> None:
    """Sums wrap modulo 2**64 as numpy's int64 do: exact whenever the true sum fits."""
    big = 2**62
    key = np.zeros(4, dtype=np.int64)
    start = np.asarray([0, 1, 2, 3], dtype=np.int64)
    amount = np.asarray([big, big, -big, -big], dtype=np.int64)
    answers = []
    for use_c in (True, False):
        win.use_native(use_c)
        g = Grouping(key)
        answers.append(
            (
                window_sums(g, start, amount, (10,))[0].tolist(),
                ended_sums(g, start, start, amount, span=10, step=1).tolist(),
            )
        )
    assert answers[0] == answers[1]
    assert answers[0][0][3] == 0 and answers[0][1][3] == big + big - big


@native
def test_bad_arguments_are_refused() -> None:
    from tandem.fraud import _scanwin

    n = np.zeros(3, dtype=np.int64)
    with pytest.raises(IndexError):
        _scanwin.in_progress(np.asarray([0, 1, 9]), n, n, n, np.ones(3, bool), n.copy(), False)
    with pytest.raises(ValueError):
        _scanwin.window_sums(n, n, n, None, (0,), [n.copy()], False)
    with pytest.raises(ValueError):
        _scanwin.keyed_in_progress(np.asarray([0, 5, 1]), 2, n, n, np.ones(3, bool), n.copy())
    with pytest.raises(ValueError):  # wrong item size
        _scanwin.ended_sums(n, n, n.astype(np.int32), n, n, 1, 1, n.copy())
    with pytest.raises(ValueError):
        _scanwin.keyed_ended_sums(np.asarray([0, 1, 7]), 2, n, n, n, 1, 1, n.copy())
    with pytest.raises(ValueError):
        _scanwin.keyed_window_sums(np.asarray([0, -1, 1]), 2, n, None, (1,), [n.copy()])


def test_use_native_switches() -> None:
    win.use_native(False)
    assert not win.native_in_use()
    if NATIVE:
        assert not win.use_native(True) and win.native_in_use()
    else:
        with pytest.raises(RuntimeError):
            win.use_native(True)


@native
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=configs(), rows=rows_strategy, chunk=st.sampled_from([3, 10, 1 << 18]))
def test_scan_same_episodes_both_paths(
    data: dict[str, Any], rows: list[tuple[Any, ...]], chunk: int
) -> None:
    """Random CDR streams (with an unreadable CDR or two) scanned with the C windows and
    with numpy: the same episodes, per-call alerts and unreadable counts, and the live
    engine's verdicts."""
    config = fraud_config_from_mapping(data)
    bad = [(None, 5, "4420001", "a", "x", "t1", None, None, None)] * (len(rows) % 3)
    table = cdr_table(rows + bad)
    results = []
    for use_c in (True, False):
        win.use_native(use_c)
        results.append(scan(table, config, chunk_rows=chunk))
    c_result, np_result = results
    assert c_result.to_json() == np_result.to_json()
    assert c_result.call_alerts() == np_result.call_alerts()
    assert c_result.unreadable == len(bad) == sum(c_result.unreadable_reasons.values())
    assert c_result.call_alerts() == replay(rows, config)


@native
@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(
        st.one_of(
            st.text("0123456789", min_size=1, max_size=18),
            st.text("0123456789", min_size=19, max_size=20),
            st.sampled_from(["", "12a", "+44", " 1", "１２"]),
            st.none(),
        ),
        max_size=20,
    ),
    large=st.booleans(),
    cut=st.integers(0, 3),
)
def test_digit_values_read_as_arrow_casts(texts: list[str | None], large: bool, cut: int) -> None:
    """The numbers of a text column read in C are Arrow's cast of the same texts, and
    their lengths the texts' lengths; any other column is left to the cast (None)."""
    col = pa.array(texts, pa.large_string() if large else pa.string()).slice(cut)
    got = digit_values(col)
    plain = len(col) > 0 and all(
        t is not None and t.isascii() and t.isdigit() and 1 <= len(t) <= 18 for t in col.to_pylist()
    )
    if not plain or win._kernel is None:  # not digits, or TANDEM_NATIVE=0
        assert got is None
        return
    assert got is not None
    number, length = got
    assert number.tolist() == pc.cast(col, pa.int64()).to_pylist()
    assert length.tolist() == [len(t) for t in col.to_pylist()]
