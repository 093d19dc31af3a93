"""Money columns of priced CDRs: 128-bit exact decimals in, exact integer totals out.

A priced batch's ``sell_amount``, ``buy_amount`` and ``margin`` are Arrow
``decimal128(38, 9)`` (:data:`AMOUNT_TYPE`): a scaled integer (:data:`tandem.money.SCALE`)
of up to 128 bits per CDR, so no per-call cost a real currency reaches can wrap. When no
call of a :class:`~tandem.rating.price.Rater`'s rates can cost 10**10 units (every
ordinary deck: its books are ``always_fast``, every cost below 4 * 10**7 units) they are
``decimal128(18, 9)`` (:data:`NARROW_AMOUNT_TYPE`): the same exact values in the same
16-byte buffers, and Parquet stores them as 64-bit integers (``DECIMAL(18, 9)`` on
``INT64``, :data:`NARROW_AMOUNT_TYPE`'s precision is the largest that allows it). The
bound is proven from the books, not observed: ``always_fast`` means every cost numerator
(``60 * fee + rate * billed seconds``, scaled) is below ``2**61``, so every amount is
below ``2**61 / 60 + 1`` scaled units (about 3.8 * 10**16, 3.8 * 10**7 units) and every
margin below twice that, well inside 18 digits (10**18 scaled units).

Every total Tandem reports (the ``--json`` summary, the report files and the printed
table) is summed by the one function family here, exactly and without Python objects per
CDR: each amount is split into three int64 *limbs* ``l0 + l1 * 2**32 + l2 * 2**64`` with
``0 <= l0, l1 < 2**32`` (:func:`money_limbs`); limbs are summed as int64 (a batch of fewer
than 2**31 rows cannot overflow them), carried back into range (:func:`carry_limbs`) before
partial sums are added again, and joined into Python integers only per group
(:func:`join_limbs`). :func:`exact_total` is the one-group case.
"""

from __future__ import annotations

import weakref

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tandem.money import SCALE
from tandem.rating import fastrate
from tandem.rating.arrays import from_numpy

__all__ = [
    "AMOUNT_TYPE",
    "INT64_DECIMAL_DIGITS",
    "NARROW_AMOUNT_TYPE",
    "amount_array",
    "money_limbs",
    "carry_limbs",
    "join_limbs",
    "exact_total",
]

#: Arrow type of money columns: exact decimals with :data:`tandem.money.SCALE` places.
AMOUNT_TYPE = pa.decimal128(38, SCALE)
#: The type of money columns when every amount is below 10**9 units (proven from the
#: books: see the module doc); Parquet stores it as INT64.
NARROW_AMOUNT_TYPE = pa.decimal128(18, SCALE)
#: The largest decimal precision Parquet stores on INT64 (``store_decimal_as_integer``).
INT64_DECIMAL_DIGITS = 18
_MASK = (1 << 32) - 1


def amount_array(
    values: np.ndarray,
    valid: np.ndarray,
    wide: tuple[np.ndarray, list[int]] | None = None,
    type: pa.DataType = AMOUNT_TYPE,
    minus: np.ndarray | None = None,
) -> pa.Array:
    """Scaled int64 amounts as a decimal array of ``type`` (exact, no Python objects),
    null where ``valid`` is False. ``wide`` gives ``(positions, amounts)`` whose amounts are
    Python integers that may pass int64 (they replace ``values`` there); the caller picks a
    ``type`` that holds every amount. With ``minus`` the amounts are ``values - minus``
    (int64 subtraction, as numpy's)."""
    n = len(values)
    words = np.empty((n, 2), dtype=np.int64)
    total = fastrate.decimal_words(values, minus, words)  # in one pass, in C
    if total is None:
        if minus is not None:
            values = values - minus
        words[:, 0] = values
        np.right_shift(values, 63, out=words[:, 1])  # the sign word: -1 or 0
    if wide is not None and len(wide[0]):
        at, amounts = wide
        words[at, 0] = np.asarray([a & ((1 << 64) - 1) for a in amounts], np.uint64).view(np.int64)
        words[at, 1] = np.asarray([a >> 64 for a in amounts], dtype=np.int64)
    arr = pa.Array.from_buffers(type, n, [None, pa.py_buffer(words)])
    if valid.all():
        if total is not None and (wide is None or not len(wide[0])):
            _remember(words, total)
        return arr
    return pc.if_else(from_numpy(valid), arr, pa.nulls(1, type)[0])


