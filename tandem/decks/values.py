"""Reading deck cell values: prefixes and code ranges, exact rates, dates, increments, status.

Every reader takes a column of raw text (a ``pyarrow`` string array) and returns the
values plus a per-row error text (None where the cell is good). Columns are read
without a Python loop per row on the common path: simple numbers are converted in
Arrow, and the few distinct values of dates, increments and status words are parsed
once each.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from tandem.errors import DeckError, InstantError, MoneyError
from tandem.instant import parse_instant
from tandem.money import MAX_RATE, RATE_LIMIT, SCALE, parse_decimal, to_scaled

__all__ = [
    "MAX_PREFIX_DIGITS",
    "MAX_RANGE_CODES",
    "MAX_DESTINATION_CHARS",
    "DateReader",
    "expand_prefix",
    "read_prefixes",
    "read_money",
    "read_by_value",
    "parse_increment",
    "parse_seconds",
    "parse_status",
    "zone",
]

#: Longest prefix the store holds.
MAX_PREFIX_DIGITS = 16
#: Most codes one range cell may expand to.
MAX_RANGE_CODES = 10_000
#: Longest destination name (characters) the store holds, on SQLite and PostgreSQL alike.
MAX_DESTINATION_CHARS = 128


def _text(col: pa.Array) -> pa.Array:
    return pc.utf8_trim_whitespace(pc.fill_null(col, ""))


def expand_prefix(cell: str) -> list[str]:
    """The codes one prefix cell stands for.

    ``44`` → ``[44]``; ``+44 20`` → ``[4420]``; ``44 20; 44 21`` → ``[4420, 4421]``
    (also comma-separated); ``4420-4425`` → ``[4420, ..., 4425]`` (both ends the same
    length). Raises :class:`ValueError` with the reason when the cell is not digits.
    """
    text = cell.strip()
    if not text:
        raise ValueError("prefix is empty")
    items = [t for t in re.split(r"[;,]", text)]
    codes: list[str] = []
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        if "-" in item.strip("-") and re.fullmatch(r"\+?[0-9 ]+-\s*[0-9 ]+", item):
            low_text, high_text = (p.replace(" ", "").lstrip("+") for p in item.split("-"))
            if len(low_text) != len(high_text):
                raise ValueError(f"range {item!r}: both ends must have the same number of digits")
            low, high = int(low_text), int(high_text)
            if high < low:
                raise ValueError(f"range {item!r} runs backwards")
            if high - low + 1 > MAX_RANGE_CODES:
                raise ValueError(f"range {item!r} has more than {MAX_RANGE_CODES} codes")
            width = len(low_text)
            codes.extend(str(v).zfill(width) for v in range(low, high + 1))
            continue
        code = item.replace(" ", "").replace("\u00a0", "")
        if code.startswith("+"):
            code = code[1:]
        if not code.isascii() or not code.isdigit():
            raise ValueError(f"prefix {raw.strip()!r} is not digits")
        codes.append(code)
    if not codes:
        raise ValueError("prefix is empty")
    if len(codes) > MAX_RANGE_CODES:
        raise ValueError(f"prefix list has more than {MAX_RANGE_CODES} codes")
    for code in codes:
        if len(code) > MAX_PREFIX_DIGITS:
            raise ValueError(f"prefix {code} is longer than {MAX_PREFIX_DIGITS} digits")
    return codes


def read_prefixes(col: pa.Array) -> tuple[np.ndarray, pa.Array, dict[int, str]]:
    """Expand a prefix column: ``(source_row, prefix, errors)``.

    ``source_row[k]`` is the data row that output code ``prefix[k]`` came from (ranges
    give several codes per row); ``errors`` maps a row to its reason. Plain digit cells
    are taken as they are in Arrow; only the others go through :func:`expand_prefix`.
    """
    text = _text(col)
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    n = len(text)
    simple = pc.and_(
        pc.ascii_is_decimal(text), pc.less_equal(pc.utf8_length(text), MAX_PREFIX_DIGITS)
    )
    simple_np = np.asarray(simple.to_numpy(zero_copy_only=False), dtype=bool)
    if simple_np.all():
        return np.arange(n, dtype=np.int64), text, {}
    errors: dict[int, str] = {}
    rows: list[np.ndarray] = []
    values: list[pa.Array] = []
    start = 0
    for i in np.flatnonzero(~simple_np).tolist():
        if start < i:
            rows.append(np.arange(start, i, dtype=np.int64))
            values.append(text.slice(start, i - start))
        start = i + 1
        try:
            expanded = expand_prefix(text[i].as_py())
        except ValueError as exc:
            errors[i] = str(exc)
            continue
        rows.append(np.full(len(expanded), i, dtype=np.int64))
        values.append(pa.array(expanded, type=pa.string()))
    if start < n:
        rows.append(np.arange(start, n, dtype=np.int64))
        values.append(text.slice(start, n - start))
    if not rows:
        return np.zeros(0, dtype=np.int64), pa.array([], type=pa.string()), errors
    return np.concatenate(rows), pa.concat_arrays(values), errors


_PLAIN_MONEY = r"^[+-]?([0-9]{1,9}(\.[0-9]{0,9})?|\.[0-9]{1,9})$"
_DECIMAL = pa.decimal128(18, SCALE)


def _scaled_from_decimal(arr: pa.Array) -> np.ndarray:
    """The unscaled integers of a decimal128(18, 9) array (values fit in int64)."""
    words = np.frombuffer(arr.buffers()[1], dtype=np.int64)
    return words[2 * arr.offset : 2 * (arr.offset + len(arr)) : 2].copy()


def read_money(
    col: pa.Array, *, decimal_comma: bool, what: str, allow_negative: bool = False
) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Exact amounts as scaled int64: ``(values, present, errors)``.

    ``present`` is False where the cell is empty (the caller decides whether that is
    allowed). The column is cast to an exact decimal in Arrow when every cell is a plain
    number; cells Arrow cannot read (``$0.01``, thousands separators, too many digits)
    go through :func:`tandem.money.parse_decimal` one at a time, which also words the
    reason when a cell is not a number.
    """
    text = _text(col)
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    n = len(text)
    present_arr = pc.not_equal(text, "")
    filled = pc.if_else(present_arr, text, "0")
    if decimal_comma:
        # "1.234,5" (thousands dots) goes the slow way; "0,0123" becomes "0.0123".
        filled = pc.if_else(
            pc.match_substring(filled, "."), "x", pc.replace_substring(filled, ",", ".")
        )
    present = np.asarray(present_arr.to_numpy(zero_copy_only=False), dtype=bool)
    try:
        # A cell with an exponent never reaches Arrow's cast (pyarrow 26 crashes the
        # process on '1e-9999999'): such cells go through parse_decimal below.
        if pc.any(pc.match_substring(filled, "e", ignore_case=True)).as_py():
            raise pa.ArrowInvalid("an exponent")
        values = _scaled_from_decimal(pc.cast(filled, _DECIMAL))
        fast = np.ones(n, dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        mask = pc.match_substring_regex(filled, _PLAIN_MONEY)
        values = _scaled_from_decimal(pc.cast(pc.if_else(mask, filled, "0"), _DECIMAL))
        fast = np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)
    errors: dict[int, str] = {}
    if not allow_negative:
        for i in np.flatnonzero(fast & present & (values < 0)).tolist():
            errors[i] = f"negative {what} {text[i].as_py()}"
    slow = np.flatnonzero(present & ~fast)
    for i in slow.tolist():
        raw = text[i].as_py()
        try:
            amount = parse_decimal(raw, decimal_comma=decimal_comma, field=what)
            if amount < 0 and not allow_negative:
                errors[i] = f"negative {what} {raw}"
                continue
            values[i] = to_scaled(amount, field=what)
        except MoneyError as exc:
            errors[i] = _money_reason(str(exc), what, raw)
        except ArithmeticError:  # 1e999999: beyond what a decimal context scales
            errors[i] = f"{what} {raw!r} is too large"
    for i in np.flatnonzero(present & (np.abs(values) > MAX_RATE)).tolist():
        errors.setdefault(
            i, f"{what} {text[i].as_py()} is above the limit of {RATE_LIMIT} per minute"
        )
    values[~present] = 0
    return values, present, errors


