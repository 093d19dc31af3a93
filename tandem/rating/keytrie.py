"""Longest-prefix match for whole arrays of numbers: a digit trie over disjoint key intervals.

The technique of :mod:`tandem.rating.book`, shared with the batch router
(:mod:`tandem.lcr.batch`). With the base-11 match keys of :mod:`tandem.rating.keys`, a
prefix covers one key interval and nested prefixes give nested intervals:

1. :func:`key_pieces` flattens nested intervals into disjoint pieces, each labelled with
   the innermost (longest) prefix's value;
2. :func:`key_trie` builds a root table indexed by the first ``D`` key digits
   (:func:`root_digits`); an entry is either the value covering its whole key range or a
   node of 11 entries for the next digit, and so on down;
3. :func:`trie_walk` finds the value of every key at once: one root read, then one node
   read per further digit, level by level over the keys still unresolved.

:class:`PrefixTrie` puts the three together for one set of prefixes.

Entries are encoded as int32: ``value + 1`` (0: no value) or ``-(1 + node)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tandem.numbers import MAX_DIGITS
from tandem.rating.keys import KEY_SPAN, number_keys

__all__ = ["PrefixTrie", "key_pieces", "prefix_key_ranges", "root_digits", "key_trie", "trie_walk"]


def key_pieces(lo: np.ndarray, hi: np.ndarray, rows: np.ndarray) -> tuple[list[int], list[int]]:
    """Flatten nested key intervals into disjoint pieces ``(starts, row)`` over [0, 11**15)."""
    order = np.lexsort((-hi, lo))
    starts: list[int] = [0]
    vals: list[int] = [-1]
    stack: list[tuple[int, int]] = []  # (hi, row) of the open intervals, innermost last

    def emit(at: int, row: int) -> None:
        # Pieces are emitted at non-decreasing positions; one at the same position wins.
        if starts[-1] == at:
            vals[-1] = row
        elif vals[-1] != row:
            starts.append(at)
            vals.append(row)

    for i in order.tolist():
        a, b, r = int(lo[i]), int(hi[i]), int(rows[i])
        while stack and stack[-1][0] <= a:
            end, _ = stack.pop()
            emit(end, stack[-1][1] if stack else -1)
        emit(a, r)
        stack.append((b, r))
    while stack:
        end, _ = stack.pop()
        emit(end, stack[-1][1] if stack else -1)
    while starts[-1] >= KEY_SPAN:  # the end of the key space is the next segment's start
        starts.pop()
        vals.pop()
    return starts, vals


def prefix_key_ranges(prefixes: np.ndarray, usable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`tandem.rating.keys.prefix_key_range` of every usable prefix, vectorised
    (``(0, 0)`` for the others)."""
    lo = np.zeros(len(prefixes), dtype=np.int64)
    hi = np.zeros(len(prefixes), dtype=np.int64)
    if usable.any():
        digits = pa.array(prefixes[usable].tolist(), pa.string())
        lo[usable] = number_keys(digits)
        length = pc.binary_length(digits).to_numpy().astype(np.int64)
        hi[usable] = lo[usable] + 11 ** (MAX_DIGITS - length)
    return lo, hi


def root_digits(roots: int, pieces: int) -> int:
    """Key digits the root tables index: about 4 entries per piece, at most 6 digits and
    at most 8M entries (32 MB) in all."""
    d = 1
    while d < 6 and 11**d < 4 * pieces and roots * 11 ** (d + 1) <= 8_000_000:
        d += 1
    return d


def key_trie(
    starts: np.ndarray, vals: np.ndarray, digits: int, first_node: int
) -> tuple[np.ndarray, list[np.ndarray], int]:
    """Root table and nodes of one set of pieces (``starts`` sorted, ``vals`` values);
    nodes are numbered from ``first_node``. Returns ``(root, node levels, next node)``."""
    width = 11 ** (MAX_DIGITS - digits)
    lows = np.arange(11**digits, dtype=np.int64) * width
    levels = []
    next_node = first_node
    while True:
        lo = np.searchsorted(starts, lows, side="right") - 1
        hi = np.searchsorted(starts, lows + width, side="left")
        whole = hi - lo == 1  # one piece covers the entry's whole key range
        entry = np.where(whole, vals[lo] + 1, 0)
        split = np.flatnonzero(~whole)
        entry[split] = -(next_node + np.arange(len(split), dtype=np.int64)) - 1
        next_node += len(split)
        levels.append(entry.astype(np.int32))
        if not len(split):
            return levels[0], levels[1:], next_node
        width //= 11  # a key range of width 1 is always whole: the loop ends
        lows = (lows[split][:, None] + np.arange(11, dtype=np.int64) * width).ravel()


def trie_walk(
    roots: np.ndarray,
    nodes: np.ndarray,
    digits: int,
    key: np.ndarray,
    root_offset: np.ndarray | None = None,
) -> np.ndarray:
    """The encoded leaf entry (``value + 1``, 0: none; int32) of every key: one read in
    the root table (at ``root_offset`` per key when there are several), then one node
    read per further digit, level by level over the keys still unresolved."""
    width = 11 ** (MAX_DIGITS - digits)
    index = key // width
    if root_offset is not None:
        index += root_offset
    entry = roots[index]
    deeper = np.flatnonzero(entry < 0)
    while len(deeper):
        width //= 11
        digit = (key[deeper] // width) % 11
        found = nodes[(-1 - entry[deeper]) * 11 + digit]
        entry[deeper] = found
        deeper = deeper[found < 0]
    return entry


@dataclass(frozen=True)
class PrefixTrie:
    """One set of prefixes, each with an integer value, as a key trie: :meth:`lookup`
    gives the value of every key's longest prefix at once."""

    roots: np.ndarray
    nodes: np.ndarray
    digits: int

    @classmethod
    def build(cls, prefixes: Sequence[str], values: np.ndarray) -> PrefixTrie:
        """The trie of ``prefixes`` (value ``values[i]`` for ``prefixes[i]``, >= 0). A
        prefix that is not 1 to 15 ASCII digits can never begin a normalised number and
        is left out; of two equal prefixes the later one's value counts."""
        texts = np.asarray(prefixes, dtype=object)
        usable = np.fromiter(
            (p.isascii() and p.isdigit() and len(p) <= MAX_DIGITS for p in texts),
            bool,
            count=len(texts),
        )
        ids = np.flatnonzero(usable)
        lo, hi = prefix_key_ranges(texts, usable)
        starts, vals = key_pieces(lo[ids], hi[ids], np.asarray(values, dtype=np.int64)[ids])
        s = np.asarray(starts, dtype=np.int64)
        v = np.asarray(vals, dtype=np.int64)
        digits = root_digits(1, len(s))
        root, levels, _count = key_trie(s, v, digits, 0)
        nodes = np.concatenate(levels) if levels else np.zeros(11, dtype=np.int32)
        return cls(root, nodes, digits)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The value (int64; -1: none) of the longest prefix of every match key
        (:func:`tandem.rating.keys.number_keys`)."""
        found = trie_walk(self.roots, self.nodes, self.digits, keys).astype(np.int64)
        found -= 1
        return found
