"""Tariff plans: what a flat rate deck cannot say (grace, tiers, peak/off-peak periods).

A deck row in the store is one flat rate per prefix. A *tariff plan* is a small TOML file,
keyed by account, that adds the rest of a contract::

    [customer."acme-telecom"]
    grace = 5                                   # calls of 5 s or less are free

    [customer."acme-telecom".periods]           # in the deck's time zone
    weekend = { days = ["sat", "sun"] }
    offpeak = { days = ["mon", "tue", "wed", "thu", "fri"], from = "19:00", until = "07:00" }

    [[customer."acme-telecom".tariffs]]         # UK mobiles: 0.10/min per 60 s, then 0.05/s
    prefix = "447"
    intervals = [
      { start = 0, rate = "0.10", increment = 60 },
      { start = 60, rate = "0.05", increment = 1 },
    ]

    [[customer."acme-telecom".tariffs]]         # every prefix at the weekend: 0.004/min
    prefix = ""
    period = "weekend"
    rate = "0.004"

A tariff applies to every deck prefix that begins with its ``prefix`` (the longest such
tariff prefix wins; ``""`` is every prefix). ``rate`` keeps the deck row's increments;
``intervals`` replace them. The connect fee and minimum duration stay the deck row's.

Periods: a call is in a period when the weekday of its start, in the deck's time zone, is
in ``days`` (default: every day) and its local time of day is in ``[from, until)``
(default the whole day; ``until`` before ``from`` wraps past midnight, still counted on the
start day). The first listed period that matches is the call's period. A call is priced
entirely by the period of its start instant. A tariff with the call's period beats one
without a period, which beats the deck's flat rate.

Bounds (the same as a deck's values, :mod:`tandem.decks.values`): rates from 0 to
:data:`tandem.money.RATE_LIMIT` per minute with at most 9 decimals; increments from 1 to
:data:`MAX_SECONDS` seconds; interval starts and grace from 0 to :data:`MAX_SECONDS`; at
most :data:`MAX_INTERVALS` intervals in a tariff. A value out of bounds is refused with
its key and the limit.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal

from tandem.errors import ConfigError, MoneyError
from tandem.money import MAX_RATE, RATE_LIMIT, format_money, parse_decimal, to_scaled
from tandem.rating.tariff import Interval

__all__ = [
    "Period",
    "PlanTariff",
    "AccountPlan",
    "TariffPlan",
    "load_plan",
    "WEEKDAYS",
    "MAX_SECONDS",
    "MAX_INTERVALS",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")
#: Largest increment, interval start or grace in seconds: six digits, the bound of a deck's
#: increments and minimum duration (:func:`tandem.decks.values.parse_seconds`).
MAX_SECONDS = 999_999
#: Most intervals one tariff may have.
MAX_INTERVALS = 100


@dataclass(frozen=True, slots=True)
class Period:
    """A rate period: ``days`` (0 = Monday) and local minutes ``[start, end)`` of the day."""

    name: str
    days: frozenset[int] = frozenset(range(7))
    start: int = 0
    end: int = 1440

    def contains(self, weekday: int, minute: int) -> bool:
        """Whether a local (weekday, minute of day) falls in this period."""
        if weekday not in self.days:
            return False
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end


@dataclass(frozen=True, slots=True)
class PlanTariff:
    """A tariff of a plan: a prefix, an optional period, and a rate or intervals."""

    prefix: str
    period: str | None = None
    rate: int | None = None
    intervals: tuple[Interval, ...] | None = None


@dataclass(frozen=True, slots=True)
class AccountPlan:
    """The plan of one account (kind + name)."""

    grace: int = 0
    periods: tuple[Period, ...] = ()
    tariffs: tuple[PlanTariff, ...] = ()

    def period_index(self, weekday: int, minute: int) -> int:
        """Index (1-based) of the first matching period, 0 when none matches."""
        for k, p in enumerate(self.periods):
            if p.contains(weekday, minute):
                return k + 1
        return 0

    def tariff_for(self, deck_prefix: str, period: int) -> PlanTariff | None:
        """The plan tariff that applies to a deck prefix in period ``period`` (1-based)."""
        name = self.periods[period - 1].name if period else None
        best: tuple[int, int, PlanTariff] | None = None
        for t in self.tariffs:
            if not deck_prefix.startswith(t.prefix):
                continue
            if t.period is not None and t.period != name:
                continue
            rank = (1 if t.period is not None else 0, len(t.prefix))
            if best is None or rank > best[:2]:
                best = (*rank, t)
        return best[2] if best else None


@dataclass(frozen=True, slots=True)
class TariffPlan:
    """Plans by ``(kind, account)``; an account without one is rated flat with grace 0."""

    accounts: dict[tuple[str, str], AccountPlan] = field(default_factory=dict)
    default_grace: int = 0

    def get(self, kind: str, account: str) -> AccountPlan:
        """The plan of an account (a default one when the plan file does not list it)."""
        found = self.accounts.get((kind, account))
        return found if found is not None else AccountPlan(grace=self.default_grace)

    def with_grace(self, grace: int) -> TariffPlan:
        """This plan with ``grace`` as the default for accounts that do not set their own."""
        return TariffPlan(self.accounts, grace)


def _money(value: object, where: str) -> int:
    if isinstance(value, float):
        raise ConfigError(f'{where}: write rates as strings ("0.012") so they stay exact')
    try:
        amount = parse_decimal(value if not isinstance(value, Decimal) else value, field="rate")
        if amount < 0:
            raise ConfigError(f"{where}: a rate must not be negative, got {format_money(amount)}")
        scaled = to_scaled(amount, field="rate")
    except MoneyError as exc:
        if "is too large" not in str(exc):
            raise ConfigError(f"{where}: {exc}") from None
        scaled = MAX_RATE + 1
    if scaled > MAX_RATE:
        raise ConfigError(f"{where}: {value} is above the limit of {RATE_LIMIT} per minute")
    return scaled


def _int(value: object, where: str, minimum: int = 0, maximum: int = MAX_SECONDS) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}: expected a whole number >= {minimum}, got {value!r}")
    if value > maximum:
        raise ConfigError(f"{where}: {value} is above the limit of {maximum} seconds")
    return value


def _minute(text: object, where: str) -> int:
    m = _HHMM.match(str(text))
    if not m or int(m.group(1)) > 24 or int(m.group(2)) > 59:
        raise ConfigError(f"{where}: expected a time as HH:MM, got {text!r}")
    value = int(m.group(1)) * 60 + int(m.group(2))
    if value > 1440:
        raise ConfigError(f"{where}: {text!r} is after 24:00")
    return value


def _period(name: str, spec: object, where: str) -> Period:
    if not isinstance(spec, dict):
        raise ConfigError(f'{where}: a period is a table such as {{ days = ["sat", "sun"] }}')
    unknown = set(spec) - {"days", "from", "until"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; use days, from, until")
    days_raw = spec.get("days", list(WEEKDAYS))
    if not isinstance(days_raw, list) or not days_raw:
        raise ConfigError(f'{where}: days must be a list such as ["sat", "sun"]')
    days = set()
    for d in days_raw:
        key = str(d).strip().lower()[:3]
        if key not in WEEKDAYS:
            raise ConfigError(f"{where}: unknown day {d!r}; use {', '.join(WEEKDAYS)}")
        days.add(WEEKDAYS.index(key))
    start = _minute(spec.get("from", "00:00"), f"{where}.from")
    end = _minute(spec.get("until", "24:00"), f"{where}.until")
    if start == end:
        raise ConfigError(f"{where}: from and until are equal; leave both out for a whole day")
    return Period(name, frozenset(days), start, end)


def _tariff(spec: object, where: str, periods: set[str]) -> PlanTariff:
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: a tariff is a table with prefix and rate or intervals")
    unknown = set(spec) - {"prefix", "period", "rate", "intervals"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    prefix = str(spec.get("prefix", ""))
    if prefix and not prefix.isdigit():
        raise ConfigError(f"{where}: prefix must be digits, got {prefix!r}")
    period = spec.get("period")
    if period is not None and not isinstance(period, str):
        raise ConfigError(f"{where}: period must be the name of a period, got {period!r}")
    if period is not None and period not in periods:
        raise ConfigError(f"{where}: period {period!r} is not defined for this account")
    if ("rate" in spec) == ("intervals" in spec):
        raise ConfigError(f"{where}: give either rate or intervals")
    if "rate" in spec:
        return PlanTariff(prefix, period, rate=_money(spec["rate"], f"{where}.rate"))
    raw = spec["intervals"]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: intervals must be a non-empty list")
    if len(raw) > MAX_INTERVALS:
        raise ConfigError(
            f"{where}: {len(raw)} intervals is above the limit of {MAX_INTERVALS} per tariff"
        )
    ivs = []
    for k, iv in enumerate(raw):
        w = f"{where}.intervals[{k}]"
        if not isinstance(iv, dict) or set(iv) - {"start", "rate", "increment"}:
            raise ConfigError(f'{w}: expected {{ start = 0, rate = "0.10", increment = 60 }}')
        ivs.append(
            Interval(
                _int(iv.get("start", 0), f"{w}.start"),
                _money(iv.get("rate"), f"{w}.rate"),
                _int(iv.get("increment", 1), f"{w}.increment", 1),
            )
        )
    starts = [i.start for i in ivs]
    if starts[0] != 0 or any(b <= a for a, b in zip(starts, starts[1:], strict=False)):
        raise ConfigError(f"{where}: interval starts must begin at 0 and increase, got {starts}")
    return PlanTariff(prefix, period, intervals=tuple(ivs))


def parse_plan(data: dict) -> TariffPlan:
    """Build a :class:`TariffPlan` from parsed TOML (see the module docstring)."""
    accounts: dict[tuple[str, str], AccountPlan] = {}
    for kind, table in data.items():
        if kind not in ("carrier", "customer"):
            raise ConfigError(
                f"tariff plan: top-level tables are carrier and customer, not {kind!r}"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"tariff plan: [{kind}] must hold one table per account")
        for name, spec in table.items():
            where = f"{kind}.{name}"
            if not isinstance(spec, dict):
                raise ConfigError(f"{where}: expected a table")
            unknown = set(spec) - {"grace", "periods", "tariffs"}
            if unknown:
                raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
            periods_raw = spec.get("periods", {})
            if not isinstance(periods_raw, dict):
                raise ConfigError(f"{where}.periods: expected a table of named periods")
            periods = tuple(_period(n, p, f"{where}.periods.{n}") for n, p in periods_raw.items())
            names = {p.name for p in periods}
            tariffs_raw = spec.get("tariffs", [])
            if not isinstance(tariffs_raw, list):
                raise ConfigError(f"{where}.tariffs: expected [[{where}.tariffs]] entries")
            tariffs = tuple(
                _tariff(t, f"{where}.tariffs[{k}]", names) for k, t in enumerate(tariffs_raw)
            )
            accounts[(kind, name)] = AccountPlan(
                grace=_int(spec.get("grace", 0), f"{where}.grace"), periods=periods, tariffs=tariffs
            )
    return TariffPlan(accounts)


def load_plan(path: str | os.PathLike[str]) -> TariffPlan:
    """Read a tariff plan TOML file (raises :class:`ConfigError` with what to fix)."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read tariff plan {os.fspath(path)!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"tariff plan {os.fspath(path)!r} is not valid TOML: {exc}") from None
    return parse_plan(data)
