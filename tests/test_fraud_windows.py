"""The vectorised window counters (tandem.fraud.windows) against brute force, row by row:
spans of one bucket, spans past the whole history, and several windows over one sort of
the ends (as spend asks for its hour and day)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.fraud.windows import Grouping, ended_sums, in_progress, window_sums

ROWS = st.lists(
    st.tuples(
        st.integers(0, 3),  # key
        st.integers(0, 40),  # start
        st.integers(0, 12),  # duration
        st.integers(-3, 5),  # amount / weight
    ),
    max_size=60,
)


def _arrays(rows: list[tuple[int, int, int, int]]) -> tuple[np.ndarray, ...]:
    rows = sorted(rows, key=lambda r: r[1])  # replay order: by start (stable)
    cols = np.asarray(rows, dtype=np.int64).reshape(-1, 4).T
    key, start, dur, amount = (np.ascontiguousarray(c) for c in cols)
    return key, start, start + dur, amount


@settings(max_examples=150, deadline=None)
@given(ROWS, st.integers(1, 4), st.sampled_from([1, 2, 3, 50]))
def test_window_sums(rows: list[tuple[int, int, int, int]], step: int, span: int) -> None:
    key, start, _, weight = _arrays(rows)
    buckets = start // step
    g = Grouping(key)
    counts, sums = (
        window_sums(g, buckets, None, (span, 1))[0],
        window_sums(g, buckets, weight, (1, span)),
    )
    for i in range(len(key)):
        assert counts[i] == _window(key, buckets, None, i, span)
        assert sums[0][i] == _window(key, buckets, weight, i, 1)
        assert sums[1][i] == _window(key, buckets, weight, i, span)


def _window(key: np.ndarray, buckets: np.ndarray, w: np.ndarray | None, i: int, s: int) -> int:
    """Brute force: the weights of rows j <= i of i's key with a bucket in the window."""
    return sum(
        1 if w is None else int(w[j])
        for j in range(i + 1)
        if key[j] == key[i] and buckets[i] - s < buckets[j] <= buckets[i]
    )


def _ended(
    key: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    amount: np.ndarray,
    i: int,
    s: int,
    step: int,
) -> int:
    """Brute force: the amounts of rows j < i of i's key ended by i's start, in the window."""
    return sum(
        int(amount[j])
        for j in range(i)
        if key[j] == key[i] and end[j] <= start[i] and end[j] // step > start[i] // step - s
    )


@settings(max_examples=150, deadline=None)
@given(ROWS, st.integers(1, 5), st.sampled_from([1, 2, 4, 60]))
def test_ended_sums_share_one_sort(
    rows: list[tuple[int, int, int, int]], step: int, span: int
) -> None:
    key, start, end, amount = _arrays(rows)
    g = Grouping(key)
    first = ended_sums(g, start, end, amount, span=span, step=step)
    second = ended_sums(g, start, end, amount, span=1, step=step + 1)  # the same sort
    holds = amount > 0
    busy = in_progress(g, start, end, holds)
    for i in range(len(key)):
        assert first[i] == _ended(key, start, end, amount, i, span, step)
        assert second[i] == _ended(key, start, end, amount, i, 1, step + 1)
        assert busy[i] == sum(
            1 for j in range(i) if key[j] == key[i] and holds[j] and end[j] > start[i]
        )
