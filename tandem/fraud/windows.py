"""Vectorised counters: what :mod:`tandem.state` answers call by call, for a whole batch.

Rows are in *replay order* (time order, file order for ties): row ``i`` is the ``i``-th
call a live engine would have seen. A :class:`Grouping` puts the rows of one counter key
together (replay order within each key); the functions below answer, per row, what the
counter under its key would have answered:

* :func:`window_sums` — ``add(key, w)`` then the total: the weights of the rows ``j <= i``
  whose bucket lies in ``(bucket_i - n, bucket_i]`` (exact bucket semantics);
* :func:`in_progress` — ``in_use(key)`` before row ``i`` is admitted, when every earlier
  row that ``holds`` a slot took it at its start and released it at its end: the rows
  ``j < i`` with ``ends_j > starts_i``;
* :func:`ended_sums` — ``total(key)`` at ``starts_i`` of amounts added at each row's
  end: the rows ``j < i`` with ``ends_j <= starts_i`` and ``bucket(ends_j) > bucket_i - n``.

A replay ends every earlier call whose end is at or before the next call's start before
checking that call; a zero-length call ends right after its own check, so a row never
sees itself or a later row ended (:meth:`_StartRuns.suffix`).

Sorting is the cost: a key and the row number are packed into one int64 and sorted as
values (much faster than an argsort) whenever they fit in 63 bits.

When the optional C extension ``tandem.fraud._scanwin`` is built (``setup.py``;
:data:`NATIVE` says so) the grouping is a counting sort of the keys numbered by a table
or a hash table, each window one pass over a grouping's rows (two pointers, a heap or a
wheel of the ends), and the ``keyed_*`` windows one pass over the rows in replay order
with every key's state at once (no grouping), all without the GIL; else the numpy code
below runs. Both give the same answers (tests/test_fraud_scanwin.py runs both on the
same random rows).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

__all__ = [
    "NATIVE",
    "Grouping",
    "digit_values",
    "ended_sums",
    "in_progress",
    "keyed_ended_sums",
    "keyed_in_progress",
    "keyed_window_sums",
    "native_in_use",
    "pair_key",
    "use_native",
    "window_sums",
]

try:  # the windows in C (setup.py builds it when it can; optional)
    from tandem.fraud import _scanwin
except ImportError:  # pragma: no cover - without a compiler the numpy code runs
    _scanwin = None
#: Whether the C windows (``tandem.fraud._scanwin``) are built (same answers).
NATIVE = _scanwin is not None
#: The kernel the windows use now: the C extension, or None for numpy (from the start
#: when ``TANDEM_NATIVE=0`` is in the environment, the one switch of every C extension).
_kernel = _scanwin if os.environ.get("TANDEM_NATIVE", "1") != "0" else None


def use_native(enabled: bool) -> bool:
    """Run the windows in C (``True``, when :data:`NATIVE`) or in numpy (``False``) from
    now on, for every thread; answers whether C was in use before. The answers are the
    same either way (the switch is for tests and measurements)."""
    global _kernel
    if enabled and _scanwin is None:
        raise RuntimeError("tandem.fraud._scanwin is not built (python setup.py build_ext)")
    before = _kernel is not None
    _kernel = _scanwin if enabled else None
    return before


def native_in_use() -> bool:
    """Whether the windows run in C now (:func:`use_native`)."""
    return _kernel is not None


def digit_values(col: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The texts of an Arrow string column of ASCII digits (1 to 18 each, no nulls) as
    int64 numbers and lengths, in C; None without the C extension or for any other
    column (the caller casts)."""
    kernel = _kernel
    if kernel is None or col.null_count:
        return None
    buffers = col.buffers()
    if len(buffers) != 3 or buffers[1] is None or buffers[2] is None:
        return None
    kind = {"string": np.int32, "large_string": np.int64}.get(str(col.type))
    if kind is None:
        return None
    n = len(col)
    if n == 0:
        return None
    offsets = np.frombuffer(buffers[1], dtype=kind)[col.offset : col.offset + n + 1]
    number = np.empty(n, dtype=np.int64)
    length = np.empty(n, dtype=np.int64)
    data = np.frombuffer(buffers[2], dtype=np.uint8)
    if not kernel.digits(np.ascontiguousarray(offsets), data, number, length):
        return None
    return number, length