#: The exact totals of the money arrays :func:`amount_array` made (computed as their words
#: were written), by the address of their words: ``(the words (a weak reference), rows,
#: total)``. :func:`exact_total` reads a total here instead of the 16 bytes per row again
#: (which have left the cache since: a third of a millisecond per column of 262,144 rows).
#: An entry lives as long as its words (nothing writes them after :func:`amount_array`).
_TOTALS: dict[int, tuple[weakref.ref[np.ndarray], int, int]] = {}


def _remember(words: np.ndarray, total: int) -> None:
    address = words.ctypes.data

    def forget(ref: weakref.ref[np.ndarray], address: int = address) -> None:
        if _TOTALS.get(address, (None,))[0] is ref:
            _TOTALS.pop(address, None)

    _TOTALS[address] = (weakref.ref(words, forget), len(words), total)


def _remembered(col: pa.Array) -> int | None:
    """The total :func:`amount_array` kept for ``col`` (its words whole, no nulls)."""
    if col.null_count or col.offset or not len(col):
        return None
    found = _TOTALS.get(col.buffers()[1].address)
    if found is None or found[1] != len(col) or found[0]() is None:
        return None
    return found[2]


def _words(col: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """``(w32, hi)`` of a money column: its 128-bit values as ``(n, 4)`` uint32 words and
    the high int64 word of each (views of the Arrow buffer; nulls read as 0)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if not (pa.types.is_decimal128(col.type) and col.type.scale == SCALE):
        col = pc.cast(col, AMOUNT_TYPE)  # any decimal128 with SCALE places: 16-byte words
    if col.null_count:
        zero = pa.Array.from_buffers(col.type, 1, [None, pa.py_buffer(bytes(16))])[0]
        col = pc.fill_null(col, zero)
    n = len(col)
    if n == 0:
        return np.zeros((0, 4), dtype=np.uint32), np.zeros(0, dtype=np.int64)
    buf = col.buffers()[1]
    w32 = np.frombuffer(buf, dtype=np.uint32)[4 * col.offset : 4 * (col.offset + n)]
    hi = np.frombuffer(buf, dtype=np.int64)[2 * col.offset + 1 : 2 * (col.offset + n) : 2]
    return w32.reshape(n, 4), hi


def money_limbs(col: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A decimal money column as three int64 limbs ``(l0, l1, l2)``, the scaled amount of
    each row being ``l0 + l1 * 2**32 + l2 * 2**64`` (nulls as 0). Any decimal type with
    :data:`~tandem.money.SCALE` places or fewer is read (an older file's ``decimal128(19,
    9)`` too)."""
    w32, hi = _words(col)
    return w32[:, 0].astype(np.int64), w32[:, 1].astype(np.int64), hi.copy()


def carry_limbs(
    l0: np.ndarray, l1: np.ndarray, l2: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sums of limbs carried back into ``0 <= l0, l1 < 2**32`` (same values): after this,
    fewer than 2**31 of them can again be summed as int64 without overflow."""
    l0 = np.asarray(l0, dtype=np.int64)
    l1 = np.asarray(l1, dtype=np.int64) + (l0 >> 32)  # arithmetic shift: floor division
    l2 = np.asarray(l2, dtype=np.int64) + (l1 >> 32)
    return l0 & _MASK, l1 & _MASK, l2


def join_limbs(l0: np.ndarray, l1: np.ndarray, l2: np.ndarray) -> list[int]:
    """The exact scaled totals (Python integers) of summed limbs, one per group."""
    return [
        a + (b << 32) + (c << 64)
        for a, b, c in zip(
            np.asarray(l0).tolist(), np.asarray(l1).tolist(), np.asarray(l2).tolist(), strict=True
        )
    ]


def exact_total(col: pa.Array | pa.ChunkedArray) -> int:
    """The exact scaled sum of a money column (nulls count 0), as a Python integer: the
    limbs of :func:`money_limbs` summed in place over the Arrow buffer."""
    if isinstance(col, pa.ChunkedArray) and col.num_chunks > 1:
        return sum(exact_total(c) for c in col.chunks)
    if isinstance(col, pa.ChunkedArray) and col.num_chunks == 1:
        col = col.chunk(0)
    if isinstance(col, pa.Array) and pa.types.is_decimal128(col.type) and col.type.scale == SCALE:
        total = _remembered(col)
        if total is None:
            total = fastrate.decimal_total(col)  # in one pass over the buffers, in C
        if total is not None:
            return total
    w32, hi = _words(col)
    if len(hi) >= 1 << 31:  # pragma: no cover - batches are far smaller
        half = len(hi) // 2
        return exact_total(col.slice(0, half)) + exact_total(col.slice(half))
    l0, l1, l2 = (int(w.sum(dtype=np.int64)) for w in (w32[:, 0], w32[:, 1], hi))
    return l0 + (l1 << 32) + (l2 << 64)
