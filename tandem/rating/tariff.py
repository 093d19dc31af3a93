"""Tariff arithmetic: from a call's duration to its exact cost.

The rules a wholesale contract writes, each one explicit:

* **increments** ``initial/next`` (60/60, 1/1, 30/6, 60/1 ...): the first
  ``initial`` seconds are billed whole as soon as the call is answered, then every
  started ``next`` seconds is billed whole;
* **minimum duration**: a shorter call is billed as if it lasted that long;
* **connect fee**: a fixed amount per answered call;
* **grace period**: a call that lasts ``grace`` seconds or less is free (no connect fee
  either); the default grace is 0, so only zero-second calls are free;
* **tiered intervals** (the model CGRateS uses): the rate itself changes at points in the
  call, e.g. the first 60 s at 0.10/min billed per 60 s, then 0.05/min billed per second.
  A flat deck row is the two-interval case ``[(0, rate, initial), (initial, rate, next)]``.
  Each interval bills the part of the call that falls in it, rounded up to its own
  increment;
* **rounding**: each call's cost is rounded once, to the deck's decimals with its
  rounding mode.

Money is integers scaled by :data:`tandem.money.SCALE`. The exact cost is
``connect_fee + sum(rate_i * billed_i) / 60``; it is kept as the remainder-free numerator
``60 * connect_fee + sum(rate_i * billed_i)`` and rounded once with
:func:`tandem.money.round_scaled`, so nothing is lost to intermediate rounding. The
vectorised twins of these functions (``*_array``) do the same over numpy int64 arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np

from tandem.errors import ConfigError
from tandem.money import SCALE, Rounding, round_scaled

__all__ = [
    "Interval",
    "Tariff",
    "flat_intervals",
    "billed_seconds",
    "interval_billing",
    "cost_scaled",
    "ROUNDING_CODES",
    "rounding_code",
    "round_scaled_array",
    "flat_billed_array",
]

#: An int64 array, or one integer that holds for every element.
Ints: TypeAlias = np.ndarray | int | np.integer


@dataclass(frozen=True, slots=True)
class Interval:
    """One rating interval: from second ``start`` of the call, ``rate`` per minute (scaled
    int) billed in blocks of ``increment`` seconds."""

    start: int
    rate: int
    increment: int

    def __post_init__(self) -> None:
        if self.start < 0:
            raise ConfigError(f"interval start must be >= 0 seconds, got {self.start}")
        if self.increment < 0:
            raise ConfigError(f"interval increment must be >= 0 seconds, got {self.increment}")


def _inc(increment: int) -> int:
    """An increment of 0 (seen in some decks) means per-second billing."""
    return increment if increment > 0 else 1


def flat_intervals(rate: int, initial_increment: int, next_increment: int) -> tuple[Interval, ...]:
    """The intervals of a flat deck row: ``initial`` seconds billed whole, then ``next``."""
    initial = _inc(initial_increment)
    return (Interval(0, rate, initial), Interval(initial, rate, _inc(next_increment)))


@dataclass(frozen=True, slots=True)
class Tariff:
    """Everything needed to price one call of one prefix on one side.

    ``intervals`` start with one at second 0, in increasing ``start`` order.
    """

    intervals: tuple[Interval, ...]
    connect_fee: int = 0
    min_duration: int = 0
    grace: int = 0
    decimals: int = 4
    rounding: Rounding = Rounding.HALF_UP
    period: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.intervals or self.intervals[0].start != 0:
            raise ConfigError("a tariff's intervals must begin with one starting at second 0")
        starts = [i.start for i in self.intervals]
        if any(b <= a for a, b in zip(starts, starts[1:], strict=False)):
            raise ConfigError(f"interval starts must increase strictly, got {starts}")
        if not 0 <= self.decimals <= SCALE:
            raise ConfigError(f"decimals must be between 0 and {SCALE}, got {self.decimals}")
        object.__setattr__(self, "rounding", Rounding.parse(self.rounding))

    @classmethod
    def flat(
        cls,
        rate: int,
        *,
        initial_increment: int = 60,
        next_increment: int = 60,
        connect_fee: int = 0,
        min_duration: int = 0,
        grace: int = 0,
        decimals: int = 4,
        rounding: Rounding | str = Rounding.HALF_UP,
    ) -> Tariff:
        """A flat deck row's tariff."""
        return cls(
            flat_intervals(rate, initial_increment, next_increment),
            connect_fee=connect_fee,
            min_duration=min_duration,
            grace=grace,
            decimals=decimals,
            rounding=Rounding.parse(rounding),
        )

    def price(self, duration: int) -> tuple[int, int]:
        """``(billed_seconds, cost)`` for a call of ``duration`` seconds (cost scaled)."""
        return cost_scaled(self, duration)


