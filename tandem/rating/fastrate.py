"""The per-CDR loops of batch pricing in C, when the optional extension is built.

``tandem.rating._fastrate`` (``tandem/rating/_fastrate.c``, built by ``setup.py`` with
``optional=True``) prices one side of a batch in one pass per CDR -- the longest-prefix
trie walk of :mod:`tandem.rating.keytrie`, the increments, minimum duration, grace and
connect fee of :mod:`tandem.rating.tariff`, the exact int64 cost numerator and its one
rounding -- and turns plain E.164 digit strings into match keys
(:func:`tandem.rating.keys.number_keys`) straight from the Arrow buffers. Without it the
numpy code of :mod:`tandem.rating.price` runs: the same answers to the last unit (the
tests hold the C loop, the numpy path and the scalar :func:`~tandem.rating.price.
price_call` to each other on random decks and CDRs), slower.

:data:`NATIVE` tells which runs; ``TANDEM_NATIVE=0`` in the environment turns the C loop
off (the numpy path then runs even where it is built).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from tandem.rating.book import RateBook

try:
    from tandem.rating import _fastrate
except ImportError:  # not built (no compiler at install): the numpy path runs
    _fastrate = None

__all__ = [
    "BUILT",
    "NATIVE",
    "flat_book",
    "row_classes",
    "price_side",
    "plain_keys",
    "decimal_words",
    "decimal_total",
    "gather_codes",
]

#: The C extension is built (importable).
BUILT = _fastrate is not None
#: Batch pricing runs its C loops (built, and not turned off by ``TANDEM_NATIVE=0``).
NATIVE = BUILT and os.environ.get("TANDEM_NATIVE", "1") != "0"


def flat_book(book: RateBook) -> bool:
    """Whether :func:`price_side` can price ``book``: no tariff-plan intervals and every
    cost numerator within int64 (``always_fast``); other books take the numpy path."""
    return book.row_sets is None and book.always_fast


def _int64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)


#: int64 columns of a tariff class (``_fastrate.c``'s ``C_*``).
_CLASS_WIDTH = 8


def row_classes(book: RateBook) -> tuple[np.ndarray | None, np.ndarray]:
    """``(class per row, classes)``: what a row is billed by besides its rate -- connect
    fee, initial and next increments (0 read as 1, as
    :func:`tandem.rating.tariff.flat_billed_array` does), minimum duration, rounding step
    and mode -- as the index (int32; None when every row has class 0) of one of the
    distinct combinations (``(classes, 8)`` int64). A deck has a handful of them, so the
    C loop reads only a row's rate and class, not six more numbers. Built once per book
    (the same under every plan)."""
    found = book._native.get("classes")
    if found is None:
        columns = [
            book.connect_fee,
            np.where(book.initial > 0, book.initial, 1),
            np.where(book.nxt > 0, book.nxt, 1),
            book.min_duration,
            book.step,
            book.rounding,
        ]
        # the class of each row: the distinct combinations, column by column (a column
        # holding one value throughout, as most do, changes nothing)
        of_row = np.zeros(len(book.rate), dtype=np.int64)
        count = 1
        for col in columns:
            col = np.asarray(col, dtype=np.int64)
            if not len(col) or col.min() == col.max():
                continue
            values, index = np.unique(col, return_inverse=True)
            combined = of_row * len(values) + index.reshape(-1)
            kinds, of_row = np.unique(combined, return_inverse=True)
            of_row = of_row.reshape(-1)
            count = len(kinds)
        classes = np.zeros((count, _CLASS_WIDTH), dtype=np.int64)
        if len(of_row):
            first = np.zeros(count, dtype=np.int64)  # a row of each class
            first[of_row[::-1]] = np.arange(len(of_row))[::-1]
            for j, col in enumerate(columns):
                classes[:, j] = np.asarray(col, dtype=np.int64)[first]
        # one entry, set whole: the threads pricing a batch's chunks may build it at once
        found = (np.ascontiguousarray(of_row, dtype=np.int32), classes)
        book._native["classes"] = found
    codes, classes = found
    return (None if len(classes) == 1 else codes), classes


def price_side(
    book: RateBook,
    acct: np.ndarray,
    segment: np.ndarray,
    duration: np.ndarray,
    key: np.ndarray,
    reason: np.ndarray,
    codes: tuple[int, int, int],
) -> dict[str, np.ndarray]:
    """One side of a batch priced by the C loop (``book``: :func:`flat_book`).

    ``segment`` is each CDR's time segment (only read where the CDR is priced);
    ``reason`` the input reasons (int64, 0: priced so far), updated in place with
    ``codes`` = (unknown account, no matching prefix, no deck in force). Returns the dict
    of :func:`tandem.rating.price._price_side`."""
    assert _fastrate is not None
    n = len(acct)
    row = np.empty(n, dtype=np.int64)
    amount = np.empty(n, dtype=np.int64)
    billed = np.empty(n, dtype=np.int64)
    several = len(book.roots) > 11**book.root_digits  # several root tables
    _fastrate.price_side(
        _int64(acct),
        _int64(segment),
        _int64(duration),
        _int64(key),
        reason,
        np.ascontiguousarray(book.roots, dtype=np.int32),
        np.ascontiguousarray(book.nodes, dtype=np.int32),
        book.root_digits,
        _int64(book.seg_root) if several else None,
        np.ascontiguousarray(book.seg_empty, dtype=np.bool_),
        _int64(book.rate),
        *row_classes(book),
        _int64(book.grace),
        codes,
        row,
        amount,
        billed,
    )
    return {
        "row": row,
        "amount": amount,
        "billed": billed,
        "reason": reason,
        "wide_at": np.zeros(0, dtype=np.int64),
        "wide_amount": np.zeros(0, dtype=object),
    }


def plain_keys(numbers: pa.Array) -> np.ndarray | None:
    """The match keys of a string array whose every value is a plain E.164 number (1 to
    15 ASCII digits, not beginning with 0: :func:`tandem.rating.keys.e164_digits_array`
    gives it back as it is), nulls keyed 0; None when one value is not (or no C loop)."""
    if _fastrate is None or not pa.types.is_string(numbers.type):
        return None
    n = len(numbers)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    bufs = numbers.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32)[numbers.offset : numbers.offset + n + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    valid = None
    if numbers.null_count:
        valid = np.unpackbits(
            np.frombuffer(bufs[0], dtype=np.uint8), bitorder="little", count=numbers.offset + n
        )[numbers.offset :]
    keys = np.empty(n, dtype=np.int64)
    return keys if _fastrate.plain_keys(offsets, data, valid, keys) else None


def decimal_words(values: np.ndarray, minus: np.ndarray | None, out: np.ndarray) -> int | None:
    """Fill ``out`` (``(n, 2)`` int64, C-contiguous) with the decimal128 words (low word,
    sign word) of ``values - minus`` (int64; ``minus`` None: of ``values``), the
    difference wrapping as numpy's does, in one pass, and return their exact sum; None
    (``out`` untouched) without the C loop (or for 2**31 values or more)."""
    if not NATIVE or _fastrate is None or len(values) >= 1 << 31:
        return None
    limbs = _fastrate.decimal_words(_int64(values), None if minus is None else _int64(minus), out)
    return _join(*limbs)


def _join(s0: int, s1: int, h0: int, h1: int) -> int:
    """The sum that ``_fastrate``'s limbs stand for."""
    return int(s0 + (s1 << 64) + ((h0 + (h1 << 32)) << 64))


