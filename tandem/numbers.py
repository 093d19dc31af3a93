"""E.164 numbers: what a dialed number may look like, and its digits.

The one set of rules every part of Tandem reads numbers with (ITU-T E.164, written as
ITU-T E.123 and RFC 3966 allow):

1. **separators** are dropped wherever they are: the visual separators ``-`` ``.`` ``(``
   ``)`` of RFC 3966 section 5.1.1 and whitespace (space, tab, CR, LF, VT, FF; ASCII only);
2. one **international prefix** marks the international form and is removed: ``+``
   (ITU-T E.123), ``00`` (the international prefix ITU-T E.164 recommends) or ``011``
   (the NANP's). None is the beginning of another, and no country code begins with ``0``,
   so removing one never changes what a number means;
3. what is left must be **1 to 15 ASCII digits** (:data:`MAX_DIGITS`, ITU-T E.164 section
   6.1) and must not begin with ``0`` (country codes begin with 1-9).

So ``+44 20 7946 0000``, ``0044-20-7946-0000``, ``011442079460000`` and ``442079460000``
are all ``442079460000``; ``02079460000`` (a national number), ``44 20 x`` and sixteen
digits are refused with :class:`~tandem.errors.NumberError`, whose message names the
number as given, what is wrong and what to send instead.

Who uses it: :func:`e164_digits` directly (ENUM, :mod:`tandem.enum`, which builds the
RFC 6116 domain from the digits with :mod:`dns.e164`; the rater's single-call path);
translation (:mod:`tandem.lcr.translate`) with a customer's own rules between
:func:`compact` and :func:`check_digits`, the default rules being exactly these; and the
rater's batch path, which applies these rules to a whole CDR column in Arrow
(:func:`tandem.rating.keys.e164_digits_array`). A property test holds all of them to the
same answer on random text.
"""

from __future__ import annotations

from tandem.errors import NumberError

__all__ = [
    "MAX_DIGITS",
    "INTERNATIONAL_PREFIXES",
    "SEPARATORS",
    "e164_digits",
    "compact",
    "check_digits",
]

#: ITU-T E.164 section 6.1: at most 15 digits, country code included.
MAX_DIGITS = 15
#: International prefixes removed before the country code, one at most: ``+``, the ITU-T
#: recommended ``00`` and the NANP's ``011``.
INTERNATIONAL_PREFIXES: tuple[str, ...] = ("+", "00", "011")
#: Characters dropped anywhere in a number: RFC 3966 visual separators and ASCII whitespace.
SEPARATORS = " \t\n\r\v\f-.()"

_DROP = str.maketrans("", "", SEPARATORS)
_EXAMPLE = "+442079460000"


def e164_digits(number: object) -> str:
    """The E.164 digits of ``number`` (no ``+``): ``"+44 20 7946 0000"`` → ``"442079460000"``.

    Raises :class:`~tandem.errors.NumberError` unless ``number`` is text that follows the
    rules of this module (separators dropped, one international prefix removed, 1 to 15
    digits not beginning with 0).
    """
    if type(number) is str and number.isascii():  # fast path: digits, maybe after a "+"
        digits = number[1:] if number[:1] == "+" else number
        if digits.isdigit() and len(digits) <= MAX_DIGITS and digits[0] != "0":
            return digits
    text = compact(number)
    for prefix in INTERNATIONAL_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    return check_digits(text, number)


def compact(number: object) -> str:
    """``number`` without its separators (:data:`SEPARATORS`), as the next step reads it.

    Raises :class:`~tandem.errors.NumberError` when ``number`` is not text or holds
    nothing but separators.
    """
    if not isinstance(number, str):
        raise NumberError(f"number {number!r} must be text, not {type(number).__name__}")
    text = number.translate(_DROP)
    if not text:
        raise NumberError(f"empty number {number!r}: give E.164 digits, e.g. {_EXAMPLE}")
    return text


def check_digits(digits: str, number: object) -> str:
    """``digits`` if they are an E.164 number (1 to 15 ASCII digits, not beginning with 0).

    ``digits`` is what is left once separators and an international prefix (or a
    customer's translation) are removed; ``number`` is the number as given, which the
    :class:`~tandem.errors.NumberError` message names.
    """
    if digits.isascii() and digits.isdigit() and len(digits) <= MAX_DIGITS:
        if digits[0] != "0":
            return digits
        raise NumberError(
            f"number {number!r} normalises to {digits!r}, which starts with 0: no E.164 "
            f"country code does; send the international form (e.g. {_EXAMPLE}), or translate "
            "national numbers with the customer's national_prefix and country_code"
        )
    if not digits:
        raise NumberError(f"number {number!r} has no digits left: give digits, e.g. {_EXAMPLE}")
    bad = next((ch for ch in digits if not ("0" <= ch <= "9")), None)
    if bad is not None:
        raise NumberError(
            f"number {number!r} contains {bad!r}: give E.164 digits, e.g. {_EXAMPLE} "
            "(a leading + or 00, and the separators space - . ( ), are allowed)"
        )
    raise NumberError(
        f"number {number!r} normalises to {len(digits)} digits; E.164 allows at most {MAX_DIGITS}"
    )