def interval_billing(intervals: Sequence[Interval], seconds: int) -> list[int]:
    """Seconds billed in each interval for a call of ``seconds`` (already >= minimum)."""
    out = []
    for k, iv in enumerate(intervals):
        end = intervals[k + 1].start if k + 1 < len(intervals) else None
        part = seconds - iv.start
        if end is not None:
            part = min(part, end - iv.start)
        if part <= 0:
            out.append(0)
            continue
        inc = _inc(iv.increment)
        out.append(-(-part // inc) * inc)
    return out


def billed_seconds(
    duration: int, initial_increment: int, next_increment: int, min_duration: int = 0
) -> int:
    """Billed seconds of a flat row: ``max(duration, min_duration)`` rounded up to the
    ``initial`` block, then to ``next`` blocks. Zero for a zero-second call."""
    if duration <= 0:
        return 0
    return sum(
        interval_billing(
            flat_intervals(0, initial_increment, next_increment), max(duration, min_duration)
        )
    )


def cost_scaled(tariff: Tariff, duration: int) -> tuple[int, int]:
    """``(billed_seconds, cost)`` of a call under ``tariff``, cost exact then rounded once."""
    if duration <= tariff.grace or duration <= 0:
        return 0, 0
    seconds = max(duration, tariff.min_duration)
    billed = interval_billing(tariff.intervals, seconds)
    numerator = 60 * tariff.connect_fee + sum(
        iv.rate * b for iv, b in zip(tariff.intervals, billed, strict=True)
    )
    step = 60 * 10 ** (SCALE - tariff.decimals)
    return sum(billed), round_scaled(numerator, step, tariff.rounding) // 60


# -- vectorised twins ---------------------------------------------------------------------

#: Small integer codes of the rounding modes, for arrays.
ROUNDING_CODES: dict[Rounding, int] = {m: i for i, m in enumerate(Rounding)}


def rounding_code(mode: Rounding | str) -> int:
    """The code of a rounding mode in :data:`ROUNDING_CODES`."""
    return ROUNDING_CODES[Rounding.parse(mode)]


def round_scaled_array(
    value: np.ndarray, step: Ints, mode: Ints, unit: Ints | None = None
) -> np.ndarray:
    """:func:`tandem.money.round_scaled` over int64 arrays (``mode`` as rounding codes;
    ``step`` and ``mode`` may be arrays or one value for all). With ``unit``, the rounded
    value is returned in multiples of ``unit`` per step instead: ``rounded // step * unit``
    (a cost numerator rounded and divided by 60 in one pass, without a second division)."""
    q = np.floor_divide(value, step)
    r = value - q * step
    if np.isscalar(mode) or np.ndim(mode) == 0:
        up = _round_up(Rounding(list(ROUNDING_CODES)[int(mode)]), value, q, r, step)
    else:
        up = np.zeros(value.shape, dtype=bool)
        for m, code in ROUNDING_CODES.items():
            sel = np.asarray(mode) == code
            if sel.any():
                up |= sel & _round_up(m, value, q, r, step)
    up &= r != 0
    q += up
    q *= step if unit is None else unit
    return q


def _round_up(
    m: Rounding, value: np.ndarray, q: np.ndarray, r: np.ndarray, step: Ints
) -> np.ndarray:
    if m is Rounding.CEILING:
        return np.ones(value.shape, dtype=bool)
    if m is Rounding.FLOOR:
        return np.zeros(value.shape, dtype=bool)
    if m is Rounding.UP:
        return value >= 0
    if m is Rounding.DOWN:
        return value < 0
    twice = 2 * r
    if m is Rounding.HALF_UP:
        return (twice > step) | ((twice == step) & (value >= 0))
    return (twice > step) | ((twice == step) & (q % 2 == 1))  # half-even


def flat_billed_array(
    duration: np.ndarray, initial: Ints, nxt: Ints, min_duration: Ints
) -> np.ndarray:
    """:func:`billed_seconds` over int64 arrays (no Python loop).

    Durations are at most 10**6 s, so the block count is computed exactly in float64
    (a quotient of two integers below 2**31 is never within rounding of a wrong integer).
    """
    initial = np.where(initial > 0, initial, 1)
    nxt = np.where(nxt > 0, nxt, 1)
    if np.ndim(min_duration) == 0 and min_duration <= 0:
        seconds = duration
    else:
        seconds = np.maximum(duration, min_duration)
    if np.ndim(nxt) == 0 and nxt == 1:  # per-second after the first block
        billed = np.maximum(seconds, initial)
    else:
        rest = np.maximum(seconds - initial, 0)
        billed = np.ceil(rest / nxt).astype(np.int64)
        billed *= nxt
        billed += initial
    billed[duration <= 0] = 0
    return billed