def decimal_total(arr: pa.Array) -> int | None:
    """The exact sum (a Python integer) of a ``decimal128`` array's scaled values, nulls
    counted 0, read from its buffers in one pass; None without the C loop (or for 2**31
    values or more, which the caller splits)."""
    n = len(arr)
    if not NATIVE or _fastrate is None or n >= 1 << 31:
        return None
    if n == 0:
        return 0
    bufs = arr.buffers()
    return _join(
        *_fastrate.decimal_total(bufs[1], arr.offset, n, bufs[0] if arr.null_count else None)
    )


def gather_codes(
    row: np.ndarray, a: np.ndarray | None, b: np.ndarray | None
) -> tuple[np.ndarray | None, np.ndarray | None, int] | None:
    """``(a[safe], b[safe], missing)`` in one pass, ``safe`` being ``row`` with each
    negative (no rate row) read as 0 and ``missing`` how many there are (``a``, ``b``:
    int32 tables, or None: not gathered); None without the C loop."""
    if not NATIVE or _fastrate is None:
        return None
    n = len(row)
    out_a = None if a is None else np.empty(n, dtype=np.int32)
    out_b = None if b is None else np.empty(n, dtype=np.int32)
    missing = _fastrate.gather_codes(
        _int64(row),
        None if a is None else np.ascontiguousarray(a, dtype=np.int32),
        None if b is None else np.ascontiguousarray(b, dtype=np.int32),
        out_a,
        out_b,
    )
    return out_a, out_b, int(missing)
