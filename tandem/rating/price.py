"""Pricing CDRs: one call (:func:`price_call`) or a batch (:class:`Rater`, :func:`price_cdrs`).

Both sides are priced on their own: the **sell** price from the customer's deck, the
**buy** cost from the carrier's deck, and the margin where both are known in one currency.
A CDR counts as *rated* when it has a sell price; otherwise it is *unrated* with the sell
side's reason. The buy side's reason is kept in ``buy_reason``.

Unrated reasons, checked in this order (the first that applies is given):

``bad_record``          the CDR file's record could not be read (wrong number of fields,
                        an unbalanced quote): no values, its text in ``raw``, its line in
                        ``line``
``bad_time``            start missing, unparseable, or outside 1970..year 36812
``bad_duration``        billable seconds missing, negative or longer than 10**6 s
``bad_number``          the dialed (or routing) number is not E.164 (:mod:`tandem.numbers`:
                        1-15 digits not beginning with 0 once separators and a
                        ``+`` / ``00`` / ``011`` are removed)
``unknown_customer``    no customer deck under that name (sell side)
``unknown_carrier``     no carrier deck under that name (buy side)
``no_deck_in_force``    the account has no rate in force at the call's start instant
``no_matching_prefix``  rates are in force, but none of their prefixes matches the number

The batch path is vectorised (no Python loop per CDR) and uses both cores by splitting
a batch across threads (numpy and Arrow release the GIL). :func:`price_call` is a plain,
independent implementation of the same rules; a property test holds both to the last unit.

Tariff plans: ``plan`` is one :class:`~tandem.rating.plan.TariffPlan` for every call, or a
:class:`~tandem.rating.schedule.PlanSchedule` (the versions stored in the store, each in
force over its window), which prices each CDR with the plan in force at its start. Rating
from a store without ``plan`` uses the store's tariff plan versions.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tandem.errors import CdrError, ConfigError, NumberError
from tandem.instant import InstantLike, format_instant, parse_instant
from tandem.money import format_money, from_scaled, round_scaled
from tandem.numbers import e164_digits
from tandem.rating import fastrate
from tandem.rating.amounts import AMOUNT_TYPE, NARROW_AMOUNT_TYPE, amount_array, exact_total
from tandem.rating.arrays import (
    bounds,
    constant,
    from_numpy,
    is_constant,
    null_array,
    scalar,
    strings,
    to_numpy,
)
from tandem.rating.book import FAST_LIMIT, MAX_DURATION, MAX_INSTANT, RateBook, compile_book
from tandem.rating.keys import e164_digits_array, number_keys
from tandem.rating.plan import TariffPlan
from tandem.rating.schedule import PlanSchedule
from tandem.rating.tariff import (
    ROUNDING_CODES,
    Tariff,
    cost_scaled,
    flat_billed_array,
    flat_intervals,
    round_scaled_array,
)

if TYPE_CHECKING:  # pandas is imported where a frame is met, not by the Parquet path
    import pandas as pd

    from tandem.store.store import Store

__all__ = [
    "REASONS",
    "OUTPUT_COLUMNS",
    "AMOUNT_TYPE",
    "CallPrice",
    "price_call",
    "Rater",
    "RatingSummary",
    "RatingResult",
    "price_cdrs",
    "split_rated",
]

#: Every unrated reason, in the order they are checked.
REASONS = (
    "bad_record",
    "bad_time",
    "bad_duration",
    "bad_number",
    "unknown_customer",
    "unknown_carrier",
    "no_deck_in_force",
    "no_matching_prefix",
)
_CODE = {r: i + 1 for i, r in enumerate(REASONS)}
_REASON_DICT = strings(REASONS)
# Compute-function arguments as Arrow scalars (a plain Python value would load pandas).
_ZERO, _MINUS_ONE = scalar(0, pa.int64()), scalar(-1, pa.int64())
_FALSE = scalar(False, pa.bool_())
_SIDES = (("sell", "customer"), ("buy", "carrier"))
#: Columns :meth:`Rater.price` adds (and :func:`split_rated` adds ``reason``).
OUTPUT_COLUMNS = frozenset(
    ["rated_number", "margin", "reason"]
    + [
        f"{side}_{name}"
        for side in ("sell", "buy")
        for name in ("prefix", "destination", "billed_seconds", "amount", "currency", "reason")
    ]
)
_PARALLEL_MIN = 200_000
_CHUNK = 262_144

PortLookup = Callable[["pd.Series"], "pd.Series"]


# -- scalar path ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallPrice:
    """The price of one call on one side: ``amount`` (None when unrated) or ``reason``."""

    amount: Decimal | None
    amount_scaled: int | None
    billed_seconds: int
    prefix: str | None = None
    destination: str | None = None
    currency: str | None = None
    period: str | None = None
    reason: str | None = None


def price_call(
    number: str,
    start: InstantLike | None,
    duration: int | None,
    *,
    account: str,
    kind: str = "customer",
    rates: pd.DataFrame | Store,
    plan: TariffPlan | PlanSchedule | None = None,
    grace: int = 0,
) -> CallPrice:
    """Price one call of ``duration`` billable seconds that started at ``start``.

    ``start`` is an instant (:func:`tandem.instant.parse_instant`: epoch seconds, an aware
    datetime, ISO 8601 text with a zone); None or a start outside ``[0, MAX_INSTANT]``
    leaves the call unrated with ``bad_time``.

    ``rates`` is a :class:`tandem.Store` or a frame from :meth:`Store.rates`; ``account``
    the customer (``kind="customer"``, sell side) or carrier (``kind="carrier"``, buy side).
    ``plan``: one tariff plan, or a schedule whose plan in force at ``start`` applies; with
    a store and no ``plan``, the store's tariff plan in force at ``start``.
    """
    import pandas as pd

    if not isinstance(rates, pd.DataFrame):
        if plan is None:
            plan = PlanSchedule.from_store(rates)
        rates = rates.rates(kind=kind, accounts=[account])
    # A start given as epoch seconds is a CDR field: out of the rated range it is a bad
    # time, as in the batch path; any other form is read by the instant grammar.
    if start is None or (type(start) is int and not 0 <= start <= MAX_INSTANT):
        return CallPrice(None, None, 0, reason="bad_time")
    t = parse_instant(start)
    if not 0 <= t <= MAX_INSTANT:
        return CallPrice(None, None, 0, reason="bad_time")
    if isinstance(plan, PlanSchedule):
        plan = plan.plan_at(t)
    if duration is None or duration < 0 or duration > MAX_DURATION:
        return CallPrice(None, None, 0, reason="bad_duration")
    try:
        digits = e164_digits(number)
    except NumberError:
        return CallPrice(None, None, 0, reason="bad_number")
    mine = rates[(rates["kind"] == kind) & (rates["account"] == account)]
    if mine.empty:
        return CallPrice(None, None, 0, reason=f"unknown_{kind}")
    live = mine[(mine["effective_from"] <= t) & (t < mine["effective_until"])]
    if live.empty:
        return CallPrice(None, None, 0, reason="no_deck_in_force")
    best = None
    for rec in live.itertuples(index=False):
        p = str(rec.prefix)
        if digits.startswith(p) and (best is None or len(p) > len(best.prefix)):
            best = rec
    if best is None:
        return CallPrice(None, None, 0, reason="no_matching_prefix")
    plan = plan if plan is not None else TariffPlan()
    acct = plan.get(kind, account)
    acct_grace = acct.grace if (kind, account) in plan.accounts else grace
    period = 0
    if acct.periods:
        local = datetime.fromtimestamp(t, UTC).astimezone(ZoneInfo(best.timezone))
        period = acct.period_index(local.weekday(), local.hour * 60 + local.minute)
    chosen = acct.tariff_for(str(best.prefix), period) if acct.tariffs else None
    if chosen is None:
        intervals = flat_intervals(best.rate, best.initial_increment, best.next_increment)
    elif chosen.intervals is not None:
        intervals = chosen.intervals
    else:
        assert chosen.rate is not None  # a plan tariff has a rate or intervals
        intervals = flat_intervals(chosen.rate, best.initial_increment, best.next_increment)
    tariff = Tariff(
        intervals,
        connect_fee=int(best.connect_fee),
        min_duration=int(best.min_duration),
        grace=acct_grace,
        decimals=int(best.decimals),
        rounding=best.rounding,
    )
    billed, amount = cost_scaled(tariff, int(duration))
    return CallPrice(
        from_scaled(amount),
        amount,
        billed,
        prefix=str(best.prefix),
        destination=str(best.destination),
        currency=str(best.currency),
        period=acct.periods[period - 1].name if period else None,
    )


# -- batch path ---------------------------------------------------------------------------


def _int_column(table: pa.Table, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(values, valid) of an integer column (nulls → 0, valid False)."""
    col = table.column(name)
    if not pa.types.is_integer(col.type):
        raise CdrError(f"column {name!r} must be integer seconds, got {col.type}")
    col = _one_chunk(col)
    if col.null_count == 0:
        valid = constant(len(col), True, np.bool_)
    else:
        valid = to_numpy(col.is_valid())
        col = pc.fill_null(col, _ZERO.cast(col.type))
    return to_numpy(col).astype(np.int64, copy=False), valid