def _i64(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.int64)


def _runs(sorted_keys: np.ndarray) -> np.ndarray:
    """Where each run of equal values starts (a bool per position)."""
    new = np.empty(len(sorted_keys), dtype=bool)
    if len(new):
        new[0] = True
        np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=new[1:])
    return new


def _sort_rows(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(order, key[order])``: the rows by key, by row number within a key."""
    n = len(key)
    bits = max(1, (n - 1).bit_length())
    top = int(key.max()) if n else 0
    if top.bit_length() + bits <= 63:
        packed = np.sort((key << bits) | np.arange(n, dtype=np.int64))
        return packed & ((1 << bits) - 1), packed >> bits
    order = np.argsort(key, kind="stable")
    return order, key[order]


class Grouping:
    """The rows grouped by a non-negative int64 ``key`` (one per row), replay order within
    a group: ``order`` (positions in replay order, sorted), ``code`` (dense group number of
    each sorted position) and ``first`` (where its group starts)."""

    __slots__ = ("_ended", "_runs", "_taken", "code", "first", "order", "size")

    def __init__(self, key: np.ndarray) -> None:
        key = np.asarray(key, dtype=np.int64)
        self.size = len(key)
        n = self.size
        self._taken: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._runs: dict[int, tuple[np.ndarray, _StartRuns]] = {}
        self._ended: dict[
            tuple[int, int, int], tuple[np.ndarray, np.ndarray, np.ndarray, _EndSort | None]
        ] = {}
        kernel = _kernel
        if kernel is not None:  # groups numbered by first row, placed by a counting sort
            self.order = np.empty(n, dtype=np.int64)
            self.code = np.empty(n, dtype=np.int64)
            self.first = np.empty(n, dtype=np.int64)
            kernel.group(_i64(key), self.order, self.code, self.first)
            return
        bits = max(1, (n - 1).bit_length())
        top = int(key.max()) if n else 0
        if top.bit_length() + bits > 63:  # dense codes first (by an unstable sort)
            o = np.argsort(key)
            dense = np.empty(n, dtype=np.int64)
            dense[o] = np.cumsum(_runs(key[o])) - 1
            key = dense
        self.order, skey = _sort_rows(key)
        new = _runs(skey)
        self.code = np.cumsum(new) - 1
        self.first = np.flatnonzero(new)[self.code] if n else np.zeros(0, np.int64)

    def take(self, values: np.ndarray) -> np.ndarray:
        """``values[order]``: a row array in group order (kept for the arrays asked for
        again, such as the starts every rule reads)."""
        hit = self._taken.get(id(values))
        if hit is not None and hit[0] is values:
            return hit[1]
        out = values[self.order]
        self._taken[id(values)] = (values, out)
        return out

    def start_runs(self, starts: np.ndarray) -> _StartRuns:
        """The runs of equal group and start (made once per ``starts`` array)."""
        hit = self._runs.get(id(starts))
        if hit is not None and hit[0] is starts:
            return hit[1]
        runs = _StartRuns(self.code, self.take(starts))
        self._runs[id(starts)] = (starts, runs)
        return runs

    def ended_sort(
        self, starts: np.ndarray, ends: np.ndarray, amounts: np.ndarray
    ) -> _EndSort | None:
        """The amounts sorted by (group, end) (None when all are zero), made once per
        ``starts``, ``ends`` and ``amounts`` arrays."""
        key = (id(starts), id(ends), id(amounts))
        hit = self._ended.get(key)
        if hit is not None and hit[0] is starts and hit[1] is ends and hit[2] is amounts:
            return hit[3]
        sa = amounts[self.order].astype(np.int64, copy=False)
        found = _EndSort(self, self.take(starts), self.take(ends), sa) if sa.any() else None
        self._ended[key] = (starts, ends, amounts, found)
        return found

    @classmethod
    def pairs(cls, a: np.ndarray, b: np.ndarray, b_bits: int) -> Grouping:
        """Grouped by the pair ``(a, b)`` of non-negative keys, ``b < 2**b_bits``."""
        return cls(pair_key(a, b, b_bits))


def window_sums(
    g: Grouping,
    buckets: np.ndarray,
    weights: np.ndarray | None,
    spans: tuple[int, ...],
    *,
    grouped: bool = False,
) -> list[np.ndarray]:
    """For each span ``n``: per row, the weights (1 each when None) of the rows ``j <= i``
    of its group with a bucket in ``(buckets_i - n, buckets_i]``; ``grouped=True``
    answers in group order (the ``p``-th value is row ``g.order[p]``'s)."""
    n = g.size
    kernel = _kernel
    if kernel is not None and n and 0 < len(spans) <= 8 and min(spans) >= 1:
        outs = [np.empty(n, dtype=np.int64) for _ in spans]
        if weights is not None:
            weights = np.ascontiguousarray(weights)
            if weights.dtype != np.bool_:
                weights = _i64(weights)
        spans_ = tuple(int(s) for s in spans)
        kernel.window_sums(g.order, g.code, _i64(buckets), weights, spans_, outs, grouped)
        return outs
    outs = [np.zeros(n, dtype=np.int64) for _ in spans]
    if n == 0:
        return outs
    sb = g.take(buckets)
    base = int(sb.min())
    k = int(sb.max()) - base + max(spans) + 2
    comp = g.code * k + (sb - base)
    # rows of one group and bucket share the window's left edge: search once per bucket
    new = _runs(comp)
    run = np.cumsum(new) - 1
    firsts = np.flatnonzero(new)
    ones = np.ones(n, dtype=np.int64) if weights is None else weights[g.order].astype(np.int64)
    csum = np.concatenate(([0], np.cumsum(ones)))
    upto = csum[1:]
    reach = int(sb.max()) - base  # a span above it reaches back to every group's start
    for w, span in enumerate(spans):
        if span == 1:  # the window is the row's own bucket: its run starts it
            left = firsts
        elif span > reach:
            left = g.first[firsts]
        else:
            left = np.searchsorted(comp, comp[firsts] - span, side="right")
        if grouped:
            outs[w] = upto - csum[left[run]]
        else:
            outs[w][g.order] = upto - csum[left[run]]
    return outs


class _StartRuns:
    """Positions (in group order) of equal group and start: one search per run."""

    __slots__ = ("firsts", "run", "last")

    def __init__(self, code: np.ndarray, starts: np.ndarray) -> None:
        n = len(code)
        new = np.empty(n, dtype=bool)
        new[0] = True
        new[1:] = (code[1:] != code[:-1]) | (starts[1:] != starts[:-1])
        self.firsts = np.flatnonzero(new)
        self.run = np.cumsum(new) - 1
        self.last = np.append(self.firsts[1:], n) - 1

    def suffix(self, weights: np.ndarray) -> np.ndarray:
        """Per position, the sum of ``weights`` from it to the end of its run (the
        zero-length calls at the same start that end after its check)."""
        if not weights.any():
            return np.zeros(len(weights), dtype=np.int64)
        csum = np.cumsum(weights)
        return csum[self.last[self.run]] - (csum - weights)


def in_progress(
    g: Grouping,
    starts: np.ndarray,
    ends: np.ndarray,
    holds: np.ndarray,
    *,
    grouped: bool = False,
) -> np.ndarray:
    """Per row, the earlier rows of its group that hold a slot (``holds``) and are still
    in progress at its start (``ends_j > starts_i``); ``grouped=True`` answers in group
    order (as :func:`window_sums`)."""
    n = g.size
    kernel = _kernel
    if kernel is not None and n:
        out = np.empty(n, dtype=np.int64)
        held_ = np.ascontiguousarray(holds, dtype=np.bool_)
        kernel.in_progress(g.order, g.code, _i64(starts), _i64(ends), held_, out, grouped)
        return out
    out = np.zeros(n, dtype=np.int64)
    if n == 0:
        return out
    ss = g.take(starts)
    se = g.take(ends)
    held = holds[g.order]
    sh = held.astype(np.int64)
    base = int(ss.min())
    k = int(se.max()) - base + 2
    end_keys = np.sort(g.code[held] * k + (se[held] - base))
    runs = g.start_runs(starts)
    f = runs.firsts
    # held rows of the group that ended at or before the start, minus those at or after
    # the row itself (zero-length calls at the same start end after their own check)
    csum = np.concatenate(([0], np.cumsum(sh)))
    ended_u = np.searchsorted(end_keys, g.code[f] * k + (ss[f] - base), side="right")
    ended_u -= csum[g.first[f]]  # the held rows of the groups before (all end before)
    ended = ended_u[runs.run] - runs.suffix(np.where(se == ss, sh, 0))
    before = csum[:-1] - csum[g.first]
    if grouped:
        return before - ended
    out[g.order] = before - ended
    return out


def ended_sums(
    g: Grouping,
    starts: np.ndarray,
    ends: np.ndarray,
    amounts: np.ndarray,
    *,
    span: int,
    step: int,
) -> np.ndarray:
    """Per row, the sum of ``amounts`` of the earlier rows of its group that ended at or
    before its start, in the window of ``span`` buckets of ``step`` seconds at its start
    (``bucket(ends_j) > bucket(starts_i) - span``).

    Sums are exact while every true sum fits in int64 (partial sums may wrap: two's
    complement differences stay exact)."""
    n = g.size
    kernel = _kernel
    if kernel is not None and n and span >= 1 and step >= 1:
        out = np.empty(n, dtype=np.int64)
        args = (_i64(starts), _i64(ends), _i64(amounts), int(span), int(step))
        kernel.ended_sums(g.order, g.code, *args, out)
        return out
    out = np.zeros(n, dtype=np.int64)
    if n == 0:
        return out
    ss = g.take(starts)
    se = g.take(ends)
    sorted_ends = g.ended_sort(starts, ends, amounts)
    if sorted_ends is None:
        return out
    sa = sorted_ends.sa
    base = sorted_ends.base
    runs = g.start_runs(starts)
    f = runs.firsts
    with np.errstate(over="ignore"):
        code_f = g.code[f] * sorted_ends.k
        lowest = (np.floor_divide(ss[f], step) - span + 1) * step  # first instant in the window
        lowest = np.maximum(lowest, base)  # keys below base belong to the group before
        end_sorted = sorted_ends.keys
        hi = sorted_ends.upto(runs, code_f + (ss[f] - base))
        # the window's first instant changes with the group and start bucket alone:
        # search once per bucket, not per start
        lo_keys = code_f + (lowest - base)
        fresh = _runs(lo_keys)
        if fresh.sum() * 2 < len(fresh):
            lo = np.searchsorted(end_sorted, lo_keys[fresh], side="left")[np.cumsum(fresh) - 1]
        else:
            lo = np.searchsorted(end_sorted, lo_keys, side="left")
        csum = sorted_ends.csum
        total = (csum[hi] - csum[lo])[runs.run]
        out[g.order] = total - runs.suffix(np.where(se == ss, sa, 0))
    return out


class _EndSort:
    """The nonzero amounts of a grouping sorted by (group, end), with their cumulative
    sums: shared by every window asked of the same ends and amounts."""

    __slots__ = ("_upto", "base", "csum", "k", "keys", "sa")

    def __init__(self, g: Grouping, ss: np.ndarray, se: np.ndarray, sa: np.ndarray) -> None:
        self.sa = sa
        self.base = int(ss.min())
        self.k = int(se.max()) - self.base + 2
        nonzero = sa != 0
        end_keys = g.code[nonzero] * self.k + (se[nonzero] - self.base)
        by_end, self.keys = _sort_rows(end_keys)
        with np.errstate(over="ignore"):
            self.csum = np.concatenate(([0], np.cumsum(sa[nonzero][by_end])))
        self._upto: tuple[_StartRuns, np.ndarray] | None = None

    def upto(self, runs: _StartRuns, keys: np.ndarray) -> np.ndarray:
        """How many sorted ends are at or below each of ``keys`` (the starts of ``runs``:
        the same for every window, searched once)."""
        if self._upto is not None and self._upto[0] is runs:
            return self._upto[1]
        hi = np.searchsorted(self.keys, keys, side="right")
        self._upto = (runs, hi)
        return hi


def _keyed_codes(key: np.ndarray) -> tuple[np.ndarray, int] | None:
    """``(codes, keys)`` for the C windows over ``key`` in replay order: the key itself
    when its values are small codes (``0 <= key``, below about the rows), else its keys
    numbered by first row (a hash table); None without the C windows."""
    n = len(key)
    kernel = _kernel
    if kernel is None or n == 0:
        return None
    key = _i64(key)
    lo, hi = int(key.min()), int(key.max())
    if lo >= 0 and hi < n + 1024:
        return key, hi + 1
    codes = np.empty(n, dtype=np.int64)
    return codes, int(kernel.codes(key, codes))


def pair_key(a: np.ndarray, b: np.ndarray, b_bits: int) -> np.ndarray:
    """One int64 key per row for the pair ``(a, b)`` of non-negative keys, ``b <
    2**b_bits`` (``Grouping(pair_key(a, b, bits))`` groups as :meth:`Grouping.pairs`)."""
    if int(a.max(initial=0)).bit_length() + b_bits <= 62:
        return (a.astype(np.int64) << b_bits) | b
    # too wide to pack: a dense code of b first
    inner = Grouping(b)
    dense_b = np.empty(len(b), dtype=np.int64)
    dense_b[inner.order] = inner.code
    bits = max(1, int(inner.code.max(initial=0)).bit_length())
    return (a.astype(np.int64) << bits) | dense_b


def keyed_window_sums(
    key: np.ndarray, buckets: np.ndarray, weights: np.ndarray | None, spans: tuple[int, ...]
) -> list[np.ndarray]:
    """:func:`window_sums` of ``Grouping(key)`` answered in replay order. With the C
    windows and small codes (``0 <= key``, below about the rows) row by row with the
    state of every key at once (no grouping); else through a :class:`Grouping`."""
    found = _keyed_codes(key) if 0 < len(spans) <= 8 and min(spans) >= 1 else None
    if found is None or _kernel is None:
        return window_sums(Grouping(key), buckets, weights, spans)
    codes, keys = found
    n = len(key)
    outs = [np.empty(n, dtype=np.int64) for _ in spans]
    if weights is not None:
        weights = np.ascontiguousarray(weights)
        if weights.dtype != np.bool_:
            weights = _i64(weights)
    spans_ = tuple(int(s) for s in spans)
    _kernel.keyed_window_sums(codes, keys, _i64(buckets), weights, spans_, outs)
    return outs


def keyed_in_progress(
    key: np.ndarray, starts: np.ndarray, ends: np.ndarray, holds: np.ndarray
) -> np.ndarray:
    """:func:`in_progress` of ``Grouping(key)`` in replay order (as
    :func:`keyed_window_sums`: a heap of held ends per key, row by row)."""
    found = _keyed_codes(key)
    if found is None or _kernel is None:
        return in_progress(Grouping(key), starts, ends, holds)
    codes, keys = found
    out = np.empty(len(key), dtype=np.int64)
    held = np.ascontiguousarray(holds, dtype=np.bool_)
    _kernel.keyed_in_progress(codes, keys, _i64(starts), _i64(ends), held, out)
    return out


def keyed_ended_sums(
    key: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    amounts: np.ndarray,
    *,
    span: int,
    step: int,
) -> np.ndarray:
    """:func:`ended_sums` of ``Grouping(key)`` (as :func:`keyed_window_sums`: a heap of
    pending ends and a queue of ended ones per key, row by row)."""
    found = _keyed_codes(key) if span >= 1 and step >= 1 else None
    if found is None or _kernel is None:
        return ended_sums(Grouping(key), starts, ends, amounts, span=span, step=step)
    codes, keys = found
    out = np.empty(len(key), dtype=np.int64)
    args = (_i64(starts), _i64(ends), _i64(amounts), int(span), int(step))
    _kernel.keyed_ended_sums(codes, keys, *args, out)
    return out