def _money_reason(message: str, what: str, raw: str) -> str:
    if "is not a number" in message or "empty value" in message:
        return f"{what} {raw!r} is not a number"
    if "is too large" in message:
        return f"{what} {raw} is above the limit of {RATE_LIMIT} per minute"
    return message


def read_by_value(
    col: pa.Array, parse: Callable[[str], object], *, fill: object, dtype: npt.DTypeLike = np.int64
) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Apply ``parse`` once per distinct non-empty cell: ``(values, ok, errors)``.

    ``parse`` returns the value (a scalar, or a tuple for several columns) or raises
    :class:`ValueError` with the reason. ``values`` holds ``fill`` where the cell is
    empty or bad; ``ok`` is True where a value was read. Meant for columns with few
    distinct values (dates, increments, status words): no Python work per row.
    """
    text = _text(col)
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    encoded = pc.dictionary_encode(text)
    uniques = encoded.dictionary.to_pylist()
    index = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    parsed: list[object] = []
    good: list[bool] = []
    reasons: dict[int, str] = {}
    for k, value in enumerate(uniques):
        result: object = fill
        ok = False
        if value != "":
            try:
                result = parse(value)
                ok = True
            except ValueError as exc:
                reasons[k] = str(exc)
        parsed.append(result)
        good.append(ok)
    table = np.empty(len(parsed), dtype=object)
    table[:] = parsed
    if dtype is not object:
        table = np.asarray(parsed, dtype=dtype) if parsed else np.zeros(0, dtype=dtype)
    if len(index) == 0:
        shape = (0,) + np.asarray([fill], dtype=dtype).shape[1:]
        return np.zeros(shape, dtype=dtype), np.zeros(0, dtype=bool), {}
    values = table[index]
    ok_rows = np.asarray(good, dtype=bool)[index]
    errors: dict[int, str] = {}
    if reasons:
        for i in np.flatnonzero(np.isin(index, list(reasons))).tolist():
            errors[i] = reasons[int(index[i])]
    return values, ok_rows, errors


# -- increments, seconds, status --------------------------------------------------------

_INCREMENT = re.compile(r"^(\d{1,5})\s*(?:/|\+|-|:|x)\s*(\d{1,5})(?:\s*s(?:ec(?:onds?)?)?)?$")


def parse_increment(text: str) -> tuple[int, int]:
    """Billing increments ``initial/next`` in seconds: ``60/60``, ``1/1``, ``30/6``, ``60``."""
    t = text.strip().lower()
    m = _INCREMENT.match(t)
    if m:
        first, nxt = int(m.group(1)), int(m.group(2))
    else:
        first = nxt = parse_seconds(t, what="increment")
    if first <= 0 or nxt <= 0:
        raise ValueError(f"increment {text!r} must be positive seconds, like 60/60 or 1/1")
    return first, nxt


def parse_seconds(text: str, *, what: str = "duration") -> int:
    """A whole number of seconds (``60``, ``60s``, ``60 sec``, ``60.0``)."""
    t = text.strip().lower()
    m = re.fullmatch(r"(\d{1,6})(?:\.0+)?\s*(?:s|sec|secs|seconds?)?", t)
    if not m:
        raise ValueError(f"{what} {text!r} is not a whole number of seconds")
    return int(m.group(1))


_STATUS = {
    "new": "New",
    "added": "New",
    "add": "New",
    "increase": "Increase",
    "increased": "Increase",
    "inc": "Increase",
    "up": "Increase",
    "decrease": "Decrease",
    "decreased": "Decrease",
    "dec": "Decrease",
    "down": "Decrease",
    "unchanged": "Unchanged",
    "no change": "Unchanged",
    "same": "Unchanged",
    "current": "Unchanged",
    "closed": "Closed",
    "close": "Closed",
    "deleted": "Closed",
    "delete": "Closed",
    "removed": "Closed",
    "remove": "Closed",
    "blocked": "Closed",
    "discontinued": "Closed",
}


def parse_status(text: str) -> str:
    """A vendor's change word as ``New``, ``Increase``, ``Decrease``, ``Unchanged``, ``Closed``."""
    key = re.sub(r"\s+", " ", text.strip().lower().replace("_", " ").replace("-", " "))
    if key in _STATUS:
        return _STATUS[key]
    raise ValueError(
        f"status {text!r} is not one of New, Increase, Decrease, Unchanged, Closed "
        "(Deleted/Removed)"
    )


