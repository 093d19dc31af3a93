"""Matching our CDRs with the vendor's: duplicates, call id, then number and start time.

Three passes, each vectorised (sorts, searches and gathers over whole arrays; no Python
loop per CDR):

1. **Duplicates** (:func:`duplicate_rows`), on each side alone: a record with the call id
   of an earlier record of the same side, or, without a call id, with the number, start
   and duration of an earlier one, is a copy; the first is kept, the copies are matched
   with nothing.
2. **Call id** (:func:`match_by_call_id`): where both sides give a call id, equal ids
   are the same call, whatever the times say.
3. **Number and start time** (:func:`match_by_time`): the records left are paired when
   they are calls to the same number starting at most ``window`` seconds apart. Among
   several candidates, the closest start wins, then the closest duration, then the
   earlier record. Rounds of *mutual choice*: every vendor record proposes to its best
   candidate, every record of ours accepts its best proposal; the pairs are taken out
   and the rounds repeat until no candidate pair is left, so the result is maximal (no
   two records left over could still be paired). One round does nearly everything:
   two calls to one number within seconds of each other are rare.

A property test holds :func:`match_by_time` to a brute-force reference of the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "Matching",
    "call_id_codes",
    "duplicate_rows",
    "match_by_call_id",
    "match_by_time",
    "match_sides",
]

#: Starts are at most 2**40 s (:data:`tandem.rating.book.MAX_INSTANT`): a number's group
#: id sits above them in one int64 sort key.
_TIME_BITS = 41
_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class Matching:
    """Pairs ``(ours[k], theirs[k])`` (row indices), ``by_call_id[k]`` when paired by call
    id, and the duplicate rows of each side with the row each is a copy of."""

    ours: np.ndarray
    theirs: np.ndarray
    by_call_id: np.ndarray
    our_copies: np.ndarray
    our_copy_of: np.ndarray
    their_copies: np.ndarray
    their_copy_of: np.ndarray


def call_id_codes(ours: pa.Array, theirs: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of both sides' call ids (one code space; -1 where none)."""
    both = pa.concat_arrays([ours, theirs]) if len(ours) + len(theirs) else ours
    if both.null_count == len(both):
        return np.full(len(ours), -1, np.int64), np.full(len(theirs), -1, np.int64)
    enc = pc.dictionary_encode(both)
    codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes[: len(ours)], codes[len(ours) :]


