"""Dialed numbers as rating sees them: normalised digits and integer match keys.

Normalisation (ITU-T E.164 international form without the ``+``): surrounding spaces are
trimmed, then one international prefix is removed (``+``, ``011`` from the NANP, ``00``
elsewhere). What is left must be 1 to 15 digits (E.164's maximum), else the CDR is
unrated with reason ``bad_number``.

Match keys: a number's digits ``d1 d2 ... dn`` become the base-11 integer with digits
``d1+1, d2+1, ..., dn+1`` padded with zeros to 15 places. A prefix P of length L then
covers exactly the key interval ``[key(P), key(P) + 11**(15-L))``, and a number shorter
than a prefix can never fall inside it (its padding digit 0 is below every real digit).
Longest-prefix match becomes finding the disjoint interval a key falls in (a digit trie over
the intervals, :mod:`tandem.rating.book`).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "MAX_DIGITS",
    "KEY_SPAN",
    "normalize_number",
    "normalize_numbers",
    "number_keys",
    "prefix_key_range",
]

#: E.164 numbers have at most 15 digits.
MAX_DIGITS = 15
#: Size of the key space of one table: ``11**15``.
KEY_SPAN = 11**MAX_DIGITS


def normalize_number(text: object) -> str | None:
    """The digits of a dialed number (see the module docstring), or None if unusable."""
    if text is None or not isinstance(text, str):
        return None
    s = text.strip()
    for intl in ("+", "011", "00"):
        if s.startswith(intl):
            s = s[len(intl) :]
            break
    if 1 <= len(s) <= MAX_DIGITS and s.isascii() and s.isdigit():
        return s
    return None


def normalize_numbers(numbers: pa.Array | pa.ChunkedArray) -> pa.Array:
    """:func:`normalize_number` over an Arrow string array (null where unusable).

    Vectorised without regular expressions: prefix tests, one slice per prefix kind and an
    ASCII-digit check; only rows that fail are trimmed of spaces and tried again.
    """
    if isinstance(numbers, pa.ChunkedArray):
        numbers = numbers.combine_chunks()
    if not pa.types.is_string(numbers.type):
        numbers = pc.cast(numbers, pa.string())
    out = _normalize_untrimmed(numbers)
    retry = pc.and_(pc.is_null(out), pc.is_valid(numbers))
    if pc.any(retry).as_py():
        idx = pc.indices_nonzero(retry)
        again = _normalize_untrimmed(pc.utf8_trim_whitespace(numbers.take(idx)))
        if again.null_count < len(again):
            fixed = np.full(len(numbers), -1, dtype=np.int64)
            fixed[idx.to_numpy()] = np.arange(len(idx))
            take = pa.array(fixed, mask=fixed < 0)
            out = pc.coalesce(out, again.take(take))
    return out


def _first_bytes(s: pa.Array) -> np.ndarray:
    """The first byte of every non-empty string of ``s`` (one numpy gather)."""
    n = len(s)
    offsets = np.frombuffer(s.buffers()[1], dtype=np.int32)[s.offset : s.offset + n + 1]
    first = offsets[:-1][offsets[1:] > offsets[:-1]]
    if not len(first):
        return np.zeros(0, dtype=np.uint8)
    return np.frombuffer(s.buffers()[2], dtype=np.uint8)[first]


def _normalize_untrimmed(s: pa.Array) -> pa.Array:
    first = _first_bytes(s)
    if np.any((first == ord("+")) | (first == ord("0"))):  # else no international prefix
        plus = pc.starts_with(s, "+")
        ntl = pc.starts_with(s, "011")
        zero = pc.and_(pc.starts_with(s, "00"), pc.invert(ntl))
        for flag, cut in ((plus, 1), (ntl, 3), (zero, 2)):
            if pc.any(flag).as_py():
                s = pc.if_else(flag, pc.utf8_slice_codeunits(s, cut), s)
    length = pc.binary_length(s)
    ok = pc.and_(
        pc.ascii_is_decimal(s),
        pc.and_(pc.greater_equal(length, 1), pc.less_equal(length, MAX_DIGITS)),
    )
    if ok.null_count == 0 and pc.all(ok).as_py():
        return s  # every number usable as it is (the usual batch): no copy
    return pc.if_else(ok, s, pa.scalar(None, pa.string()))


def number_keys(digits: pa.Array) -> np.ndarray:
    """Base-11 match keys (int64) of normalised numbers; null entries get key 0."""
    if isinstance(digits, pa.ChunkedArray):
        digits = digits.combine_chunks()
    n = len(digits)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # '/' is the byte just below '0': after padding, byte - 47 is digit + 1, or 0.
    # (ASCII padding: normalised numbers are ASCII digits, and it is twice as fast.)
    padded = pc.ascii_rpad(pc.fill_null(digits, ""), width=MAX_DIGITS, padding="/")
    padded = pc.cast(padded, pa.string())
    if isinstance(padded, pa.ChunkedArray):
        padded = padded.combine_chunks()
    offsets = np.frombuffer(padded.buffers()[1], dtype=np.int32)[
        padded.offset : padded.offset + n + 1
    ]
    data = np.frombuffer(padded.buffers()[2], dtype=np.uint8)
    if offsets[-1] - offsets[0] != n * MAX_DIGITS:  # pragma: no cover - guarded by normalise
        raise ValueError("number_keys needs normalised numbers of at most 15 digits")
    mat = data[offsets[0] : offsets[-1]].reshape(n, MAX_DIGITS)
    key = np.zeros(n, dtype=np.int64)
    for j in range(MAX_DIGITS):
        key *= 11
        key += mat[:, j].astype(np.int64) - 47
    return key


def prefix_key_range(prefix: str) -> tuple[int, int]:
    """The key interval ``[lo, hi)`` a prefix covers (prefix: 1 to 15 digits)."""
    lo = 0
    for ch in prefix.ljust(MAX_DIGITS, "/"):
        lo = lo * 11 + (ord(ch) - 47)
    return lo, lo + 11 ** (MAX_DIGITS - len(prefix))
