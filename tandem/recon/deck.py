"""Our buy deck's view of a set of calls: what each costs and the rate per minute in
force at its start, for one carrier.

The cost is the rating module's (:meth:`tandem.rating.Rater.price`, buy side: the
carrier's deck version in force at the call's start, its increments, connect fee,
minimum duration and the tariff plan in force), never a second pricer. The rate is the
per-minute rate of the deck row that price used: the same longest-prefix lookup
(:meth:`tandem.rating.book.RateBook.lookup`) at the same instant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tandem.errors import CdrError
from tandem.rating.keys import number_keys
from tandem.rating.price import Rater
from tandem.recon.read import CdrSide

__all__ = ["DeckView", "deck_view", "scaled_amounts"]


@dataclass(frozen=True)
class DeckView:
    """Per call: ``amount`` (scaled; 0 where not priced), ``priced``, ``reason`` (the
    rating module's unrated reason, "" where priced), ``rate`` (scaled per minute) and
    ``prefix`` of the deck row, ``currency``."""

    amount: np.ndarray
    priced: np.ndarray
    reason: pa.Array
    rate: np.ndarray
    prefix: pa.Array
    currency: pa.Array


def scaled_amounts(col: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """``(scaled int64, valid)`` of a decimal money column with 9 places."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    valid = col.is_valid().to_numpy(zero_copy_only=False)
    n = len(col)
    if n == 0:
        return np.zeros(0, np.int64), valid
    filled = pc.fill_null(col, pa.scalar(0, col.type))
    words = np.frombuffer(filled.buffers()[1], dtype=np.int64)[
        2 * filled.offset : 2 * (filled.offset + n)
    ]
    low, high = words[0::2].copy(), words[1::2]
    if not np.array_equal(high, low >> 63):
        raise CdrError("a call costs more than 9 * 10**9 currency units: cannot reconcile it")
    return low, valid


def deck_view(rater: Rater, side: CdrSide, carrier: str) -> DeckView:
    """Price ``side``'s calls on ``carrier``'s buy deck (module docstring)."""
    batch = side.canonical(carrier)
    priced = rater.price(batch)
    amount, ok = scaled_amounts(priced.column("buy_amount"))
    reason = pc.cast(priced.column("buy_reason").combine_chunks(), pa.string())
    reason = pc.fill_null(reason, "")
    rate = np.zeros(len(side), dtype=np.int64)
    book = rater.buy
    acct = book.accounts.get(carrier, -1)
    rows = np.flatnonzero(ok)
    if acct >= 0 and len(rows):
        key = number_keys(side.digits.take(pa.array(rows)))
        row, _empty = book.lookup(np.full(len(rows), acct, dtype=np.int64), side.start[rows], key)
        found = row >= 0
        rate[rows[found]] = book.rate[row[found]]
    prefix = pc.cast(priced.column("buy_prefix").combine_chunks(), pa.string())
    currency = pc.cast(priced.column("buy_currency").combine_chunks(), pa.string())
    return DeckView(amount, ok, reason, rate, prefix, currency)