def _first_of_runs(keys: list[np.ndarray], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ``rows`` grouped by equal ``keys`` (each an array over ``rows``): the rows that
    repeat an earlier row of their group, and that earlier (first) row."""
    if len(rows) < 2:
        return _EMPTY, _EMPTY
    # lexsort is stable: within a group the rows stay in file order (the first is kept)
    order = (
        np.lexsort(list(reversed(keys))) if len(keys) > 1 else np.argsort(keys[0], kind="stable")
    )
    same = np.ones(len(rows) - 1, dtype=bool)
    for k in keys:
        ks = k[order]
        same &= ks[1:] == ks[:-1]
    new_group = np.concatenate([[True], ~same])
    group_first = np.maximum.accumulate(np.where(new_group, np.arange(len(rows)), 0))
    copy = ~new_group
    return rows[order[copy]], rows[order[group_first[copy]]]


def duplicate_rows(
    key: np.ndarray,
    start: np.ndarray,
    duration: np.ndarray,
    code: np.ndarray,
    usable: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``(copies, copy_of)`` of one side: rows repeating an earlier row's call id, or
    without a call id its number, start and duration (usable rows only), and the first
    row each repeats. Sorted by copy row."""
    with_id = np.flatnonzero(code >= 0)
    c1, f1 = _first_of_runs([code[with_id]], with_id)
    plain = np.flatnonzero((code < 0) & usable)
    # start (< 2**41) and duration (< 2**20) in one sort key
    when = (start[plain] << 21) | np.clip(duration[plain], 0, (1 << 21) - 1)
    c2, f2 = _first_of_runs([key[plain], when], plain)
    copies = np.concatenate([c1, c2])
    first = np.concatenate([f1, f2])
    order = np.argsort(copies, kind="stable")
    return copies[order], first[order]


def match_by_call_id(
    our_code: np.ndarray, their_code: np.ndarray, our_free: np.ndarray, their_free: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of free rows with equal call ids (each id at most once per side among the
    free rows: copies are taken out first). Returned in vendor row order."""
    if not len(our_code) or not len(their_code):
        return _EMPTY, _EMPTY
    size = int(max(our_code.max(initial=-1), their_code.max(initial=-1))) + 1
    if size == 0:
        return _EMPTY, _EMPTY
    pos = np.full(size, -1, dtype=np.int64)
    ours = np.flatnonzero((our_code >= 0) & our_free)
    pos[our_code[ours]] = ours
    theirs = np.flatnonzero((their_code >= 0) & their_free)
    partner = pos[their_code[theirs]]
    hit = partner >= 0
    return partner[hit], theirs[hit]


def match_by_time(
    our_key: np.ndarray,
    our_start: np.ndarray,
    our_duration: np.ndarray,
    our_free: np.ndarray,
    their_key: np.ndarray,
    their_start: np.ndarray,
    their_duration: np.ndarray,
    their_free: np.ndarray,
    window: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of free rows: same number key, starts at most ``window`` seconds apart, by
    rounds of mutual choice (module docstring). Starts must lie in ``[0, 2**40]``."""
    o_left = np.flatnonzero(our_free)
    t_left = np.flatnonzero(their_free)
    if not len(o_left) or not len(t_left):
        return _EMPTY, _EMPTY
    # a group id per number (any ids will do: only equality counts), by hashing
    both = pa.array(np.concatenate([our_key[o_left], their_key[t_left]]))
    group = pc.dictionary_encode(both).indices.to_numpy().astype(np.int64)
    starts = np.concatenate([our_start[o_left], their_start[t_left]])
    inside = bool(starts.min() >= window and starts.max() < (1 << _TIME_BITS) - window)
    oc = (group[: len(o_left)] << _TIME_BITS) | our_start[o_left]
    tc = (group[len(o_left) :] << _TIME_BITS) | their_start[t_left]
    pairs_o, pairs_t = [], []
    while len(o_left) and len(t_left):
        order = np.argsort(oc, kind="stable")
        sorted_oc = oc[order]
        # needles in ascending order: each binary search starts where the last ended
        t_order = np.argsort(tc, kind="stable")
        t_left, tc = t_left[t_order], tc[t_order]
        lo = np.searchsorted(sorted_oc, tc - window, side="left")
        hi = np.searchsorted(sorted_oc, tc + window, side="right")
        count = hi - lo
        total = int(count.sum())
        if total == 0:
            break
        ti = np.repeat(np.arange(len(t_left)), count)
        offset = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
        oi = order[lo[ti] + offset]
        if not inside:  # a window reaching past 0 or 2**41 could cross into another number
            same = (oc[oi] >> _TIME_BITS) == (tc[ti] >> _TIME_BITS)
            oi, ti = oi[same], ti[same]
        if not len(oi):
            break
        o_rows, t_rows = o_left[oi], t_left[ti]
        ds = np.abs(our_start[o_rows] - their_start[t_rows])
        dd = np.abs(our_duration[o_rows] - their_duration[t_rows])
        alone = bool((count <= 1).all()) and int(np.bincount(oi).max()) <= 1
        if alone:
            accepted = np.arange(len(oi))  # every candidate alone: each pair is mutual
        else:
            k = np.lexsort((o_rows, dd, ds, ti))
            first = np.concatenate([[True], ti[k][1:] != ti[k][:-1]])
            proposal = k[first]
            k2 = np.lexsort((t_rows[proposal], dd[proposal], ds[proposal], oi[proposal]))
            chosen = proposal[k2]
            first2 = np.concatenate([[True], oi[chosen][1:] != oi[chosen][:-1]])
            accepted = chosen[first2]
        pairs_o.append(o_rows[accepted])
        pairs_t.append(t_rows[accepted])
        o_keep = np.zeros(len(o_left), dtype=bool)
        o_keep[oi] = True  # rows without candidates never get one: dropped
        o_keep[oi[accepted]] = False
        t_keep = np.zeros(len(t_left), dtype=bool)
        t_keep[ti] = True
        t_keep[ti[accepted]] = False
        o_left, oc = o_left[o_keep], oc[o_keep]
        t_left, tc = t_left[t_keep], tc[t_keep]
    if not pairs_o:
        return _EMPTY, _EMPTY
    ours, theirs = np.concatenate(pairs_o), np.concatenate(pairs_t)
    order = np.argsort(theirs, kind="stable")
    return ours[order], theirs[order]


def match_sides(
    our_key: np.ndarray,
    our_start: np.ndarray,
    our_duration: np.ndarray,
    our_call_id: pa.Array,
    our_usable: np.ndarray,
    their_key: np.ndarray,
    their_start: np.ndarray,
    their_duration: np.ndarray,
    their_call_id: pa.Array,
    their_usable: np.ndarray,
    window: int,
) -> Matching:
    """The three passes of the module docstring over both sides' columns."""
    our_code, their_code = call_id_codes(our_call_id, their_call_id)
    our_code = np.where(our_usable, our_code, -1)
    their_code = np.where(their_usable, their_code, -1)
    o_copies, o_of = duplicate_rows(our_key, our_start, our_duration, our_code, our_usable)
    t_copies, t_of = duplicate_rows(
        their_key, their_start, their_duration, their_code, their_usable
    )
    our_free = our_usable.copy()
    our_free[o_copies] = False
    their_free = their_usable.copy()
    their_free[t_copies] = False
    o1, t1 = match_by_call_id(our_code, their_code, our_free, their_free)
    our_free[o1] = False
    their_free[t1] = False
    o2, t2 = match_by_time(
        our_key, our_start, our_duration, our_free,
        their_key, their_start, their_duration, their_free, window,
    )  # fmt: skip
    return Matching(
        ours=np.concatenate([o1, o2]),
        theirs=np.concatenate([t1, t2]),
        by_call_id=np.concatenate([np.ones(len(o1), bool), np.zeros(len(o2), bool)]),
        our_copies=o_copies,
        our_copy_of=o_of,
        their_copies=t_copies,
        their_copy_of=t_of,
    )
