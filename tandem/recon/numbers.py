"""Vendor numbers to E.164 digits, national format included, a whole column at once.

A vendor bills in the number format of its own switch: ``+44 20 7946 0000``,
``00442079460000``, ``442079460000`` or, in its national plan, ``020 7946 0000``. With a
country code (``--country-code 44``) the national form is read too. The rules, in order:

1. separators are dropped (:data:`tandem.numbers.SEPARATORS`);
2. with a country code, a number that begins with a single ``0`` (the national trunk
   prefix of most of the world, ITU-T E.164 Annex A) is national: the ``0`` is replaced
   by the country code; ``00`` stays the international prefix;
3. what is left is read by the rules of :mod:`tandem.numbers` (``+``, ``00`` or ``011``
   removed, 1 to 15 digits not beginning with 0), vectorised by
   :func:`tandem.rating.keys.e164_digits_array`; a number they refuse is null.

These are exactly the rules of :func:`tandem.lcr.translate.translate` with
``national_prefix="0"``, ``country_code=CC`` and the international prefixes ``+`` and
``00`` (:func:`national_rules`); a property test holds the two to the same answer.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tandem.errors import ConfigError
from tandem.lcr.translate import TranslationRules
from tandem.numbers import SEPARATORS
from tandem.rating.keys import e164_digits_array

__all__ = ["check_country_code", "national_rules", "number_values", "vendor_digits"]


def check_country_code(country_code: str | None) -> str | None:
    """``country_code`` when it is one (1 to 3 digits, not beginning with 0), else a
    :class:`~tandem.errors.ConfigError` saying what to give."""
    if country_code is None or country_code == "":
        return None
    cc = country_code.strip().lstrip("+")
    if not (cc.isascii() and cc.isdigit() and 1 <= len(cc) <= 3 and cc[0] != "0"):
        raise ConfigError(
            f"--country-code {country_code!r} is not a country code: give its 1 to 3 digits "
            "(e.g. 44 for the United Kingdom, 1 for the NANP)"
        )
    return cc


def national_rules(country_code: str) -> TranslationRules:
    """The translation rules :func:`vendor_digits` applies for ``country_code`` (the
    scalar reference of the vectorised path)."""
    return TranslationRules(
        international_prefixes=("00", "+"), national_prefix="0", country_code=country_code
    )


def vendor_digits(numbers: pa.Array | pa.ChunkedArray, country_code: str | None) -> pa.Array:
    """E.164 digits (string, no ``+``) of a column of numbers, national ones read with
    ``country_code`` when given (see the module docstring); null where refused."""
    if isinstance(numbers, pa.ChunkedArray):
        numbers = numbers.combine_chunks()
    if not pa.types.is_string(numbers.type):
        numbers = pc.cast(numbers, pa.string())
    if country_code is None:
        return e164_digits_array(numbers)
    bare = numbers
    for sep in SEPARATORS:  # literal searches: far cheaper than one regular expression
        if pc.any(pc.match_substring(bare, sep)).as_py():
            bare = pc.replace_substring(bare, sep, "")
    national = pc.and_(pc.starts_with(bare, "0"), pc.invert(pc.starts_with(bare, "00")))
    if pc.any(national).as_py():
        rest = pc.utf8_slice_codeunits(bare, 1)
        bare = pc.if_else(national, pc.binary_join_element_wise("+" + country_code, rest, ""), bare)
    # "011" is a national number in a plan with trunk prefix 0 (0117 is Bristol): it was
    # made "+CC11..." above, so the NANP's international prefix can no longer be met.
    return e164_digits_array(bare)


def number_values(digits: pa.Array) -> np.ndarray:
    """The digits as int64 (at most 15 digits, never a leading 0: distinct numbers get
    distinct values); -1 where null."""
    if len(digits) == 0:
        return np.zeros(0, dtype=np.int64)
    values = pc.cast(pc.fill_null(digits, "-1"), pa.int64())
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.int64)
