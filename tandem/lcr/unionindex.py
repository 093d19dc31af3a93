"""The longest stored prefix of a whole array of numbers at once, for one compiled table.

:class:`~tandem.lcr.table.RoutingTable` answers one number with one probe of its
marisa-trie. A batch (:mod:`tandem.lcr.batch`) asks for a million: it reads the same
union prefixes as a digit trie over disjoint base-11 key intervals, the technique the
rating module uses (:class:`tandem.rating.keytrie.PrefixTrie`), so the lookup is a few
numpy gathers per level over the whole batch. The index is built once per table and kept
while the table lives (:func:`union_index`).
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from tandem.lcr.table import RoutingTable
from tandem.rating.keytrie import PrefixTrie

__all__ = ["union_index"]

_CACHE: weakref.WeakKeyDictionary[RoutingTable, PrefixTrie] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def union_index(table: RoutingTable) -> PrefixTrie:
    """The union prefixes of ``table`` as a :class:`PrefixTrie` whose values are their
    union-prefix ids (``lookup(keys)``: -1 where no stored prefix matches); built on
    first use and kept with the table."""
    found = _CACHE.get(table)
    if found is None:
        restore = table.trie.restore_key
        n = table.prefix_count
        found = PrefixTrie.build([restore(i) for i in range(n)], np.arange(n, dtype=np.int64))
        with _LOCK:
            _CACHE.setdefault(table, found)
    return found
