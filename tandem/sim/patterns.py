"""Fraud shapes planted in generated traffic, and a carrier's quality collapse.

Each pattern is a frozen dataclass; its parameters have defaults sized against the
normal traffic it is planted in (the busiest customer's peak calls per second,
concurrent calls and hourly spend, the destination's own rate), so that a pattern
stands out at any volume. Every pattern takes ``at`` (epoch seconds it starts; default:
drawn from the seed between 15% and 80% of the generated period) and ``customer`` (the
customer's name; default: customers assigned from the seed, different for every
pattern while there are enough customers). The planted calls are labelled with the
pattern's ``name``.

=============  ==========================================================================
``high_risk``  ``customers`` (3) compromised accounts each place ``calls`` (40) calls
               over ``spread`` (3600 s) to ``ranges`` (3) ranges of the high-risk list
               (kinds ``kinds``: premium rate and international networks); ``answered``
               (0.7) of them answered, lasting ``minutes`` (3-30) minutes
``long_call``  ``calls`` (2) answered calls to a high-risk range lasting ``hours`` (2-5 h)
``concurrent`` one customer opens ``calls`` (at least 100, 3 × the busiest customer's
               peak concurrent calls) calls within ``spread`` (60 s) on one trunk, to its
               cheapest destinations, 90% answered lasting ``minutes`` (15-45) minutes
``cps``        one customer sends ``rate`` calls each second (at least 20, 5 × the
               busiest customer's peak calls per second) for ``seconds`` (30) from one
               trunk and source IP; 30% answered, 5-60 s
``spend``      one customer spends ``amount`` (at least 200, ``factor`` (5) × the
               busiest customer's expected peak-hour spend) within an hour: answered
               calls of ``minutes`` (5-10) minutes to the dearest destination it calls,
               starting over the hour's first 50 minutes
``velocity``   ``destination`` (default: one of the middle ranks) gets ``factor`` (10) ×
               its expected calls over ``window`` (1800 s) (at least ``min_calls``, 50)
               from ``customers`` (4) customers, normal outcomes
``sequential`` one customer dials ``calls`` (60) consecutive numbers of one of its
               destinations, one every ``interval`` (2-6) seconds; 20% answered, 5-40 s
``wangiri``    one customer places ``calls`` (300) calls over ``spread`` (900 s) to random
               numbers of one block (a mobile range plus 3 digits); ``answered`` (0.25)
               answered for 1-3 s, the rest cancelled while ringing (487)
``first_call`` ``customers`` (4) customers each place ``calls`` (1) calls to an expensive
               destination none of them calls in normal traffic (rate 0.95 and up per
               minute, :data:`tandem.sim.universe.EXPENSIVE`), within an hour
=============  ==========================================================================

:class:`QualityCollapse`: from ``at`` (default: the middle of the period, on the hour)
the normal calls ``carrier`` (default: the main carrier of the busiest destination) carries to
``destination`` (default: the busiest destination) are answered with ASR ``asr`` (0.05)
instead of the carrier's usual ASR, failing with 503, 480, 408, 500 or 487; those calls
are labelled ``quality_collapse``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import ClassVar

import numpy as np

from tandem.errors import ConfigError
from tandem.fraud.highrisk_list import HighRiskList
from tandem.sim.profile import FAILURE_CODES, TrafficProfile
from tandem.sim.rows import DestTable, Rows, draw_numbers, outcomes

__all__ = [
    "PATTERNS",
    "LABELS",
    "HIGH_RISK_RATES",
    "Pattern",
    "HighRisk",
    "LongCall",
    "Concurrent",
    "Cps",
    "Spend",
    "Velocity",
    "Sequential",
    "Wangiri",
    "FirstCall",
    "QualityCollapse",
    "Context",
    "make_pattern",
]

#: Every fraud pattern, by name, in the order customers are assigned to them.
PATTERNS: tuple[str, ...] = (
    "high_risk", "concurrent", "cps", "spend", "velocity", "sequential", "wangiri",
    "first_call", "long_call",
)  # fmt: skip

#: The ``label`` column's values: normal, each pattern, the quality collapse.
LABELS: tuple[str, ...] = ("", *PATTERNS, "quality_collapse")

#: The sell rate per minute of a call to a high-risk range, by kind.
HIGH_RISK_RATES: dict[str, Decimal] = {
    "premium_rate": Decimal("1.5000"),
    "shared_cost": Decimal("0.2500"),
    "international_network": Decimal("3.2000"),
}

#: How many customers each pattern gets by default (the assignment's block sizes).
_DEFAULT_CUSTOMERS = {
    "high_risk": 3, "concurrent": 1, "cps": 1, "spend": 1, "velocity": 4, "sequential": 1,
    "wangiri": 1, "first_call": 4, "long_call": 1,
}  # fmt: skip

_COLLAPSE_CODES = {503: 0.45, 480: 0.2, 408: 0.15, 500: 0.1, 487: 0.1}


@dataclass
class Context:
    """What a pattern is planted into: the profile, the period, the ranges table."""

    profile: TrafficProfile
    seed: int
    start: int
    days: int
    calls: int
    table: DestTable
    trunk_offset: np.ndarray
    high_risk: HighRiskList
    expensive: range  # indices of EXPENSIVE in the table

    @property
    def end(self) -> int:
        """The end of the generated period (epoch seconds)."""
        return self.start + 86400 * self.days

    def rng(self, name: str, occurrence: int) -> np.random.Generator:
        """The random stream of one planted pattern (independent of every other part)."""
        return np.random.default_rng([self.seed, 3, LABELS.index(name), occurrence])

    def default_at(self, rng: np.random.Generator) -> int:
        """An instant between 15% and 80% of the period."""
        span = self.end - self.start
        return int(self.start + rng.integers(int(0.15 * span), int(0.8 * span)))

    @cached_property
    def _assignment(self) -> np.ndarray:
        return np.random.default_rng([self.seed, 2]).permutation(len(self.profile.customers))

    def customers_for(self, name: str, k: int) -> np.ndarray:
        """The customers a pattern uses by default: ``k`` from the pattern's own block of
        a seeded permutation of the customers (wrapping when there are too few)."""
        first = 0
        for p in PATTERNS:
            if p == name:
                break
            first += _DEFAULT_CUSTOMERS[p]
        idx = (first + np.arange(k)) % len(self._assignment)
        return self._assignment[idx].astype(np.int32)

    def customer_index(self, name: str) -> int:
        """The index of the customer called ``name``."""
        for i, c in enumerate(self.profile.customers):
            if c.name == name:
                return i
        raise ConfigError(f"no customer {name!r} in the generated traffic")

    # -- expected normal traffic (what patterns are sized against) -------------------------

    @cached_property
    def _hourly_calls(self) -> np.ndarray:
        """[customer, hour]: expected normal calls of each customer in each hour."""
        hours = 24 * self.days
        out = np.empty((len(self.profile.customers), hours))
        for i, c in enumerate(self.profile.customers):
            hw = self.profile.hour_weights(self.start, hours, c.utc_offset)
            out[i] = self.calls * c.share * hw / hw.sum()
        return out

    @cached_property
    def _per_call(self) -> tuple[np.ndarray, np.ndarray]:
        """Per destination: expected seconds a call holds a slot, expected spend of a call."""
        p = self.profile
        asr = (p.routing * p.asr).sum(axis=1)
        acd = np.array([d.acd for d in p.destinations], dtype=np.float64)
        rate = np.array([float(d.sell_rate) for d in p.destinations])  # sizing only
        return asr * acd + (1 - asr) * 20.0, asr * acd / 60.0 * rate

    def _customer_mean(self, values: np.ndarray) -> np.ndarray:
        return np.array([float(values[c.portfolio] @ c.weights) for c in self.profile.customers])

    def peak_cps(self) -> float:
        """The busiest customer's expected calls per second in its busiest hour."""
        return float(self._hourly_calls.max() / 3600.0)

    def peak_concurrency(self) -> float:
        """The largest expected number of one customer's calls in progress at once."""
        holding = self._customer_mean(self._per_call[0])
        return float((self._hourly_calls.max(axis=1) / 3600.0 * holding).max())

    def peak_hour_spend(self) -> float:
        """The largest expected spend of one customer in one hour (currency units)."""
        spend = self._customer_mean(self._per_call[1])
        return float((self._hourly_calls.max(axis=1) * spend).max())

    def expected_calls(self, dest: int, at: int, window: int) -> float:
        """Expected normal calls to destination ``dest`` in ``window`` seconds from ``at``."""
        hour = min(max((at - self.start) // 3600, 0), 24 * self.days - 1)
        total = 0.0
        for i, c in enumerate(self.profile.customers):
            hit = np.flatnonzero(c.portfolio == dest)
            if len(hit):
                total += float(self._hourly_calls[i, hour] * c.weights[hit[0]])
        return total * window / 3600.0

    def clean(self, dest: int) -> bool:
        """Whether no high-risk range lies inside destination ``dest``."""
        p = self.table.prefix[dest]
        return not any(h.startswith(p) for h in self.high_risk.prefixes)

    def high_risk_ranges(
        self, rng: np.random.Generator, k: int, kinds: tuple[str, ...]
    ) -> list[int]:
        """``k`` ranges of the high-risk list of ``kinds``, added to the table."""
        ranges = [r for r in self.high_risk if r.kind in kinds]
        if not ranges:
            raise ConfigError(f"the high-risk list has no range of kind {', '.join(kinds)}")
        pick = rng.choice(len(ranges), size=min(k, len(ranges)), replace=False)
        return [
            self.table.add(ranges[j].prefix, ranges[j].length, HIGH_RISK_RATES[ranges[j].kind])
            for j in sorted(pick)
        ]

    # -- building rows ---------------------------------------------------------------------

    def rows(
        self,
        rng: np.random.Generator,
        label: str,
        start: np.ndarray,
        customer: np.ndarray | int,
        dest: np.ndarray | int,
        *,
        asr: float | None = None,
        durations: np.ndarray | None = None,
        number: np.ndarray | None = None,
        trunk: np.ndarray | int | None = None,
        fail: dict[int, float] | None = None,
    ) -> Rows:
        """Planted calls: outcomes drawn like normal traffic's unless given (``asr``,
        answered ``durations``, failure codes ``fail``)."""
        p = self.profile
        n = len(start)
        cust = np.broadcast_to(np.asarray(customer, dtype=np.int32), n).copy()
        dst = np.broadcast_to(np.asarray(dest, dtype=np.int32), n).copy()
        if number is None:
            number = draw_numbers(rng, dst, self.table)
        if trunk is None:
            ntr = np.array([len(c.trunks) for c in p.customers])[cust]
            trunk = self.trunk_offset[cust] + (rng.random(n) * ntr).astype(np.int32)
        trk = np.broadcast_to(np.asarray(trunk, dtype=np.int32), n).copy()
        ncar = len(p.carriers)
        nd = len(p.destinations)
        known = dst < nd
        carrier = rng.integers(0, ncar, n).astype(np.int32)
        if known.any():
            cum = np.cumsum(p.routing[dst[known]], axis=1)
            u = rng.random(int(known.sum()))
            carrier[known] = np.minimum((u[:, None] >= cum).sum(axis=1), ncar - 1)
        safe = np.where(known, dst, 0)
        call_asr = np.where(known, p.asr[safe, carrier], 0.5) if asr is None else asr
        pdd_med = np.where(known, p.pdd_ms[safe, carrier], 3500.0)
        acd = np.where(known, np.array([d.acd for d in p.destinations], float)[safe], 150.0)
        sip, duration, pdd = outcomes(
            rng, call_asr, pdd_med, acd, n=n, sigma=p.duration_sigma,
            fail=fail if fail is not None else FAILURE_CODES,
        )  # fmt: skip
        if durations is not None:
            duration = np.where(sip == 200, durations, 0).astype(np.int64)
        return Rows(
            start=np.asarray(start, dtype=np.int64),
            duration=duration,
            number=np.asarray(number, dtype=np.int64),
            dest=dst,
            customer=cust,
            trunk=trk,
            carrier=carrier,
            sip=sip,
            pdd=pdd,
            label=np.full(n, LABELS.index(label), dtype=np.int8),
        )


@dataclass(frozen=True)
class Pattern:
    """A fraud shape planted in generated traffic (see the module docstring)."""

    name: ClassVar[str] = ""
    at: int | None = None
    customer: str | None = None

    def plant(self, ctx: Context, occurrence: int = 0) -> Rows:
        """The pattern's calls (labelled with its name)."""
        rng = ctx.rng(self.name, occurrence)
        at = int(self.at) if self.at is not None else ctx.default_at(rng)
        return self._plant(ctx, rng, at)

    def _plant(self, ctx: Context, rng: np.random.Generator, at: int) -> Rows:
        raise NotImplementedError

    def _customers(self, ctx: Context, k: int) -> np.ndarray:
        if self.customer is not None:
            return np.array([ctx.customer_index(self.customer)], dtype=np.int32)
        return ctx.customers_for(self.name, k)


def _uniform(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    return np.round(rng.uniform(low, high, n)).astype(np.int64)


@dataclass(frozen=True)
class HighRisk(Pattern):
    """Calls to premium-rate and international-network ranges from compromised accounts."""

    name: ClassVar[str] = "high_risk"
    customers: int = 3
    calls: int = 40
    spread: int = 3600
    ranges: int = 3
    answered: float = 0.7
    minutes: tuple[float, float] = (3.0, 30.0)
    kinds: tuple[str, ...] = ("premium_rate", "international_network")

    def _plant(self, ctx: Context, rng: np.random.Generator, at: int) -> Rows:
        dests = np.array(ctx.high_risk_ranges(rng, self.ranges, self.kinds), dtype=np.int32)
        cs = self._customers(ctx, self.customers)
        n = len(cs) * self.calls
        return ctx.rows(
            rng, self.name, at + rng.integers(0, self.spread, n), np.repeat(cs, self.calls),
            dests[rng.integers(0, len(dests), n)], asr=self.answered,
            durations=_uniform(rng, 60 * self.minutes[0], 60 * self.minutes[1], n),
        )  # fmt: skip


@dataclass(frozen=True)
class LongCall(Pattern):
    """Calls to a high-risk range running for hours."""

    name: ClassVar[str] = "long_call"
    calls: int = 2
    hours: tuple[float, float] = (2.0, 5.0)
    kinds: tuple[str, ...] = ("premium_rate", "international_network")

    def _plant(self, ctx: Context, rng: np.random.Generator, at: int) -> Rows:
        dest = ctx.high_risk_ranges(rng, 1, self.kinds)[0]
        cust = self._customers(ctx, 1)[0]
        n = self.calls
        return ctx.rows(
            rng, self.name, at + rng.integers(0, 600, n), cust, dest, asr=1.0,
            durations=_uniform(rng, 3600 * self.hours[0], 3600 * self.hours[1], n),
        )  # fmt: skip


@dataclass(frozen=True)
class Concurrent(Pattern):
    """A burst of simultaneous long calls from one customer on one trunk."""

    name: ClassVar[str] = "concurrent"
    calls: int | None = None
    spread: int = 60
    minutes: tuple[float, float] = (15.0, 45.0)

    def _plant(self, ctx: Context, rng: np.random.Generator, at: int) -> Rows:
        n = self.calls or max(100, math.ceil(3 * ctx.peak_concurrency()))
        cust = int(self._customers(ctx, 1)[0])
        c = ctx.profile.customers[cust]
        rates = np.array([ctx.table.rate[d] for d in c.portfolio])
        cheap = c.portfolio[np.argsort(rates, kind="stable")[:5]]
        cheap = np.array([d for d in cheap if ctx.clean(int(d))] or [cheap[0]], dtype=np.int32)
        return ctx.rows(
            rng, self.name, at + rng.integers(0, self.spread, n), cust,
            cheap[rng.integers(0, len(cheap), n)], asr=0.9,
            durations=_uniform(rng, 60 * self.minutes[0], 60 * self.minutes[1], n),
            trunk=int(ctx.trunk_offset[cust]),
        )  # fmt: skip


@dataclass(frozen=True)
class Cps(Pattern):
    """A calls-per-second burst from one customer and one source IP."""

    name: ClassVar[str] = "cps"
    rate: int | None = None
    seconds: int = 30

    def _plant(self, ctx: Context, rng: np.random.Generator, at: int) -> Rows:
        rate = self.rate or max(20, math.ceil(5 * ctx.peak_cps()))
        n = rate * self.seconds
        cust = int(self._customers(ctx, 1)[0])
        c = ctx.profile.customers[cust]
        dests = c.portfolio[rng.choice(len(c.portfolio), size=n, p=c.weights)]
        return ctx.rows(
            rng, self.name, at + np.arange(n) // rate, cust, dests, asr=0.3,
            durations=_uniform(rng, 5, 60, n), trunk=int(ctx.trunk_offset[cust]),
        )  # fmt: skip


@dataclass(frozen=True)
class Spend(Pattern):
    """A customer's hourly spend far above normal."""

    name: ClassVar[str] = "spend"
    amount: Decimal | None = None
    factor: float = 5.0
    minutes: tuple[float, float] = (5.0, 10.0)

    def _plant(self, ctx: Context, rng: np.random.Generator, at: int) -> Rows:
        cust = int(self._customers(ctx, 1)[0])
        c = ctx.profile.customers[cust]
        clean = [int(d) for d in c.portfolio if ctx.clean(int(d))] or [int(c.portfolio[0])]
        dest = max(clean, key=lambda d: (ctx.table.rate[d], -d))
        if self.amount is not None:
            amount = Decimal(self.amount)
        else:  # sizing from expected figures: a float estimate, rounded up to whole units
            amount = Decimal(math.ceil(max(200.0, self.factor * ctx.peak_hour_spend())))
        rate = ctx.table.rate[dest]
        mean = Decimal(str((self.minutes[0] + self.minutes[1]) / 2))
        n = math.ceil(amount / (rate * mean)) * 2 + 10  # enough; cut below
        durations = _uniform(rng, 60 * self.minutes[0], 60 * self.minutes[1], n)
        # exact spend, in 1/10000ths of a unit-second: duration * rate * 10**4
        step = int(rate.scaleb(4).to_integral_value())
        need = int((amount * 60).scaleb(4).to_integral_value())
        n = int(np.searchsorted(np.cumsum(durations * step), need)) + 1
        last = 3600 - int(60 * self.minutes[1])  # every call ends within the hour
        return ctx.rows(
            rng, self.name, at + rng.integers(0, max(last, 1), n), cust, dest, asr=1.0,
            durations=durations[:n],
        )  # fmt: skip


@dataclass(frozen=True)
class Velocity(Pattern):
    """A destination suddenly getting many times its usual calls, from several customers."""

    name: ClassVar[str] = "velocity"
    destination: str | None = None
    factor: float = 10.0
    window: int = 1800
    min_calls: int = 50
    customers: int = 4

    def _plant(self, ctx: Context, rng: np.random.Generator, at: int) -> Rows:
        nd = len(ctx.profile.destinations)
        if self.destination is not None:
            if self.destination not in ctx.table.prefix[:nd]:
                raise ConfigError(f"velocity: {self.destination!r} is no generated destination")
            dest = ctx.table.prefix.index(self.destination)
        else:
            middle = [d for d in range(nd // 10, max(nd // 3, nd // 10 + 1)) if ctx.clean(d)]
            dest = int(middle[rng.integers(len(middle))]) if middle else 0
        expected = ctx.expected_calls(dest, at, self.window)
        n = max(self.min_calls, math.ceil(self.factor * expected))
        cs = self._customers(ctx, self.customers)
        return ctx.rows(
            rng, self.name, at + rng.integers(0, self.window, n), cs[rng.integers(0, len(cs), n)],
            dest,
        )  # fmt: skip


@dataclass(frozen=True)
class Sequential(Pattern):
    """Consecutive numbers dialled one after another."""

    name: ClassVar[str] = "sequential"
    calls: int = 60
    interval: tuple[float, float] = (2.0, 6.0)

    def _plant(self, ctx: Context, rng: np.random.Generator, at: int) -> Rows:
        cust = int(self._customers(ctx, 1)[0])
        c = ctx.profile.customers[cust]
        clean = np.array([d for d in c.portfolio if ctx.clean(int(d))] or [c.portfolio[0]])
        dest = int(clean[rng.integers(len(clean))])
        free = ctx.table.length[dest] - len(ctx.table.prefix[dest])
        first = int(ctx.table.prefix[dest]) * 10**free + int(rng.integers(0, 10**free - self.calls))
        gaps = _uniform(rng, self.interval[0], self.interval[1], self.calls)
        gaps[0] = 0
        return ctx.rows(
            rng, self.name, at + np.cumsum(gaps), cust, dest, asr=0.2,
            durations=_uniform(rng, 5, 40, self.calls),
            number=first + np.arange(self.calls, dtype=np.int64),
            trunk=int(ctx.trunk_offset[cust]),
            fail={404: 0.35, 480: 0.3, 486: 0.15, 487: 0.2},
        )  # fmt: skip


@dataclass(frozen=True)
class Wangiri(Pattern):
    """Many very short calls from one customer into one block of numbers."""

    name: ClassVar[str] = "wangiri"
    calls: int = 300
    spread: int = 900
    answered: float = 0.25

    def _plant(self, ctx: Context, rng: np.random.Generator, at: int) -> Rows:
        cust = int(self._customers(ctx, 1)[0])
        p = ctx.profile
        mobile = [d for d in range(len(p.destinations))
                  if p.destinations[d].kind == "mobile" and ctx.clean(d)]  # fmt: skip
        dest = int(mobile[rng.integers(len(mobile))]) if mobile else 0
        free = ctx.table.length[dest] - len(ctx.table.prefix[dest])
        block = int(ctx.table.prefix[dest]) * 1000 + int(rng.integers(0, 1000))
        scale = 10 ** (free - 3)
        numbers = block * scale + rng.integers(0, scale, self.calls)
        return ctx.rows(
            rng, self.name, at + rng.integers(0, self.spread, self.calls), cust, dest,
            asr=self.answered, durations=_uniform(rng, 1, 3, self.calls), number=numbers,
            fail={487: 1.0},
        )  # fmt: skip


@dataclass(frozen=True)
class FirstCall(Pattern):
    """Customers' first calls to an expensive destination."""

    name: ClassVar[str] = "first_call"
    customers: int = 4
    calls: int = 1
    minutes: tuple[float, float] = (1.0, 8.0)

    def _plant(self, ctx: Context, rng: np.random.Generator, at: int) -> Rows:
        cs = self._customers(ctx, self.customers)
        n = len(cs) * self.calls
        dests = np.array(list(ctx.expensive), dtype=np.int32)
        per_customer = dests[rng.integers(0, len(dests), len(cs))]
        return ctx.rows(
            rng, self.name, at + rng.integers(0, 3600, n), np.repeat(cs, self.calls),
            np.repeat(per_customer, self.calls), asr=0.6,
            durations=_uniform(rng, 60 * self.minutes[0], 60 * self.minutes[1], n),
        )  # fmt: skip


@dataclass(frozen=True)
class QualityCollapse:
    """One carrier's ASR on one destination falls from an instant on."""

    carrier: str | None = None
    destination: str | None = None
    at: int | None = None
    asr: float = 0.05

    def resolve(self, ctx: Context) -> tuple[int, int, int]:
        """``(carrier index, destination index, instant)`` the collapse applies to."""
        p = ctx.profile
        nd = len(p.destinations)
        if self.destination is None:
            dest = 0
        elif self.destination in ctx.table.prefix[:nd]:
            dest = ctx.table.prefix.index(self.destination)
        else:
            raise ConfigError(f"quality collapse: {self.destination!r} is no generated destination")
        if self.carrier is None:
            carrier = int(np.argmax(p.routing[dest]))
        elif self.carrier in p.carriers:
            carrier = p.carriers.index(self.carrier)
        else:
            raise ConfigError(f"quality collapse: no carrier {self.carrier!r}")
        at = (
            self.at
            if self.at is not None
            else ctx.start + (ctx.end - ctx.start) // 2 // 3600 * 3600
        )
        return carrier, dest, int(at)

    def apply(self, ctx: Context, rows: Rows) -> None:
        """Redraw, in place, the outcomes of the calls the collapse hits, and label them."""
        carrier, dest, at = self.resolve(ctx)
        hit = np.flatnonzero((rows.carrier == carrier) & (rows.dest == dest) & (rows.start >= at))
        rng = np.random.default_rng([ctx.seed, 4])
        p = ctx.profile
        sip, duration, pdd = outcomes(
            rng, self.asr, p.pdd_ms[dest, carrier], float(p.destinations[dest].acd),
            n=len(hit), sigma=p.duration_sigma, fail=_COLLAPSE_CODES,
        )  # fmt: skip
        rows.sip[hit], rows.duration[hit], rows.pdd[hit] = sip, duration, pdd
        rows.label[hit] = LABELS.index("quality_collapse")


_CLASSES: dict[str, type[Pattern]] = {
    c.name: c
    for c in (HighRisk, LongCall, Concurrent, Cps, Spend, Velocity, Sequential, Wangiri, FirstCall)
}


def make_pattern(name: str) -> Pattern:
    """The pattern called ``name`` with its default parameters."""
    try:
        return _CLASSES[name]()
    except KeyError:
        raise ConfigError(f"unknown fraud pattern {name!r}: one of {', '.join(PATTERNS)}") from None