# -- dates ---------------------------------------------------------------------------------

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("jan", "january", "janv", "janvier", "januar", "ene", "enero", "gen"),
            ("feb", "february", "fev", "fevr", "février", "fév", "févr", "februar", "febrero"),
            ("mar", "march", "mars", "märz", "marz", "marzo"),
            ("apr", "april", "avr", "avril", "abr", "abril", "aprile"),
            ("may", "mai", "mayo", "maggio"),
            ("jun", "june", "juin", "juni", "junio", "giu"),
            ("jul", "july", "juil", "juillet", "juli", "julio", "lug"),
            ("aug", "august", "aout", "août", "ago", "agosto"),
            ("sep", "sept", "september", "septembre", "septiembre", "set"),
            ("oct", "october", "octobre", "oktober", "octubre", "okt", "ott"),
            ("nov", "november", "novembre", "noviembre"),
            (
                "dec",
                "december",
                "déc",
                "décembre",
                "decembre",
                "dez",
                "dezember",
                "dic",
                "diciembre",
            ),
        ]
    )
    for m in names
}

_ISO = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
    r"\s*(Z|UTC|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)
_NUMERIC = re.compile(
    r"^(\d{1,4})([/.\-])(\d{1,2})\2(\d{2,4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$"
)
_NAMED = re.compile(
    r"^(\d{1,2})[\s\-/.]+([^\W\d_]+)\.?[\s\-/.,]+(\d{2,4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$"
)
_NAMED_US = re.compile(r"^([^\W\d_]+)\.?\s+(\d{1,2}),?\s+(\d{4})$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_EXCEL_EPOCH = datetime(1899, 12, 30)


def zone(name: str | None) -> ZoneInfo | None:
    """The IANA time zone ``name`` (None or ``UTC`` mean UTC). Raises DeckError if unknown."""
    if name is None or name.upper() in ("UTC", "Z", "GMT"):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DeckError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/London"
        ) from None