def _one_chunk(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A column as one array: its only chunk as it is (``combine_chunks`` would copy it)."""
    if not isinstance(col, pa.ChunkedArray):
        return col
    return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()


def _account_index(book: RateBook, names: pa.ChunkedArray | pa.Array) -> np.ndarray:
    names = _one_chunk(names)
    if pa.types.is_dictionary(names.type):
        enc = names
    else:
        enc = pc.dictionary_encode(pc.cast(names, pa.string()))
    lookup = np.asarray(
        [book.accounts.get(v, -1) for v in enc.dictionary.to_pylist()] + [-1], dtype=np.int64
    )
    if enc.null_count == 0 and len(lookup) == 2:  # one account named throughout
        return constant(len(enc), int(lookup[0]), np.int64)
    indices = enc.indices
    if indices.null_count:
        indices = pc.fill_null(indices, _MINUS_ONE.cast(indices.type))
    return lookup[to_numpy(indices)]


def _local_periods(
    book: RateBook, rows: np.ndarray, acct: np.ndarray, start: np.ndarray
) -> np.ndarray:
    """The 1-based plan period of each call (0 = none), from its start in the deck's zone."""
    import pandas as pd

    period = np.zeros(len(rows), dtype=np.int64)
    tz = book.tz_of_row[rows]
    for z in np.unique(tz).tolist():
        sel = np.flatnonzero(tz == z)
        local = pd.DatetimeIndex(pd.to_datetime(start[sel], unit="s", utc=True)).tz_convert(
            book.timezones[z]
        )
        weekday = np.asarray(local.day_of_week, dtype=np.int64)
        minute = np.asarray(local.hour, dtype=np.int64) * 60 + np.asarray(local.minute)
        a_sel = acct[sel]
        for a in np.unique(a_sel).tolist():
            plan = book.plans[a]
            mine = np.flatnonzero(a_sel == a)
            wd, mi = weekday[mine], minute[mine]
            out = np.zeros(len(mine), dtype=np.int64)
            for k in range(len(plan.periods) - 1, -1, -1):  # first listed wins
                p = plan.periods[k]
                on_day = np.isin(wd, list(p.days))
                if p.start < p.end:
                    in_time = (mi >= p.start) & (mi < p.end)
                else:
                    in_time = (mi >= p.start) | (mi < p.end)
                out[on_day & in_time] = k + 1
            period[sel[mine]] = out
    return period


def _mask(flags: np.ndarray) -> np.ndarray | None:
    """An Arrow null mask, or None when nothing is null (cheaper arrays)."""
    return flags if flags.any() else None


def _gather(book: RateBook, name: str, rows: np.ndarray) -> np.ndarray | np.int64:
    """``book.<name>[rows]``, or the one value when every row has it (saves a random
    gather)."""
    values = getattr(book, name)
    if book.uniform(name):
        return values[0]
    return values[rows]


def _price_side(
    book: RateBook,
    acct: np.ndarray,
    start: np.ndarray,
    duration: np.ndarray,
    key: np.ndarray,
    input_reason: np.ndarray,
    unknown_code: int,
) -> dict[str, np.ndarray]:
    if fastrate.NATIVE and fastrate.flat_book(book):  # the same answers, in one C pass
        # Only the segments of the CDRs priced are read: any account index will do for
        # the others (an unknown account, -1, is unrated before its segment is read).
        if not len(acct) or (acct[0] >= 0 if is_constant(acct) else acct.min() >= 0):
            known = acct
        else:
            known = np.maximum(acct, 0)
        return fastrate.price_side(
            book,
            acct,
            book._segment(known, start),
            duration,
            key,
            input_reason.copy(),
            (unknown_code, _CODE["no_matching_prefix"], _CODE["no_deck_in_force"]),
        )
    n = len(acct)
    reason = input_reason.copy()
    reason[(reason == 0) & (acct < 0)] = unknown_code
    row_all = np.full(n, -1, dtype=np.int64)
    amount = np.zeros(n, dtype=np.int64)
    wide_at = np.zeros(0, dtype=np.int64)  # CDRs whose amount is in wide_amount instead
    wide_amount = np.zeros(0, dtype=object)
    billed_all = np.zeros(n, dtype=np.int64)
    everything = not reason.any()
    todo = None if everything else np.flatnonzero(reason == 0)  # None: every row
    if todo is None or len(todo):
        sub = (lambda a: a) if todo is None else (lambda a: a[todo])
        row, empty = book.lookup(sub(acct), sub(start), sub(key))
        missing = row < 0
        if todo is None:
            reason[missing] = _CODE["no_matching_prefix"]
            reason[empty] = _CODE["no_deck_in_force"]
            row_all = row
        else:
            reason[todo[missing]] = _CODE["no_matching_prefix"]
            reason[todo[empty]] = _CODE["no_deck_in_force"]
            row_all[todo] = row
        all_hit = everything and not missing.any()
        idx = None if all_hit else np.flatnonzero(row_all >= 0)
        pick = (lambda a: a) if all_hit else (lambda a: a[idx])
        r = pick(row_all)
        d = pick(duration)
        mind = _gather(book, "min_duration", r)
        fee = _gather(book, "connect_fee", r)
        grace = _gather(book, "grace", pick(acct))
        billed = flat_billed_array(d, _gather(book, "initial", r), _gather(book, "nxt", r), mind)
        numer = book.rate[r] * billed
        no_fee = np.isscalar(fee) and fee == 0
        if not no_fee:
            with np.errstate(over="ignore"):  # a wide call wraps here; priced again below
                numer += 60 * fee
        tiers = None
        if book.row_sets is not None:
            seconds = np.maximum(d, mind)
            tiers = _tiered(book, r, pick(acct), pick(start), seconds, billed, numer)
        free = None
        if not (no_fee and book.row_sets is None and np.isscalar(grace) and grace == 0):
            # free calls (at most ``grace`` seconds, or none): no increments, no fee; with
            # no fee, no tiers and no grace, flat billing already gave them 0
            free = d <= np.maximum(grace, 0)
            billed[free] = 0
            numer[free] = 0
        step = _gather(book, "step", r)
        mode = _gather(book, "rounding", r)
        cost = round_scaled_array(numer, step, mode, unit=step // 60)
        if not book.always_fast:
            wide = _wide_costs(book, r, billed, fee, free, tiers, step, mode)
            if wide is not None:
                cost[wide[0]] = 0
                wide_at = wide[0] if idx is None else idx[wide[0]]
                wide_amount = wide[1]
        if all_hit:
            amount, billed_all = cost, billed
        else:
            amount[idx] = cost
            billed_all[idx] = billed
    return {
        "row": row_all,
        "amount": amount,
        "billed": billed_all,
        "reason": reason,
        "wide_at": wide_at,
        "wide_amount": wide_amount,
    }


#: Interval sets of the tiered calls of a batch: ``(positions, set per position, billed
#: seconds per interval)``.
_Tiers = tuple[np.ndarray, np.ndarray, list[np.ndarray]]


def _tiered(
    book: RateBook,
    r: np.ndarray,
    acct: np.ndarray,
    start: np.ndarray,
    seconds: np.ndarray,
    billed: np.ndarray,
    numer: np.ndarray,
) -> _Tiers | None:
    """Overwrite ``billed``/``numer`` for calls whose row has a plan tariff (in place);
    return their positions, sets and per-interval billed seconds (None: no such call)."""
    row_sets, set_start = book.row_sets, book.set_start
    set_rate, set_inc = book.set_rate, book.set_inc
    if row_sets is None or set_start is None or set_rate is None or set_inc is None:
        return None  # no account of this book has a plan tariff
    sets = row_sets[r]
    chosen = sets[:, 0].astype(np.int64)
    with_periods = np.flatnonzero((sets[:, 1:] >= 0).any(axis=1))
    if len(with_periods):
        per = _local_periods(book, r[with_periods], acct[with_periods], start[with_periods])
        chosen[with_periods] = sets[with_periods, per]
    tiered = np.flatnonzero(chosen >= 0)
    if not len(tiered):
        return None
    s = chosen[tiered]
    sec = seconds[tiered]
    t_billed = np.zeros(len(tiered), dtype=np.int64)
    t_numer = 60 * book.connect_fee[r[tiered]]
    width = set_start.shape[1]
    parts = []
    for j in range(width):
        s0 = set_start[s, j]
        s1 = set_start[s, j + 1] if j + 1 < width else np.full_like(s0, 1 << 50)
        part = np.clip(sec - s0, 0, s1 - s0)
        inc = set_inc[s, j]
        b = -(-part // inc) * inc
        t_billed += b
        t_numer += set_rate[s, j] * b
        parts.append(b)
    billed[tiered] = t_billed
    numer[tiered] = t_numer
    return tiered, s, parts


_MODES = list(ROUNDING_CODES)


def _wide_costs(
    book: RateBook,
    r: np.ndarray,
    billed: np.ndarray,
    fee: np.ndarray | np.int64,
    free: np.ndarray | None,
    tiers: _Tiers | None,
    step: np.ndarray | np.int64,
    mode: np.ndarray | np.int64,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The calls of a batch whose cost numerator may pass int64 (:data:`FAST_LIMIT`),
    priced in Python integers: ``(positions, costs)``, or None when there is none.

    Only books with a rate far above any ordinary deck's get here (``always_fast`` false),
    and only their long calls are wide; their numerator is the int64 path's, term by term,
    in exact integers, then rounded once like :func:`tandem.rating.tariff.cost_scaled`."""
    if not len(r) or book.rate_max * int(billed.max()) + 60 * book.fee_max < FAST_LIMIT:
        return None
    worst = book.rate_bound[r].astype(np.float64) * billed + 60.0 * np.abs(fee)
    wide = np.flatnonzero(worst >= float(FAST_LIMIT) / 2)  # float error is far below 2x
    if free is not None:
        wide = wide[~free[wide]]
    if not len(wide):
        return None
    fees = np.broadcast_to(np.asarray(fee, dtype=np.int64), r.shape)
    steps = np.broadcast_to(np.asarray(step, dtype=np.int64), r.shape)
    modes = np.broadcast_to(np.asarray(mode, dtype=np.int64), r.shape)
    numer = {k: int(book.rate[r[k]]) * int(billed[k]) + 60 * int(fees[k]) for k in wide.tolist()}
    if tiers is not None:
        assert book.set_rate is not None
        tiered, s, parts = tiers
        at = np.searchsorted(tiered, wide)
        hit = at < len(tiered)
        hit[hit] = tiered[at[hit]] == wide[hit]
        for k, t in zip(wide[hit].tolist(), at[hit].tolist(), strict=True):
            numer[k] = 60 * int(book.connect_fee[r[k]]) + sum(
                int(book.set_rate[s[t], j]) * int(b[t]) for j, b in enumerate(parts)
            )
    costs = [
        round_scaled(numer[k], int(steps[k]), _MODES[int(modes[k])]) // 60 for k in wide.tolist()
    ]
    return wide, np.asarray(costs + [None], dtype=object)[:-1]


def _check_grace(grace: int) -> None:
    if grace < 0:
        raise ConfigError(f"grace must be >= 0 seconds, got {grace}")


@dataclass
class Rater:
    """Both sides' compiled rate books; :meth:`price` is a pure function of a CDR batch.

    Build with :meth:`from_store` or from a :meth:`Store.rates` frame. ``plan`` adds grace,
    tiers and periods (:mod:`tandem.rating.plan`); ``grace`` is the default grace period in
    seconds for accounts the plan does not list.

    With a :class:`~tandem.rating.schedule.PlanSchedule` the books are compiled once and
    given each plan window's grace and tariffs (:meth:`RateBook.with_plan`): ``sell`` and
    ``buy`` price the CDRs that started before ``plan_cuts[0]`` (or all CDRs when there are
    no cuts), ``plan_books[k]`` those that started in ``[plan_cuts[k], plan_cuts[k+1])``.
    In a batch spanning several windows each side is priced window by window on the CDRs
    of that window (index arrays), and the results are put back in input order.
    """

    sell: RateBook
    buy: RateBook
    workers: int = 2
    plan_cuts: tuple[int, ...] = ()
    plan_books: tuple[tuple[RateBook, RateBook], ...] = ()

    @classmethod
    def from_rates(
        cls,
        rates: pd.DataFrame,
        plan: TariffPlan | PlanSchedule | None = None,
        *,
        grace: int = 0,
        workers: int = 2,
    ) -> Rater:
        """Compile a rates frame holding carrier and customer rows, under one tariff plan
        or a schedule of them."""
        _check_grace(grace)
        sell, buy = compile_book(rates, "customer"), compile_book(rates, "carrier")
        return cls.from_books(sell, buy, plan, grace=grace, workers=workers)

    @classmethod
    def from_books(
        cls,
        sell: RateBook,
        buy: RateBook,
        plan: TariffPlan | PlanSchedule | None = None,
        *,
        grace: int = 0,
        workers: int = 2,
    ) -> Rater:
        """Put compiled books (:func:`~tandem.rating.book.compile_book`, e.g. plan-free ones
        from :mod:`tandem.rating.bookcache`) under one tariff plan or a schedule of them;
        the prefixes and time segments are shared, only the plans are compiled."""
        _check_grace(grace)
        schedule, first = (plan, plan.plans[0]) if isinstance(plan, PlanSchedule) else (None, plan)
        books = (sell.with_plan(first, grace=grace), buy.with_plan(first, grace=grace))
        if schedule is None or not schedule.cuts:
            return cls(*books, workers=workers)
        return cls(
            *books,
            workers=workers,
            plan_cuts=schedule.cuts,
            plan_books=tuple(
                (sell.with_plan(p, grace=grace), buy.with_plan(p, grace=grace))
                for p in schedule.plans[1:]
            ),
        )

    @classmethod
    def from_store(
        cls,
        store: Store,
        plan: TariffPlan | PlanSchedule | None = None,
        *,
        grace: int = 0,
        workers: int = 2,
    ) -> Rater:
        """Compile every deck version in ``store`` (the full history: rerating is exact).

        Without ``plan``, each CDR is priced with the store's tariff plan in force at its
        start (:meth:`PlanSchedule.from_store`; flat rates when none is stored).
        """
        if plan is None:
            plan = PlanSchedule.from_store(store)
        return cls.from_rates(store.rates(), plan, grace=grace, workers=workers)

    @property
    def amount_type(self) -> pa.DataType:
        """The Arrow type of this rater's money columns: ``decimal128(18, 9)`` when no call
        of its books can pass int64 arithmetic (every amount below 10**9 units), else
        ``decimal128(38, 9)`` (:mod:`tandem.rating.amounts`)."""
        books = [self.sell, self.buy, *(b for pair in self.plan_books for b in pair)]
        return NARROW_AMOUNT_TYPE if all(b.always_fast for b in books) else AMOUNT_TYPE

    def price(self, cdrs: pa.Table, port_lookup: PortLookup | None = None) -> pa.Table:
        """Price a canonical CDR batch (see :mod:`tandem.rating.cdr`): returns the batch
        with the pricing columns added, one output row per input row, in order."""
        for col in ("start", "duration", "number", "customer", "carrier"):
            if col not in cdrs.column_names:
                raise CdrError(f"CDR batch has no {col!r} column")
        stale = [c for c in cdrs.column_names if c in OUTPUT_COLUMNS]
        if stale:  # rerating an earlier output: its prices are replaced, not duplicated
            cdrs = cdrs.drop_columns(stale)
        # Without a port lookup the numbers are normalised chunk by chunk, in the threads.
        digits = None if port_lookup is None else self._rated_numbers(cdrs, port_lookup)
        n = cdrs.num_rows
        if n > _CHUNK or (self.workers > 1 and n >= _PARALLEL_MIN):
            # Chunks small enough that their temporaries stay in cache and reused memory;
            # the threads take them in turn (numpy and Arrow release the GIL).
            size = min(_CHUNK, -(-n // self.workers))
            cut = list(range(0, n, size)) + [n]
            with ThreadPoolExecutor(max(1, self.workers)) as pool:
                parts = list(
                    pool.map(
                        lambda k: self._price_slice(
                            cdrs.slice(cut[k], cut[k + 1] - cut[k]),
                            None if digits is None else digits.slice(cut[k], cut[k + 1] - cut[k]),
                        ),
                        range(len(cut) - 1),
                    )
                )
            return pa.concat_tables(parts)
        return self._price_slice(cdrs, digits)

    @staticmethod
    def _rated_numbers(cdrs: pa.Table, port_lookup: PortLookup | None = None) -> pa.Array:
        """The digits each CDR is rated on: its routing number when it has one, else what
        ``port_lookup`` answers for the dialed number, else the dialed number."""
        digits = e164_digits_array(cdrs.column("number"))
        present = None
        if "routing_number" in cdrs.column_names:
            rn = pc.cast(cdrs.column("routing_number").combine_chunks(), pa.string())
            present = pc.fill_null(pc.not_equal(pc.utf8_trim_whitespace(rn), ""), False)
            digits = pc.if_else(present, e164_digits_array(rn), digits)
        if port_lookup is None:
            return digits
        ask = digits.is_valid()
        if present is not None:
            ask = pc.and_(ask, pc.invert(present))
        rows = np.flatnonzero(ask.to_numpy(zero_copy_only=False))
        if not len(rows):
            return digits
        import pandas as pd

        series = pd.Series(digits.take(pa.array(rows)).to_pylist(), index=rows)
        answer = port_lookup(series)
        if len(answer) != len(rows):
            raise CdrError(f"port_lookup returned {len(answer)} answers for {len(rows)} numbers")
        ported = e164_digits_array(
            pa.array(
                [None if (x is None or x is pd.NA or x != x) else str(x) for x in answer],
                pa.string(),
            )
        )
        full = np.full(len(digits), -1, dtype=np.int64)
        full[rows] = np.arange(len(rows))
        return pc.coalesce(ported.take(pa.array(full, mask=full < 0)), digits)

    def _plan_windows(self, start: np.ndarray) -> list[tuple[int, np.ndarray | None]]:
        """``(window, rows)`` for each tariff-plan window holding CDRs of the batch, by
        their start; ``rows`` None when that window holds every CDR."""
        if not self.plan_cuts:
            return [(0, None)]
        window = np.searchsorted(np.asarray(self.plan_cuts, dtype=np.int64), start, "right")
        counts = np.bincount(window, minlength=len(self.plan_cuts) + 1)
        present = np.flatnonzero(counts).tolist()
        if len(present) == 1:
            return [(present[0], None)]
        return [(k, np.flatnonzero(window == k)) for k in present]

    def _price_side_by_plan(
        self,
        side: str,
        windows: list[tuple[int, np.ndarray | None]],
        acct: np.ndarray,
        columns: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
        unknown_code: int,
    ) -> dict[str, np.ndarray]:
        """:func:`_price_side` with each CDR's plan-window books: ``columns[j]`` are the
        start, duration, key and input reason of the CDRs of ``windows[j]``; the results
        are scattered back in input order."""
        first = self.sell if side == "sell" else self.buy
        books = [first, *(pair[0] if side == "sell" else pair[1] for pair in self.plan_books)]
        if len(windows) == 1:
            return _price_side(books[windows[0][0]], acct, *columns[0], unknown_code)
        n = len(acct)
        out = {
            "row": np.full(n, -1, dtype=np.int64),
            "amount": np.zeros(n, dtype=np.int64),
            "billed": np.zeros(n, dtype=np.int64),
            "reason": np.zeros(n, dtype=np.int64),
        }
        wide_at, wide_amount = [], []
        for (k, rows), cols in zip(windows, columns, strict=True):
            part = _price_side(books[k], acct[rows], *cols, unknown_code)
            for name in out:
                out[name][rows] = part[name]
            assert rows is not None  # several windows: each has its rows
            wide_at.append(rows[part["wide_at"]])
            wide_amount.append(part["wide_amount"])
        out["wide_at"] = np.concatenate(wide_at)
        out["wide_amount"] = np.concatenate(wide_amount)
        return out

    def _price_slice(self, cdrs: pa.Table, digits: pa.Array | None) -> pa.Table:
        key = None
        if digits is None and fastrate.NATIVE and "routing_number" not in cdrs.column_names:
            # plain E.164 digits throughout (the usual file): keyed as they are, in C
            numbers = _one_chunk(cdrs.column("number"))
            key = fastrate.plain_keys(numbers)
            if key is not None:
                digits = numbers
        if digits is None:
            digits = self._rated_numbers(cdrs)
        start, start_ok = _int_column(cdrs, "start")
        duration, dur_ok = _int_column(cdrs, "duration")
        if key is None:
            key = number_keys(digits)
        input_reason = np.zeros(cdrs.num_rows, dtype=np.int64)
        if digits.null_count:
            input_reason[~to_numpy(digits.is_valid())] = _CODE["bad_number"]
        # out of range, negative included: a negative value read unsigned passes 2**63
        for values, ok_, limit, code in (
            (duration, dur_ok, MAX_DURATION, _CODE["bad_duration"]),
            (start, start_ok, MAX_INSTANT, _CODE["bad_time"]),
        ):
            # (the starts' bounds are asked again by the time segments: remembered)
            low, high = bounds(values) if len(values) else (0, 0)
            if low < 0 or high > limit or not ok_.all():
                bad = values.view(np.uint64) > limit
                bad |= ~ok_
                input_reason[bad] = code
        raw = cdrs.column("raw") if "raw" in cdrs.column_names else None
        if raw is not None and raw.null_count < len(raw):  # records the reader could not read
            broken = to_numpy(pc.is_valid(raw)) & ~start_ok
            input_reason[broken] = _CODE["bad_record"]
        out = cdrs.append_column("rated_number", digits)
        results = {}
        currency_names = sorted(set(self.sell.currencies) | set(self.buy.currencies))
        currency_dict = strings(currency_names)
        windows = self._plan_windows(start)
        columns = [
            (start, duration, key, input_reason)
            if rows is None
            else (start[rows], duration[rows], key[rows], input_reason[rows])
            for _k, rows in windows
        ]
        for side, kind in _SIDES:
            # Every plan window's books share the rows, accounts and currencies of these.
            book = self.sell if side == "sell" else self.buy
            acct = _account_index(book, cdrs.column(kind))
            res = self._price_side_by_plan(side, windows, acct, columns, _CODE[f"unknown_{kind}"])
            p_codes, prefixes, d_codes, destinations = book.strings()
            row = res["row"]
            # one value (or none) in a dictionary: every code is 0, no gather
            p_many, d_many = len(prefixes) > 1, len(destinations) > 1
            gathered = fastrate.gather_codes(
                row, p_codes if p_many else None, d_codes if d_many else None
            )
            if gathered is not None:  # both codes and the rows priced in one pass, in C
                p_idx, d_idx, missing = gathered
                all_ok = missing == 0
                ok = constant(len(row), True, np.bool_) if all_ok else row >= 0
            else:
                p_idx = d_idx = None
                ok = row >= 0
                all_ok = bool(ok.all())
            res["ok"] = ok
            mask = None if all_ok else ~ok
            safe = row if all_ok else np.maximum(row, 0)
            to_global = np.asarray(
                [currency_names.index(c) for c in book.currencies] or [0], dtype=np.int32
            )
            if len(book.currency_of_row) and not book.uniform("currency_of_row"):
                cur = to_global[book.currency_of_row[safe]]
            else:  # one currency on this side
                cur = constant(len(row), int(to_global[0]), np.int32)
            res["currency"] = cur if all_ok else np.where(ok, cur, -1)
            for name, codes_, dictionary, got in (
                ("prefix", p_codes, prefixes, p_idx),
                ("destination", d_codes, destinations, d_idx),
            ):
                # the codes index the book's dictionaries by construction (safe=False: no
                # bounds check, here and for the currency and reason columns below)
                if len(dictionary) <= 1:
                    idx = constant(len(row), 0, np.int32)
                else:
                    idx = got if got is not None else codes_[safe]
                out = out.append_column(
                    f"{side}_{name}",
                    pa.DictionaryArray.from_arrays(
                        from_numpy(idx, mask=mask), dictionary, safe=False
                    ),
                )
            out = out.append_column(f"{side}_billed_seconds", from_numpy(res["billed"], mask=mask))
            out = out.append_column(
                f"{side}_amount",
                amount_array(
                    res["amount"],
                    ok,
                    (res["wide_at"], res["wide_amount"].tolist()),
                    self.amount_type,
                ),
            )
            out = out.append_column(
                f"{side}_currency",
                pa.DictionaryArray.from_arrays(
                    from_numpy(cur, mask=mask), currency_dict, safe=False
                ),
            )
            codes = res["reason"]
            if all_ok and not codes.any():  # every CDR priced: no reason anywhere
                reason = null_array(len(row), pa.int8())
            else:
                codes = codes.astype(np.int8)
                reason = from_numpy(np.maximum(codes - 1, 0), mask=_mask(codes == 0))
            out = out.append_column(
                f"{side}_reason", pa.DictionaryArray.from_arrays(reason, _REASON_DICT, safe=False)
            )
            # what the margin needs; the side's other arrays are freed before the next
            # side's are made (the heap's peak, faulted in by the first batches, is lower)
            results[side] = {
                k: res[k] for k in ("amount", "ok", "currency", "wide_at", "wide_amount")
            }
            del res, row, safe, codes, idx, mask
        sell, buy = results["sell"], results["buy"]
        both = sell["ok"] & buy["ok"] & (sell["currency"] == buy["currency"])
        wide = None
        if len(sell["wide_at"]) or len(buy["wide_at"]):  # exact where either side is wide
            at = np.union1d(sell["wide_at"], buy["wide_at"])
            exact = [_exact_amounts(res, at) for res in (sell, buy)]
            wide = (at, [a - b for a, b in zip(*exact, strict=True)])
        margin = amount_array(sell["amount"], both, wide, self.amount_type, minus=buy["amount"])
        return out.append_column("margin", margin)


def _exact_amounts(res: dict[str, np.ndarray], at: np.ndarray) -> list[int]:
    """One side's exact amounts (Python integers) at positions ``at``."""
    values = res["amount"][at].tolist()
    where = {int(p): i for i, p in enumerate(at.tolist())}
    for p, a in zip(res["wide_at"].tolist(), res["wide_amount"].tolist(), strict=True):
        values[where[p]] = a
    return values


# -- results ----------------------------------------------------------------------------


def split_rated(priced: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(rated, unrated) rows of a priced batch; unrated rows carry ``reason``."""
    reasons = priced.column("sell_reason")
    if reasons.null_count == priced.num_rows:  # every CDR rated: no copy
        rated, unrated = priced, priced.slice(0, 0)
    else:
        has_sell = pc.is_null(reasons)
        rated = priced.filter(has_sell)
        unrated = priced.filter(pc.invert(has_sell))
    unrated = unrated.append_column("reason", unrated.column("sell_reason"))
    return rated, unrated


@dataclass
class RatingSummary:
    """Counts and exact totals of a rating run (money as scaled ints by currency)."""

    rows_in: int = 0
    rated: int = 0
    unrated: dict[str, int] = field(default_factory=dict)
    buy_unrated: dict[str, int] = field(default_factory=dict)
    buy_rated: int = 0
    sell_total: dict[str, int] = field(default_factory=dict)
    buy_total: dict[str, int] = field(default_factory=dict)
    margin: dict[str, int] = field(default_factory=dict)
    #: A period rerate (:func:`tandem.rating.stream.rate_file` ``period=``): its UTC bounds,
    #: the CDRs of the source outside it (not rated by this run), and the earlier results
    #: outside it kept in the outputs.
    period: tuple[int, int] | None = None
    outside_period: int = 0
    kept: int = 0
    #: CDR starts read in local time (:mod:`tandem.rating.localtime`): in the repeated hour
    #: of a DST change and undecided (the first occurrence taken), decided by the CDR's end
    #: time, and in the skipped hour (no such time: unrated ``bad_time``).
    ambiguous_times: int = 0
    ambiguous_times_resolved: int = 0
    nonexistent_times: int = 0

    @property
    def unrated_count(self) -> int:
        """CDRs without a sell price."""
        return sum(self.unrated.values())

    def add(self, priced: pa.Table) -> None:
        """Count one priced batch in (and check that nothing was lost)."""
        self.rows_in += priced.num_rows
        for side, reasons in (("sell", self.unrated), ("buy", self.buy_unrated)):
            counted = _value_counts(priced.column(f"{side}_reason"))
            for value, count in counted.items():
                if value is not None:
                    reasons[value] = reasons.get(value, 0) + count
                elif side == "sell":
                    self.rated += count
                else:
                    self.buy_rated += count
            totals = self.sell_total if side == "sell" else self.buy_total
            for c, rows in _rows_by_value(priced.column(f"{side}_currency")):

                def mine(col: str, rows: pa.Array | None = rows) -> Any:
                    return priced.column(col) if rows is None else priced.column(col).filter(rows)

                totals[c] = totals.get(c, 0) + exact_total(mine(f"{side}_amount"))
                if side == "sell":
                    self.margin[c] = self.margin.get(c, 0) + exact_total(mine("margin"))
        if "time_note" in priced.column_names and priced.column("time_note").null_count < len(
            priced
        ):
            notes = pc.value_counts(priced.column("time_note").combine_chunks()).to_pylist()
            for item in notes:
                name = _TIME_NOTE_FIELD.get(item["values"])
                if name is not None:
                    setattr(self, name, getattr(self, name) + item["counts"])
        if self.rows_in != self.rated + self.unrated_count:  # invariant 4: nothing lost
            raise AssertionError(
                f"rating lost CDRs: {self.rows_in} in, {self.rated} rated, "
                f"{self.unrated_count} unrated"
            )

    def merge(self, other: RatingSummary) -> None:
        """Add the counts and exact totals of ``other`` (another part of the same run,
        e.g. a Dask partition's) into this summary; checks that nothing was lost."""
        self.rows_in += other.rows_in
        self.rated += other.rated
        self.buy_rated += other.buy_rated
        for mine, theirs in (
            (self.unrated, other.unrated),
            (self.buy_unrated, other.buy_unrated),
            (self.sell_total, other.sell_total),
            (self.buy_total, other.buy_total),
            (self.margin, other.margin),
        ):
            for key, value in theirs.items():
                mine[key] = mine.get(key, 0) + value
        self.outside_period += other.outside_period
        self.kept += other.kept
        self.ambiguous_times += other.ambiguous_times
        self.ambiguous_times_resolved += other.ambiguous_times_resolved
        self.nonexistent_times += other.nonexistent_times
        if self.rows_in != self.rated + self.unrated_count:  # invariant 4: nothing lost
            raise AssertionError(
                f"rating lost CDRs: {self.rows_in} in, {self.rated} rated, "
                f"{self.unrated_count} unrated"
            )

    @property
    def currency(self) -> str | None:
        """The one currency of every amount, or None when several appear."""
        found = set(self.sell_total) | set(self.buy_total)
        return found.pop() if len(found) == 1 else None

    def as_json(self) -> dict:
        """The ``--json`` object: money as decimal strings."""

        def money(d: dict[str, int], c: str | None) -> str:
            return format_money(d.get(c, 0)) if c else "0"

        cur = self.currency
        out: dict[str, object] = {
            "rows_in": self.rows_in,
            "rated": self.rated,
            "unrated": dict(sorted(self.unrated.items())),
            "buy_rated": self.buy_rated,
            "buy_unrated": dict(sorted(self.buy_unrated.items())),
        }
        if cur is not None or not (self.sell_total or self.buy_total):
            out.update(
                buy_total=money(self.buy_total, cur),
                sell_total=money(self.sell_total, cur),
                margin=money(self.margin, cur),
                currency=cur,
            )
        else:
            out.update(buy_total=None, sell_total=None, margin=None, currency=None)
        out["by_currency"] = {
            c: {
                "buy_total": money(self.buy_total, c),
                "sell_total": money(self.sell_total, c),
                "margin": money(self.margin, c),
            }
            for c in sorted(set(self.sell_total) | set(self.buy_total))
        }
        out["ambiguous_times"] = self.ambiguous_times
        out["ambiguous_times_resolved"] = self.ambiguous_times_resolved
        out["nonexistent_times"] = self.nonexistent_times
        if self.period is not None:
            start, until = self.period
            out["period"] = {"from": format_instant(start), "until": format_instant(until)}
            out["outside_period"] = self.outside_period
            out["kept"] = self.kept
        return out


def _dictionary_codes(col: pa.ChunkedArray) -> tuple[np.ndarray, list[Any]] | None:
    """``(code per row, values)`` of a dictionary column: the index of each row's value in
    ``values`` (its dictionary), ``len(values)`` for a null; None for another type, or a
    dictionary holding a value twice."""
    if not pa.types.is_dictionary(col.type):
        return None
    arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if arr.null_count == len(arr):
        return np.zeros(len(arr), dtype=np.int64), []
    values = arr.dictionary.to_pylist()
    if len(set(values)) != len(values):  # a value at several codes (not Tandem's own)
        return None
    indices = arr.indices
    if arr.null_count:
        indices = pc.fill_null(indices, scalar(0, indices.type))
    codes = to_numpy(indices).astype(np.int64)
    if arr.null_count:
        codes[~to_numpy(arr.is_valid())] = len(values)
    return codes, values


def _one_value(col: pa.ChunkedArray) -> tuple[list[Any], pa.Array] | None:
    """``(values, array)`` of a one-chunk dictionary column holding one value at most
    besides nulls (a priced batch's currency column, its reason column when every CDR is
    priced): ``values`` is ``[]`` when every row is null, else its one-entry dictionary.
    None for any other column (counted on codes: :func:`_dictionary_codes`)."""
    if not pa.types.is_dictionary(col.type) or col.num_chunks != 1:
        return None
    arr = col.chunk(0)
    if arr.null_count == len(arr):
        return [], arr
    if len(arr.dictionary) != 1:
        return None
    return arr.dictionary.to_pylist(), arr


def _value_counts(col: pa.ChunkedArray) -> dict[Any, int]:
    """How many rows hold each value of ``col`` (None: the nulls); values counted 0 are
    left out. Dictionary columns (every priced batch's) are counted on their codes, or
    from their null count when they hold one value at most (:func:`_one_value`)."""
    one = _one_value(col)
    if one is not None:
        values, arr = one
        out: dict[Any, int] = {}
        if values and len(arr) > arr.null_count:
            out[values[0]] = len(arr) - arr.null_count
        if arr.null_count:
            out[None] = out.get(None, 0) + arr.null_count
        return out
    found = _dictionary_codes(col)
    if found is None:
        counts = pc.value_counts(col.combine_chunks()).to_pylist()
        return {item["values"]: item["counts"] for item in counts}
    codes, values = found
    bins = np.bincount(codes, minlength=len(values) + 1).tolist()
    out = {}
    for value, count in zip([*values, None], bins, strict=False):
        if count:
            out[value] = out.get(value, 0) + count
    return out


def _rows_by_value(col: pa.ChunkedArray) -> list[tuple[Any, pa.Array | None]]:
    """``(value, rows)`` for each non-null value of ``col``: ``rows`` a boolean filter of
    the rows holding it, or None when every row does (no filter needed)."""
    one = _one_value(col)
    if one is not None:  # no codes to count: the rows holding the value are the valid ones
        values, arr = one
        if not values or arr.null_count == len(arr):
            return []
        return [(values[0], arr.is_valid() if arr.null_count else None)]
    found = _dictionary_codes(col)
    out: list[tuple[Any, pa.Array | None]] = []
    if found is None:
        for c in pc.unique(col.combine_chunks()).to_pylist():
            if c is None:
                continue
            mask = pc.fill_null(pc.equal(col, scalar(c, pa.string())), _FALSE)
            out.append((c, None if pc.all(mask).as_py() else mask))
        return out
    codes, values = found
    bins = np.bincount(codes, minlength=len(values) + 1)
    for code in np.flatnonzero(bins[:-1]).tolist():
        every = bins[code] == len(codes)
        out.append((values[code], None if every else from_numpy(codes == code)))
    return out


#: ``time_note`` values (:mod:`tandem.rating.localtime`) → the summary field counting them.
_TIME_NOTE_FIELD = {
    "ambiguous_local_time": "ambiguous_times",
    "ambiguous_local_time_resolved": "ambiguous_times_resolved",
    "nonexistent_local_time": "nonexistent_times",
}


@dataclass
class RatingResult:
    """What :func:`price_cdrs` returns: rated and unrated CDRs and the summary."""

    rated: pd.DataFrame
    unrated: pd.DataFrame
    summary: RatingSummary


def price_cdrs(
    cdrs: pd.DataFrame | pa.Table | str | os.PathLike[str],
    rates: Rater | pd.DataFrame | Store,
    *,
    plan: TariffPlan | PlanSchedule | None = None,
    grace: int = 0,
    port_lookup: PortLookup | None = None,
    format: str = "auto",
    timezone: str = "UTC",
    column_map: dict[str, str] | None = None,
    customer: str | None = None,
    carrier: str | None = None,
    customer_map: dict[str, str] | None = None,
    carrier_map: dict[str, str] | None = None,
    workers: int = 2,
) -> RatingResult:
    """Price CDRs on both sides: a DataFrame, an Arrow table or a file (any format of
    :mod:`tandem.rating.cdr`). ``rates`` is a :class:`tandem.Store`, a :meth:`Store.rates`
    frame or a :class:`Rater`; ``plan`` a tariff plan or a :class:`PlanSchedule` (from a
    store without one: the store's tariff plans, each CDR by its start). ``port_lookup``
    maps a Series of E.164 numbers to routing numbers (None/NA when not ported). Money
    columns are exact decimals."""
    import pandas as pd

    from tandem.rating.cdr import CdrReader

    if isinstance(rates, Rater):
        rater = rates
    elif isinstance(rates, pd.DataFrame):
        rater = Rater.from_rates(rates, plan, grace=grace, workers=workers)
    else:
        rater = Rater.from_store(rates, plan, grace=grace, workers=workers)
    reader = CdrReader(
        format=format,
        timezone=timezone,
        column_map=column_map,
        customer=customer,
        carrier=carrier,
        customer_map=customer_map,
        carrier_map=carrier_map,
    )
    summary = RatingSummary()
    rated_parts: list[pa.Table] = []
    unrated_parts: list[pa.Table] = []
    for batch in reader.batches(cdrs):
        priced = rater.price(batch, port_lookup)
        summary.add(priced)
        r, u = split_rated(priced)
        rated_parts.append(r)
        unrated_parts.append(u)
    if not rated_parts:
        empty = pd.DataFrame()
        return RatingResult(empty, empty, summary)
    return RatingResult(
        pa.concat_tables(rated_parts, promote_options="permissive").to_pandas(),
        pa.concat_tables(unrated_parts, promote_options="permissive").to_pandas(),
        summary,
    )
