"""The longest stored prefix of a whole array of numbers at once, for one compiled table.

:class:`~tandem.lcr.table.RoutingTable` answers one number with one probe of its
marisa-trie. A batch (:mod:`tandem.lcr.batch`) asks for a million: it reads the same
union prefixes as a digit trie over disjoint base-11 key intervals, the technique the
rating module uses (:mod:`tandem.rating.keytrie`), so the lookup is a few numpy gathers
per level over the whole batch. The index is built once per table and kept while the
table lives (:func:`union_index`).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tandem.lcr.table import RoutingTable
from tandem.numbers import MAX_DIGITS
from tandem.rating.keys import number_keys
from tandem.rating.keytrie import key_pieces, key_trie, prefix_key_ranges, root_digits, trie_walk

__all__ = ["UnionIndex", "union_index"]


@dataclass(frozen=True)
class UnionIndex:
    """A table's union prefixes as a key trie (see the module docstring)."""

    roots: np.ndarray
    nodes: np.ndarray
    digits: int

    def lookup(self, digits: pa.Array) -> np.ndarray:
        """Union-prefix id (int64; -1: none) of the longest stored prefix of every
        normalised number (null entries give -1)."""
        key = number_keys(digits)
        uid = trie_walk(self.roots, self.nodes, self.digits, key).astype(np.int64)
        uid -= 1
        if digits.null_count:
            uid[np.asarray(digits.is_null())] = -1
        return uid


_CACHE: weakref.WeakKeyDictionary[RoutingTable, UnionIndex] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def union_index(table: RoutingTable) -> UnionIndex:
    """The :class:`UnionIndex` of ``table``, built on first use and kept with the table."""
    found = _CACHE.get(table)
    if found is None:
        found = _build(table)
        with _LOCK:
            _CACHE.setdefault(table, found)
    return found


def _build(table: RoutingTable) -> UnionIndex:
    n = table.prefix_count
    restore = table.trie.restore_key
    keys = np.array([restore(i) for i in range(n)], dtype=object)
    # A prefix that is not 1 to 15 digits can never be a prefix of a normalised number.
    usable = np.fromiter(
        (k.isascii() and k.isdigit() and len(k) <= MAX_DIGITS for k in keys), bool, count=n
    )
    ids = np.flatnonzero(usable)
    lo, hi = prefix_key_ranges(keys, usable)
    starts, vals = key_pieces(lo[ids], hi[ids], ids)
    s = np.asarray(starts, dtype=np.int64)
    v = np.asarray(vals, dtype=np.int64)
    digits = root_digits(1, len(s))
    root, levels, _count = key_trie(s, v, digits, 0)
    nodes = np.concatenate(levels) if levels else np.zeros(11, dtype=np.int32)
    return UnionIndex(root, nodes, digits)