class DateReader:
    """Reads the effective dates vendors write, to UTC epoch seconds.

    ``2026-12-01`` (and with a time, ``Z`` or an offset), ``01/12/2026`` and
    ``12/01/2026`` (``day_first`` True / False; None decides from the column and refuses
    when every date is ambiguous), ``01.12.2026`` (always day first), ``01-Dec-2026``,
    ``1 Dec 26``, ``Dec 1, 2026``, ``20261201``, Excel date cells and serial day numbers
    (spreadsheets only), or an explicit ``strftime`` ``date_format``. Dates without a
    zone are read in ``timezone`` (IANA name; default UTC).
    """

    def __init__(
        self,
        *,
        day_first: bool | None = None,
        date_format: str | None = None,
        timezone: str | None = None,
        excel_serials: bool = False,
    ) -> None:
        self.day_first = day_first
        self.date_format = date_format
        self.tz = zone(timezone)
        self.excel_serials = excel_serials

    def decide_order(self, samples: list[str]) -> None:
        """Settle day-first vs month-first from a column's distinct values, if not given."""
        if self.day_first is not None or self.date_format:
            return
        day_first_seen = month_first_seen = ambiguous = False
        for s in samples:
            m = _NUMERIC.match(s.strip())
            if not m or len(m.group(1)) == 4 or m.group(2) == ".":
                continue
            a, b = int(m.group(1)), int(m.group(3))
            if a > 12 >= b:
                day_first_seen = True
            elif b > 12 >= a:
                month_first_seen = True
            elif a != b:
                ambiguous = True
        if day_first_seen and month_first_seen:
            raise DeckError(
                "the effective dates mix day-first (31/12/2026) and month-first (12/31/2026) "
                "forms; fix the file or pass --date-format"
            )
        if day_first_seen:
            self.day_first = True
        elif month_first_seen:
            self.day_first = False
        elif ambiguous:
            raise DeckError(
                "effective dates such as 01/12/2026 are ambiguous: pass --dayfirst "
                "(1 December) or --monthfirst (12 January)"
            )

    def _local(self, y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> int:
        naive = datetime(y, mo, d, h, mi, s)
        if self.tz is None:
            return int(naive.replace(tzinfo=UTC).timestamp())
        return int(naive.replace(tzinfo=self.tz).timestamp())

    def __call__(self, text: str) -> int:
        """Epoch seconds of one date cell; ValueError with the reason if unreadable."""
        t = text.strip()
        try:
            seconds = self._parse(t)
        except (ValueError, OverflowError) as exc:
            if str(exc).startswith("effective date"):
                raise
            raise ValueError(f"effective date {text!r} is not a date ({exc})") from None
        try:
            return parse_instant(seconds)
        except InstantError:
            raise ValueError(
                f"effective date {text!r} is out of range: an effective date must fall "
                "between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"
            ) from None

    def _parse(self, t: str) -> int:
        if self.date_format:
            try:
                dt = datetime.strptime(t, self.date_format)
            except ValueError:
                raise ValueError(
                    f"effective date {t!r} does not match --date-format {self.date_format}"
                ) from None
            if dt.tzinfo is not None:
                return int(dt.timestamp())
            return self._local(dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second)
        m = _ISO.match(t)
        if m:
            y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
            h, mi, s = (int(g) if g else 0 for g in m.group(4, 5, 6))
            offset = m.group(7)
            if offset is None:
                return self._local(y, mo, d, h, mi, s)
            base = int(datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp())
            if offset.upper() in ("Z", "UTC"):
                return base
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            delta = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
            return base - delta
        m = _NUMERIC.match(t)
        if m:
            a, sep, b, c = m.group(1), m.group(2), m.group(3), m.group(4)
            h, mi, s = (int(g) if g else 0 for g in m.group(5, 6, 7))
            if len(a) == 4:  # 2026/12/01
                return self._local(int(a), int(b), int(c), h, mi, s)
            year = _year(c)
            if sep == "." or self.day_first:
                return self._local(year, int(b), int(a), h, mi, s)
            if self.day_first is None:
                if int(a) > 12:
                    return self._local(year, int(b), int(a), h, mi, s)
                if int(b) > 12 or a == b:
                    return self._local(year, int(a), int(b), h, mi, s)
                raise ValueError(
                    f"effective date {t!r} is ambiguous: pass --dayfirst or --monthfirst"
                )
            return self._local(year, int(a), int(b), h, mi, s)
        m = _NAMED.match(t)
        if m:
            month = _month(m.group(2))
            h, mi, s = (int(g) if g else 0 for g in m.group(4, 5, 6))
            return self._local(_year(m.group(3)), month, int(m.group(1)), h, mi, s)
        m = _NAMED_US.match(t)
        if m:
            return self._local(int(m.group(3)), _month(m.group(1)), int(m.group(2)))
        m = _COMPACT.match(t)
        if m:
            return self._local(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if self.excel_serials and re.fullmatch(r"\d{5}(\.\d+)?", t):
            serial = Decimal(t)
            days = int(serial)
            seconds = int((serial - days) * 86400)
            dt = _EXCEL_EPOCH + timedelta(days=days, seconds=seconds)
            return self._local(dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second)
        raise ValueError(f"effective date {t!r} is not a date")


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        return 2000 + year
    if len(text) != 4:
        raise ValueError(f"year {text!r} is not a year")
    return year


def _month(text: str) -> int:
    key = text.strip().lower().rstrip(".")
    if key in _MONTHS:
        return _MONTHS[key]
    raise ValueError(f"{text!r} is not a month name")
