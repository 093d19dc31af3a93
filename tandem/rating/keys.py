"""A CDR's number as the rate book reads it: E.164 digits, then an integer match key.

Digits: :func:`e164_digits_array` applies the rules of :mod:`tandem.numbers` (separators
dropped, one international prefix ``+``/``00``/``011`` removed, 1 to 15 digits not
beginning with 0) to a whole Arrow column at once; a number those rules refuse becomes
null, and its CDR unrated with reason ``bad_number``. The single-call path
(:func:`tandem.rating.price.price_call`) uses :func:`tandem.numbers.e164_digits` itself,
and a property test holds the two to the same answer.

Match keys: a number's digits ``d1 d2 ... dn`` become the base-11 integer with digits
``d1+1, d2+1, ..., dn+1`` padded with zeros to 15 places (E.164's maximum). A prefix P of
length L then covers exactly the key interval ``[key(P), key(P) + 11**(15-L))``, and a
number shorter than a prefix can never fall inside it (its padding digit 0 is below every
real digit). Longest-prefix match becomes finding the disjoint interval a key falls in (a
digit trie over the intervals, :mod:`tandem.rating.book`).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tandem.numbers import INTERNATIONAL_PREFIXES, MAX_DIGITS, SEPARATORS
from tandem.rating.arrays import from_numpy, scalar, to_numpy

__all__ = [
    "KEY_SPAN",
    "e164_digits_array",
    "number_keys",
    "prefix_key_range",
]

#: Size of the key space of one table: ``11**15``.
KEY_SPAN = 11**MAX_DIGITS
#: Every separator, as one regular expression character class (RE2 ``\\xhh`` escapes).
_SEPARATOR_CLASS = "[" + "".join(f"\\x{ord(ch):02x}" for ch in SEPARATORS) + "]"
#: First bytes of the international prefixes and the digit 0: a batch whose numbers begin
#: with none of them skips the prefix passes and the leading-zero check.
_PREFIX_FIRST_BYTES = tuple(sorted({ord(p[0]) for p in INTERNATIONAL_PREFIXES} | {ord("0")}))
# Compute-function arguments as Arrow scalars (a plain Python value would load pandas).
_ONE, _MAX_LENGTH = scalar(1, pa.int32()), scalar(MAX_DIGITS, pa.int32())
_NO_TEXT, _EMPTY_TEXT = scalar(None, pa.string()), scalar("", pa.string())


def e164_digits_array(numbers: pa.Array | pa.ChunkedArray) -> pa.Array:
    """:func:`tandem.numbers.e164_digits` over an Arrow string array (null where refused).

    The usual batch (plain digits, maybe after ``+``) costs a first-byte gather, an
    ASCII-digit check and a length check, with no copy; only numbers that fail are
    stripped of separators and tried again.
    """
    if isinstance(numbers, pa.ChunkedArray):
        numbers = numbers.combine_chunks()
    if not pa.types.is_string(numbers.type):
        numbers = pc.cast(numbers, pa.string())
    out = _digits_without_separators(numbers)
    retry = pc.and_(pc.is_null(out), pc.is_valid(numbers))
    if pc.any(retry).as_py():
        idx = pc.indices_nonzero(retry)
        bare = pc.replace_substring_regex(numbers.take(idx), _SEPARATOR_CLASS, "")
        again = _digits_without_separators(bare)
        if again.null_count < len(again):
            fixed = np.full(len(numbers), -1, dtype=np.int64)
            fixed[to_numpy(idx)] = np.arange(len(idx))
            take = from_numpy(fixed, mask=fixed < 0)
            out = pc.coalesce(out, again.take(take))
    return out


def _begins_with_any(s: pa.Array, first_bytes: tuple[int, ...]) -> bool:
    """Whether a string of ``s`` begins with one of ``first_bytes`` (one numpy gather of
    the first byte of every non-empty string; null strings count, harmlessly)."""
    n = len(s)
    offsets = np.frombuffer(s.buffers()[1], dtype=np.int32)[s.offset : s.offset + n + 1]
    starts = offsets[:-1][offsets[1:] > offsets[:-1]]
    if not len(starts):
        return False
    first = np.frombuffer(s.buffers()[2], dtype=np.uint8)[starts]
    hit = first == first_bytes[0]
    for byte in first_bytes[1:]:
        hit |= first == byte
    return bool(hit.any())


def _digits_without_separators(s: pa.Array) -> pa.Array:
    """The E.164 digits of numbers written without separators (null where refused)."""
    ok = None
    if _begins_with_any(s, _PREFIX_FIRST_BYTES):  # else no prefix and no leading 0
        # None begins another, so each number has at most one: flags from the text as given.
        flags = [(pc.starts_with(s, p), len(p)) for p in INTERNATIONAL_PREFIXES]
        for flag, cut in flags:
            if not pc.any(flag).as_py():
                continue
            cut_off = pc.utf8_slice_codeunits(s, cut)
            every = flag.null_count == 0 and pc.all(flag).as_py()  # e.g. all "+": no merge
            s = cut_off if every else pc.if_else(flag, cut_off, s)
        if _begins_with_any(s, (ord("0"),)):
            ok = pc.invert(pc.starts_with(s, "0"))
    length = pc.binary_length(s)
    good = pc.and_(
        pc.ascii_is_decimal(s),
        pc.and_(pc.greater_equal(length, _ONE), pc.less_equal(length, _MAX_LENGTH)),
    )
    if ok is not None:
        good = pc.and_(good, ok)
    if good.null_count == 0 and pc.all(good).as_py():
        return s  # every number usable as it is (the usual batch): no copy
    return pc.if_else(good, s, _NO_TEXT)


def number_keys(digits: pa.Array) -> np.ndarray:
    """Base-11 match keys (int64) of normalised numbers; null entries get key 0."""
    if isinstance(digits, pa.ChunkedArray):
        digits = digits.combine_chunks()
    n = len(digits)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # '/' is the byte just below '0': after padding, byte - 47 is digit + 1, or 0.
    # (ASCII padding: normalised numbers are ASCII digits, and it is twice as fast.)
    if digits.null_count:
        digits = pc.fill_null(digits, _EMPTY_TEXT)
    padded = pc.ascii_rpad(digits, width=MAX_DIGITS, padding="/")
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
