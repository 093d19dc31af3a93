"""Vectorised counters: what :mod:`tandem.state` answers call by call, for a whole batch.

Rows are in *replay order* (time order, file order for ties): row ``i`` is the ``i``-th
call a live engine would have seen. ``codes`` name each row's counter key (dense
non-negative integers, ``-1`` for "no key": the row neither counts nor is counted).

* :func:`window_counts` — ``add(key, 1)`` then the total: the rows ``j <= i`` of the same
  key whose bucket lies in ``(bucket_i - n, bucket_i]`` (exact bucket semantics).
* :func:`in_progress` — ``in_use(key)`` before row ``i`` is admitted, when every earlier
  row took a slot at its start and released it at its end (``ends``): the rows ``j < i``
  of the same key with ``ends_j > starts_i``.
* :func:`ended_sums` — ``total(key)`` at ``starts_i`` of amounts added at each row's
  end: the rows ``j < i`` of the same key with ``ends_j <= starts_i`` and
  ``bucket(ends_j) > bucket_i - n``.

A replay ends every earlier call whose end is at or before the next call's start before
checking that call; a zero-length call ends right after its own check, so a row never
sees itself or a later row ended (the ``_same_start_zero`` correction).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["dense_codes", "ended_sums", "in_progress", "pair_codes", "window_counts"]


def dense_codes(values: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Dense codes 0..k-1 of the distinct ``values`` (``-1`` where not ``valid``)."""
    codes, _ = pd.factorize(values, sort=False)
    codes = codes.astype(np.int64, copy=False)
    if valid is not None:
        codes[~valid] = -1
    return codes


def pair_codes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense codes of the pairs ``(a, b)`` of two code arrays (``-1`` where either is)."""
    ok = (a >= 0) & (b >= 0)
    if not ok.any():
        return np.full(len(a), -1, dtype=np.int64)
    nb = int(b[ok].max()) + 1
    combined = np.where(ok, a * nb + b, -1)
    if int(a[ok].max()) + 1 > (2**62) // nb:  # cannot combine without overflow
        combined = dense_codes(pd.MultiIndex.from_arrays([a, b]).to_flat_index().to_numpy(), ok)
        return combined
    return dense_codes(combined, ok)


def _group_order(codes: np.ndarray) -> np.ndarray:
    """Positions of ``codes`` sorted by code, replay order within a code (unique keys
    make any sort stable)."""
    n = len(codes)
    return np.argsort(codes * n + np.arange(n, dtype=np.int64))


def _starts_of_groups(sorted_codes: np.ndarray) -> np.ndarray:
    """For each position of a sorted code array, the position where its code starts."""
    n = len(sorted_codes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.empty(n, dtype=bool)
    new[0] = True
    new[1:] = sorted_codes[1:] != sorted_codes[:-1]
    firsts = np.flatnonzero(new)
    return firsts[np.cumsum(new) - 1]


def window_counts(
    codes: np.ndarray, buckets: np.ndarray, spans: tuple[int, ...]
) -> list[np.ndarray]:
    """For each span ``n`` (buckets per window): per row, the rows ``j <= i`` of the same
    code with a bucket in ``(buckets_i - n, buckets_i]`` (0 where the code is ``-1``)."""
    size = len(codes)
    outs = [np.zeros(size, dtype=np.int64) for _ in spans]
    idx = np.flatnonzero(codes >= 0)
    if len(idx) == 0:
        return outs
    c = codes[idx]
    order = _group_order(c)
    sc = c[order]
    sb = buckets[idx][order]
    sb = sb - sb.min()
    k = int(sb.max()) + max(spans) + 2
    comp = sc * k + sb
    rank = np.arange(len(comp), dtype=np.int64)
    where = idx[order]
    for out, n in zip(outs, spans, strict=True):
        left = np.searchsorted(comp, comp - n, side="right")
        out[where] = rank - left + 1
    return outs


def _same_start_zero(sc: np.ndarray, ss: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """In group order: for each row, the sum of ``weights`` over the rows at or after it
    with the same code and the same start (weights are zero except for zero-length
    calls)."""
    n = len(sc)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.empty(n, dtype=bool)
    new[0] = True
    new[1:] = (sc[1:] != sc[:-1]) | (ss[1:] != ss[:-1])
    run = np.cumsum(new) - 1
    csum = np.cumsum(weights)
    run_end = np.append(np.flatnonzero(new)[1:], n) - 1  # last position of each run
    before = csum - weights  # sum of weights before each position (whole array)
    return csum[run_end[run]] - before


def in_progress(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per row, the earlier rows of the same code still in progress at its start
    (``ends_j > starts_i``); 0 where the code is ``-1``."""
    size = len(codes)
    out = np.zeros(size, dtype=np.int64)
    idx = np.flatnonzero(codes >= 0)
    if len(idx) == 0:
        return out
    c = codes[idx]
    order = _group_order(c)
    sc = c[order]
    ss = starts[idx][order]
    se = ends[idx][order]
    base = int(ss.min())
    k = int(se.max()) - base + 2
    ends_sorted = np.sort(sc * k + (se - base))
    group_start = _starts_of_groups(sc)
    ended = np.searchsorted(ends_sorted, sc * k + (ss - base), side="right") - group_start
    zero = (se == ss).astype(np.int64)
    rank = np.arange(len(sc), dtype=np.int64) - group_start
    out[idx[order]] = rank - (ended - _same_start_zero(sc, ss, zero))
    return out


def ended_sums(
    codes: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    amounts: np.ndarray,
    *,
    span: int,
    step: int,
) -> np.ndarray:
    """Per row, the sum of ``amounts`` of the earlier rows of the same code that ended at
    or before its start, in the window of ``span`` buckets of ``step`` seconds at its
    start (``bucket(ends_j) > bucket(starts_i) - span``); 0 where the code is ``-1``.

    Sums are exact while every true sum fits in int64 (partial sums may wrap: two's
    complement differences stay exact)."""
    size = len(codes)
    out = np.zeros(size, dtype=np.int64)
    idx = np.flatnonzero(codes >= 0)
    if len(idx) == 0:
        return out
    c = codes[idx]
    order = _group_order(c)
    sc = c[order]
    ss = starts[idx][order]
    se = ends[idx][order]
    sa = amounts[idx][order].astype(np.int64, copy=False)
    base = int(ss.min()) - (span + 1) * step
    k = int(se.max()) - base + 2
    end_keys = sc * k + (se - base)
    by_end = np.argsort(end_keys, kind="stable")
    ends_sorted = end_keys[by_end]
    with np.errstate(over="ignore"):
        csum = np.concatenate(([0], np.cumsum(sa[by_end])))
        lowest = (np.floor_divide(ss, step) - span + 1) * step  # first instant in the window
        hi = np.searchsorted(ends_sorted, sc * k + (ss - base), side="right")
        lo = np.searchsorted(ends_sorted, sc * k + (lowest - base), side="left")
        zero = np.where(se == ss, sa, 0)
        out[idx[order]] = csum[hi] - csum[lo] - _same_start_zero(sc, ss, zero)
    return out
