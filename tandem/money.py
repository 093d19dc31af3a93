"""Exact money: rates and amounts never pass through binary floating point.

Two representations are used (DESIGN.md invariant 1):

* :class:`decimal.Decimal` at the edges (parsing decks, printing, JSON as strings);
* scaled integers inside compiled tables and vectorised code: an amount ``a`` is stored
  as the integer ``a * 10**SCALE`` (``SCALE`` = 9 decimal places, "nano-units"), which is
  exact for every rate a vendor deck writes. A rate or connect fee fits int64 (at most
  :data:`MAX_RATE`, 10**9 units per minute); amounts computed from them (a call's cost,
  totals) are Python integers or 128-bit decimals wherever they could pass int64.

Every amount that becomes text goes through :func:`format_money`: plain decimal, never an
exponent (``610``, not ``6.1E+2``).

Rounding is never implicit: a :class:`MoneyPolicy` names the number of decimals and the
:class:`Rounding` mode a contract uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Context,
    Decimal,
    InvalidOperation,
    localcontext,
)
from enum import StrEnum
from numbers import Integral

from tandem.errors import MoneyError

__all__ = [
    "SCALE",
    "UNIT",
    "MAX_RATE",
    "RATE_LIMIT",
    "Rounding",
    "MoneyPolicy",
    "parse_decimal",
    "to_scaled",
    "from_scaled",
    "format_money",
]

#: Decimal places of the scaled-integer representation.
SCALE = 9
#: The scaled integer that represents one currency unit.
UNIT = 10**SCALE
#: Largest rate or connect fee, in currency units per minute, that a deck or plan may give
#: (a dong, rupiah or rial deck writes thousands per minute; this is a million times that).
RATE_LIMIT = 10**9
#: :data:`RATE_LIMIT` as a scaled integer (fits int64 with room to spare).
MAX_RATE = RATE_LIMIT * UNIT

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_CURRENCY_MARKS = re.compile(r"^[$€£¥]|[$€£¥]$")
#: With a decimal comma, dots may only group thousands (1.234 or 1.234.567,89): a dot
#: after a leading 0 or followed by other than three digits is a decimal dot.
_DOT_THOUSANDS = re.compile(r"[+-]?[1-9]\d{0,2}(\.\d{3})+(,\d*)?([eE][+-]?\d+)?")


class Rounding(StrEnum):
    """Rounding modes a wholesale contract names.

    ``half-up`` (commercial rounding), ``half-even`` (banker's rounding), ``up``
    (away from zero: any fraction of the last unit is charged), ``ceiling`` (towards
    +infinity), ``down`` (truncate) and ``floor`` (towards -infinity).
    """

    HALF_UP = "half-up"
    HALF_EVEN = "half-even"
    UP = "up"
    CEILING = "ceiling"
    DOWN = "down"
    FLOOR = "floor"

    @property
    def decimal_mode(self) -> str:
        """The :mod:`decimal` module's name for this mode."""
        return _DECIMAL_MODES[self]

    @classmethod
    def parse(cls, text: str | Rounding) -> Rounding:
        """Read a rounding mode name (``half-up``, ``HALF_EVEN``, ``ceil``...)."""
        if isinstance(text, Rounding):
            return text
        key = str(text).strip().lower().replace("_", "-")
        key = {"ceil": "ceiling", "half-down-even": "half-even", "bankers": "half-even"}.get(
            key, key
        )
        try:
            return cls(key)
        except ValueError:
            names = ", ".join(m.value for m in cls)
            raise MoneyError(f"unknown rounding mode {text!r}: use one of {names}") from None


_DECIMAL_MODES = {
    Rounding.HALF_UP: ROUND_HALF_UP,
    Rounding.HALF_EVEN: ROUND_HALF_EVEN,
    Rounding.UP: ROUND_UP,
    Rounding.CEILING: ROUND_CEILING,
    Rounding.DOWN: ROUND_DOWN,
    Rounding.FLOOR: ROUND_FLOOR,
}


@dataclass(frozen=True, slots=True)
class MoneyPolicy:
    """How a contract rounds money: ``decimals`` places with ``rounding`` mode."""

    decimals: int = 4
    rounding: Rounding = Rounding.HALF_UP

    def __post_init__(self) -> None:
        if not 0 <= self.decimals <= SCALE:
            raise MoneyError(f"decimals must be between 0 and {SCALE}, got {self.decimals}")
        object.__setattr__(self, "rounding", Rounding.parse(self.rounding))

    def quantize(self, amount: Decimal) -> Decimal:
        """Round ``amount`` to this policy's decimals and mode."""
        with localcontext() as ctx:
            ctx.prec = 50
            return amount.quantize(Decimal(1).scaleb(-self.decimals), self.rounding.decimal_mode)

    def quantize_scaled(self, amount: int) -> int:
        """Round a scaled integer (see :data:`SCALE`) to this policy, exactly, in integers."""
        step = 10 ** (SCALE - self.decimals)
        return round_scaled(amount, step, self.rounding)


def round_scaled(value: int, step: int, rounding: Rounding) -> int:
    """Round the integer ``value`` to a multiple of ``step`` with ``rounding``, exactly."""
    q, r = divmod(value, step)  # floor division: 0 <= r < step
    if r == 0:
        return value
    negative = value < 0
    if rounding is Rounding.FLOOR:
        up = False
    elif rounding is Rounding.CEILING:
        up = True
    elif rounding is Rounding.UP:
        up = not negative
    elif rounding is Rounding.DOWN:
        up = negative
    else:
        twice = 2 * r
        if twice > step:
            up = True
        elif twice < step:
            up = False
        elif rounding is Rounding.HALF_UP:
            up = not negative  # half away from zero
        else:  # half-even
            up = q % 2 == 1
    return (q + 1) * step if up else q * step


def parse_decimal(text: object, *, decimal_comma: bool = False, field: str = "amount") -> Decimal:
    """Parse a rate or amount exactly, never through ``float``.

    Accepts ``0.0123``, ``1.2E-3``, ``.5``, surrounding spaces and a leading or
    trailing currency sign (``$0.01``). With ``decimal_comma=True`` the comma is the
    decimal separator (``0,0123``) and dots or spaces group thousands. Without it a
    comma is only accepted as a thousands separator in ``1,234.5`` form.

    Raises :class:`MoneyError` naming ``field`` when the text is not a number.
    """
    if isinstance(text, Decimal):
        if not text.is_finite():
            raise MoneyError(f"{field}: {text} is not a finite number")
        return text
    if isinstance(text, bool) or text is None:
        raise MoneyError(f"{field}: empty value, expected a number such as 0.0123")
    if isinstance(text, int):
        return Decimal(text)
    if isinstance(text, float):
        raise MoneyError(
            f"{field}: got a binary float {text!r}; pass the rate as text or Decimal "
            "so that it stays exact"
        )
    raw = str(text)
    s = raw.strip().replace("\u00a0", "").replace(" ", "")
    s = _CURRENCY_MARKS.sub("", s).strip()
    if decimal_comma:
        if "." in s and not _DOT_THOUSANDS.fullmatch(s):
            # 0.0038 is no thousands grouping: the deck is written with decimal dots, and
            # reading it as 00038 would multiply the rate by 10**k.
            raise MoneyError(
                f"{field}: {raw!r} has a decimal dot but the deck was declared to use a "
                "decimal comma (--decimal-comma); a dot may only group thousands (1.234,5)"
            )
        s = s.replace(".", "").replace(",", ".")
    elif "," in s:
        if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?", s):
            s = s.replace(",", "")
        else:
            raise MoneyError(
                f"{field}: {raw!r} has a comma; if the deck uses a decimal comma, "
                "declare it (--decimal-comma)"
            )
    if not s:
        raise MoneyError(f"{field}: empty value, expected a number such as 0.0123")
    if not _NUMBER.match(s):
        raise MoneyError(f"{field}: {raw!r} is not a number")
    try:
        return Decimal(s)
    except InvalidOperation:  # pragma: no cover - the regex already guards this
        raise MoneyError(f"{field}: {raw!r} is not a number") from None


def to_scaled(amount: Decimal | str | int, *, field: str = "amount") -> int:
    """Convert an exact amount to the scaled integer (``amount * 10**SCALE``).

    Refuses amounts with more than :data:`SCALE` decimal places rather than rounding
    them, however they are spelled (``1e-10``, ``0.0000000001``, ``1e-9999999`` alike),
    and amounts that do not fit a 64-bit integer once scaled (``1e999999``). Computed in
    integers from the Decimal's digits, so no decimal context can round it.
    """
    value = parse_decimal(amount, field=field) if not isinstance(amount, Decimal) else amount
    if not value.is_finite():
        raise MoneyError(f"{field}: {value} is not a finite number")
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    coefficient = "".join(map(str, digits)).lstrip("0")
    if not coefficient:
        return 0
    trimmed = coefficient.rstrip("0")
    exponent += len(coefficient) - len(trimmed)
    if exponent < -SCALE:
        raise MoneyError(
            f"{field}: {_short(value)} has more than {SCALE} decimal places; "
            f"Tandem keeps money exact to {SCALE} places"
        )
    if len(trimmed) + exponent + SCALE > 19:  # at least 10**19 once scaled
        raise MoneyError(f"{field}: {_short(value)} is too large")
    result = int(trimmed) * 10 ** (exponent + SCALE)
    if result >= 2**63:
        raise MoneyError(f"{field}: {_short(value)} is too large")
    return -result if sign else result


def _short(value: Decimal) -> str:
    """An amount for an error message: plain when short, else as written (``1E+999999``)."""
    _, digits, exponent = value.as_tuple()
    if isinstance(exponent, int) and abs(exponent) + len(digits) <= 40:
        return format_money(value)
    return str(value)


def from_scaled(value: int) -> Decimal:
    """Convert a scaled integer back to an exact :class:`~decimal.Decimal` (any size: no
    decimal context rounds it), without trailing zeros."""
    return Decimal(_scaled_text(int(value)))


def _scaled_text(value: int) -> str:
    """A scaled integer as plain decimal text without trailing zeros (``-12.5``, ``1000``)."""
    whole, frac = divmod(abs(value), UNIT)
    text = f"{whole}.{frac:0{SCALE}d}".rstrip("0").rstrip(".") if frac else str(whole)
    return f"-{text}" if value < 0 else text


def format_money(value: Decimal | int, decimals: int | None = None) -> str:
    """Format an amount (Decimal, or a scaled integer) as a plain decimal string.

    The one way Tandem writes money as text (JSON, CSV, tables, messages): never an
    exponent (``610``, ``1000``, ``0.0061``), ``0`` for any zero, exact at any size (no
    decimal context is involved). With ``decimals`` the string is padded to that many
    places (never rounded: round first with a :class:`MoneyPolicy`). Without it, trailing
    zeros are dropped.
    """
    if isinstance(value, bool):
        raise MoneyError(f"{value!r} is not an amount")
    if isinstance(value, Integral):  # numpy integers included
        if decimals is None:
            return _scaled_text(int(value))
        d = from_scaled(int(value))
    elif isinstance(value, Decimal):
        d = value
        if not d.is_finite():
            raise MoneyError(f"{d} is not a finite amount")
    else:
        raise MoneyError(f"{value!r} is not an amount")
    if decimals is not None:
        if d != d.quantize(Decimal(1).scaleb(-decimals), ROUND_DOWN, context=_WIDE):
            raise MoneyError(f"{format_money(d)} has more than {decimals} decimals; round it first")
        text = f"{d:.{decimals}f}"
    else:
        text = format(d, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    if text.lstrip("-").strip("0.") == "":
        return "0" if decimals is None else text.lstrip("-")
    return text


#: A decimal context wide enough for any amount Tandem handles (quantize never rounds).
_WIDE = Context(prec=100, Emax=MAX_EMAX, Emin=MIN_EMIN)
