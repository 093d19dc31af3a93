"""One grammar for instants: what every ``--at``, ``--from``, ``--until``, ``--now``,
``--effective`` and every library ``at=`` accepts, and the one way Tandem prints an instant.

An instant is a whole number of seconds since ``1970-01-01T00:00:00Z`` (UTC epoch seconds,
POSIX time), from ``0001-01-01T00:00:00Z`` to ``9999-12-31T23:59:59Z``.
:func:`parse_instant` reads:

* an aware :class:`~datetime.datetime` (a naive one is refused: time is never implicit,
  DESIGN.md invariant 3);
* a :class:`~datetime.date`: its midnight, UTC (or in the time zone ``tz``);
* an ``int`` (numpy integers too): epoch seconds;
* text, ISO 8601 extended format (RFC 3339 profile):

  - a date alone, ``2026-11-28``: midnight UTC (or midnight in ``tz``, the command's
    ``--timezone`` where it has one);
  - a date-time with a zone, ``2026-11-28T09:30:00Z``, ``2026-11-28T10:30:00+01:00``
    (also ``+0100``, ``+01``, a space for ``T``, no seconds ``09:30Z``; a fraction of a
    second is dropped: instants are whole seconds);
  - epoch seconds as digits, ``1795824000``.

Everything else (a date-time without a zone, ``20261128``, ``yesterday``, ``bool``,
``float``, a date outside the calendar or the range) raises :class:`InstantError`, always
with the same message: the value, why, and the accepted forms.

:func:`format_instant` prints ``2026-11-28T09:30:00Z`` (UTC, whole seconds), which
:func:`parse_instant` reads back; :data:`OPEN_END`, the end of a validity window that no
stored change closes, prints ``open``.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from numbers import Integral
from operator import index
from typing import TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tandem.errors import InstantError

__all__ = [
    "OPEN_END",
    "LAST_INSTANT",
    "InstantLike",
    "parse_instant",
    "format_instant",
    "now_instant",
]

#: What :func:`parse_instant` takes.
InstantLike: TypeAlias = datetime | date | int | str

#: End of a validity window no stored change closes (int64 max); prints ``open``.
#: ``-OPEN_END`` is the start of a window nothing opened; it prints ``the beginning``.
OPEN_END = 2**63 - 1

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_SECOND = timedelta(seconds=1)
#: Earliest and latest instants: 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
_FIRST = -62_135_596_800
_LAST = 253_402_300_799
#: The latest instant, 9999-12-31T23:59:59Z: a stored change after it never comes.
LAST_INSTANT = _LAST

_TEXT = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})"
    r"(?:[Tt ](?P<h>[0-9]{2}):(?P<mi>[0-9]{2})(?::(?P<s>[0-9]{2})(?:[.,][0-9]+)?)?"
    r"(?P<zone>[Zz]|(?P<sign>[+-])(?P<oh>[0-9]{2})(?::?(?P<om>[0-9]{2}))?)?)?"
)
_DIGITS = re.compile(r"[0-9]+")


def _refuse(value: object, reason: str, tz: str | tzinfo | None = None) -> InstantError:
    """The one message every refused instant gets."""
    shown = value.isoformat() if isinstance(value, date) else value
    midnight = "UTC" if _is_utc(tz) else f"in {tz}"
    return InstantError(
        f"{shown!r} is not an instant ({reason}): give an ISO 8601 date (2026-11-28, "
        f"midnight {midnight}), a date-time with a zone (2026-11-28T09:30:00Z, "
        "2026-11-28T10:30:00+01:00) or epoch seconds (1795824000)"
    )


def _is_utc(tz: str | tzinfo | None) -> bool:
    if tz is None or tz is UTC:
        return True
    return isinstance(tz, str) and tz.strip().upper() in ("UTC", "Z", "GMT", "ETC/UTC")


def _zone(value: object, tz: str | tzinfo | None) -> tzinfo:
    """The zone a date alone is read in: ``tz`` (an IANA name or a tzinfo), else UTC."""
    if _is_utc(tz):
        return UTC
    if isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(str(tz).strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise _refuse(
            value, f"unknown time zone {tz!r}: use an IANA name such as Europe/London", tz
        ) from None


def _in_range(value: object, t: int, tz: str | tzinfo | None) -> int:
    if not _FIRST <= t <= _LAST:
        raise _refuse(value, "out of range: years 1 to 9999", tz)
    return t


def _seconds(value: object, moment: datetime, tz: str | tzinfo | None) -> int:
    """Epoch seconds of an aware datetime, floored to the second, exactly (no float)."""
    return _in_range(value, (moment - _EPOCH) // _SECOND, tz)


def parse_instant(value: object, *, tz: str | tzinfo | None = None) -> int:
    """UTC epoch seconds of ``value`` (see the module docstring for the grammar).

    ``tz`` (an IANA name such as ``Europe/London``, or a :class:`~datetime.tzinfo`) is the
    zone of a date given alone; without it a date is midnight UTC. It never applies to a
    date-time: one without a zone is refused. Raises :class:`~tandem.errors.InstantError`.
    """
    if type(value) is int:  # the common case first: epoch seconds
        if _FIRST <= value <= _LAST:
            return value
        raise _refuse(value, "out of range: years 1 to 9999", tz)
    if isinstance(value, bool):
        raise _refuse(value, "a bool, not a time", tz)
    if isinstance(value, Integral):  # numpy integers and other exact integers
        return _in_range(value, index(value), tz)
    if isinstance(value, datetime):
        try:
            offset = value.utcoffset()
        except ValueError:  # pandas' NaT ("not a time") is a datetime without a value
            raise _refuse(value, "not a time", tz) from None
        if offset is None:
            raise _refuse(value, "no time zone", tz)
        return _seconds(value, value, tz)
    if isinstance(value, date):
        midnight = datetime(value.year, value.month, value.day, tzinfo=_zone(value, tz))
        return _seconds(value, midnight, tz)
    if value is None:
        raise _refuse(value, "nothing given", tz)
    if isinstance(value, float):
        raise _refuse(value, "a float: epoch seconds are a whole number, an int", tz)
    if not isinstance(value, str):
        raise _refuse(value, f"a {type(value).__name__}", tz)
    return _parse_text(value, tz)


def _parse_text(value: str, tz: str | tzinfo | None) -> int:
    text = value.strip()
    if not text:
        raise _refuse(value, "empty", tz)
    if _DIGITS.fullmatch(text):
        return _in_range(value, int(text), tz)
    m = _TEXT.fullmatch(text)
    if m is None:
        raise _refuse(value, "unreadable", tz)
    y, mo, d = int(m["y"]), int(m["mo"]), int(m["d"])
    if m["h"] is None:
        zone = _zone(value, tz)
        h = mi = s = 0
    elif m["zone"] is None:
        raise _refuse(value, "no time zone", tz)
    else:
        h, mi, s = int(m["h"]), int(m["mi"]), int(m["s"] or 0)
        if m["zone"] in ("Z", "z"):
            zone = UTC
        else:
            minutes = int(m["oh"]) * 60 + int(m["om"] or 0)
            if int(m["om"] or 0) >= 60 or minutes >= 24 * 60:
                raise _refuse(value, f"no such UTC offset {m['zone']}", tz)
            zone = timezone(timedelta(minutes=-minutes if m["sign"] == "-" else minutes))
    try:
        moment = datetime(y, mo, d, h, mi, s, tzinfo=zone)
    except ValueError:
        raise _refuse(value, "no such date or time of day", tz) from None
    return _seconds(value, moment, tz)


def format_instant(instant: int | datetime) -> str:
    """``2026-11-28T09:30:00Z``: the instant in UTC, whole seconds (ISO 8601 / RFC 3339).

    Takes epoch seconds or an aware datetime. :data:`OPEN_END` (and beyond) prints
    ``open`` and ``-OPEN_END`` ``the beginning``: the ends of a validity window.
    """
    if type(instant) is int and 0 <= instant <= _LAST:
        # the usual instant (1970 to 9999), without datetime arithmetic (a fraud scan
        # prints tens of thousands): the same text (property-tested against the datetime
        # path)
        day, second = divmod(instant, 86_400)
        hour, second = divmod(second, 3600)
        minute, second = divmod(second, 60)
        return f"{_day_text(day)}T{hour:02d}:{minute:02d}:{second:02d}Z"
    if isinstance(instant, Integral) and not isinstance(instant, bool):
        t = index(instant)
        if t >= OPEN_END:
            return "open"
        if t <= -OPEN_END:
            return "the beginning"
    t = parse_instant(instant)
    return (_EPOCH_NAIVE + timedelta(seconds=t)).isoformat() + "Z"


@lru_cache(maxsize=4096)
def _day_text(day: int) -> str:
    """``2026-11-28``: the UTC date of day ``day`` since 1970-01-01 (:func:`time.gmtime`)."""
    tm = time.gmtime(day * 86_400)
    return f"{tm.tm_year:04d}-{tm.tm_mon:02d}-{tm.tm_mday:02d}"


def now_instant() -> int:
    """The clock's current instant, UTC epoch seconds: for edges that default to now
    (``tandem route`` without ``--at``, a deck's import instant), never implied deeper."""
    return int(time.time())
