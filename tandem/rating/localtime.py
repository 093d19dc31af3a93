"""Local wall-clock times of CDRs (written without a zone) to UTC, saying when the clock lies.

Asterisk, FreeSWITCH and Kamailio write local time. Twice a year the wall clock does not
name one instant:

* when DST ends, an hour repeats (``01:30`` in America/New_York on 2026-11-01 happens at
  05:30Z and again at 06:30Z): the time is **ambiguous**;
* when DST begins, an hour is skipped (``02:30`` on 2026-03-08 never happens there): the
  time is **nonexistent**.

A wall time is given here as *wall seconds*: the epoch seconds the same clock reading
would be in UTC (``2026-11-01 01:30:00`` → ``1793496600``). :func:`resolve_local` reads one
(the scalar path, Python's :mod:`zoneinfo` with ``fold``); :func:`localize` reads a whole
array (the vectorised path: pandas over the common case, :func:`resolve_local` for the few
ambiguous, nonexistent or out-of-range values), so both agree on every value.

An ambiguous start is decided with the CDR's own end time and call length where it has
them (:func:`disambiguate`: the start whose ``start + duration`` equals the end, or the only
start not after the end); otherwise the first occurrence is kept and the CDR carries the
note :data:`AMBIGUOUS`. A nonexistent start is not shifted: the CDR has no start (it is
unrated ``bad_time``) and carries the note :data:`NONEXISTENT`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

__all__ = [
    "AMBIGUOUS",
    "RESOLVED",
    "NONEXISTENT",
    "TIME_NOTES",
    "Localized",
    "resolve_local",
    "localize",
    "disambiguate",
]

#: ``time_note`` of a CDR whose start fell in a repeated hour that its end time and
#: duration could not decide: the first occurrence was taken.
AMBIGUOUS = "ambiguous_local_time"
#: ``time_note`` of a CDR whose start fell in a repeated hour and was decided by its end
#: time (and duration).
RESOLVED = "ambiguous_local_time_resolved"
#: ``time_note`` of a CDR whose start fell in the skipped hour (no such local time): it
#: has no start and is unrated ``bad_time``.
NONEXISTENT = "nonexistent_local_time"
#: Every time note, in the order the rating summary lists them.
TIME_NOTES = (AMBIGUOUS, RESOLVED, NONEXISTENT)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_SECOND = timedelta(seconds=1)
#: Wall seconds pandas localises on its nanosecond clock (a day inside 1678..2262);
#: values beyond are read by :func:`resolve_local`, one by one.
_PANDAS_LOW = -9_223_285_636
_PANDAS_HIGH = 9_223_285_636

# Kinds of a wall time: 0 plain, 1 ambiguous, 2 nonexistent, 3 unreadable.
_PLAIN, _AMBIG, _GAP, _BAD = 0, 1, 2, 3


def resolve_local(wall: int, zone: ZoneInfo) -> tuple[int | None, int | None, str | None]:
    """``(first, second, note)`` for one wall time in ``zone``: the UTC epoch seconds of
    its first occurrence, of its second occurrence (None unless it is ambiguous), and the
    note (None, :data:`AMBIGUOUS` or :data:`NONEXISTENT`). A wall time outside the
    calendar (years 1..9999) gives ``(None, None, None)``."""
    try:
        local = _EPOCH_NAIVE + timedelta(seconds=int(wall))
        first = (local.replace(tzinfo=zone, fold=0) - _EPOCH) // _SECOND
        second = (local.replace(tzinfo=zone, fold=1) - _EPOCH) // _SECOND
        back = (_EPOCH + timedelta(seconds=first)).astimezone(zone).replace(tzinfo=None)
    except (OverflowError, ValueError):
        return None, None, None
    if back != local:  # the clock never showed it
        return None, None, NONEXISTENT
    if second != first:
        lo, hi = min(first, second), max(first, second)
        return lo, hi, AMBIGUOUS
    return first, None, None


@dataclass
class Localized:
    """What :func:`localize` returns, one entry per wall time."""

    #: UTC epoch seconds (the first occurrence when ambiguous; 0 where not ``valid``).
    utc: np.ndarray
    #: Whether ``utc`` is a time (False: missing, nonexistent or outside the calendar).
    valid: np.ndarray
    #: 0 plain, 1 ambiguous, 2 nonexistent, 3 unreadable (outside the calendar).
    kind: np.ndarray
    #: The second occurrence of the ambiguous ones (0 elsewhere).
    second: np.ndarray


def localize(wall: np.ndarray, present: np.ndarray, timezone: str) -> Localized:
    """UTC epoch seconds of the wall times ``wall`` (int64) in ``timezone``; ``present``
    masks the values that exist at all. Vectorised; agrees with :func:`resolve_local`."""
    wall = np.asarray(wall, dtype=np.int64)
    n = len(wall)
    utc = np.where(present, wall, 0).astype(np.int64)
    valid = np.asarray(present, dtype=bool).copy()
    kind = np.zeros(n, dtype=np.int8)
    second = np.zeros(n, dtype=np.int64)
    if timezone == "UTC" or n == 0 or not valid.any():
        return Localized(utc, valid, kind, second)
    inside = valid & (wall > _PANDAS_LOW) & (wall < _PANDAS_HIGH)
    scalar = valid & ~inside
    if inside.any():
        import pandas as pd

        idx = pd.DatetimeIndex(wall[inside].astype("datetime64[s]").astype("datetime64[ns]"))
        loc = idx.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
        ns = loc.asi8
        nat = np.asarray(loc.isna())
        rows = np.flatnonzero(inside)
        utc[rows[~nat]] = ns[~nat] // 1_000_000_000
        scalar[rows[nat]] = True  # the repeated or skipped hour: read one by one
    if scalar.any():
        zone = ZoneInfo(timezone)
        for i in np.flatnonzero(scalar):
            first, other, note = resolve_local(int(wall[i]), zone)
            if first is None:
                valid[i] = False
                utc[i] = 0
                kind[i] = _GAP if note == NONEXISTENT else _BAD
            else:
                utc[i] = first
                if other is not None:
                    kind[i] = _AMBIG
                    second[i] = other
    return Localized(utc, valid, kind, second)


def disambiguate(
    start: Localized,
    end: Localized | None,
    length: np.ndarray | None,
    length_ok: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Decide the ambiguous starts of ``start`` with the CDRs' end times and call lengths
    (seconds from start to end; ``length_ok`` masks the known ones). Returns the start
    (UTC epoch seconds) and the note of each CDR (an object array, None for most).

    A start candidate fits when some reading of the end time is ``length`` seconds after
    it (within 1 s, for fractions rounded away), or, without a length, not before it. One
    fitting candidate decides (:data:`RESOLVED`); otherwise the first occurrence is kept
    (:data:`AMBIGUOUS`)."""
    utc = start.utc.copy()
    notes = np.full(len(utc), None, dtype=object)
    notes[start.kind == _GAP] = NONEXISTENT
    for i in np.flatnonzero(start.kind == _AMBIG):
        candidates = (int(start.utc[i]), int(start.second[i]))
        ends: list[int] = []
        if end is not None and end.valid[i]:
            ends.append(int(end.utc[i]))
            if end.kind[i] == _AMBIG:
                ends.append(int(end.second[i]))
        known = length is not None and length_ok is not None and bool(length_ok[i])
        fits = []
        for s in candidates:
            for e in ends:
                ok = abs(e - s - int(length[i])) <= 1 if known else e >= s  # type: ignore[index]
                if ok:
                    fits.append(s)
                    break
        if len(fits) == 1:
            utc[i] = fits[0]
            notes[i] = RESOLVED
        else:
            notes[i] = AMBIGUOUS
    return utc, notes
