"""A rate book: one side's decks (every carrier, or every customer) compiled for batch rating.

Compilation turns the store's rate rows (with their validity windows) into a few flat
numpy arrays so that rating a batch is two binary searches per CDR, not SQL:

1. **Time segments.** For each account, the instants where any of its rows begins or ends
   cut time into segments; inside a segment the set of rows in force is constant. A CDR's
   segment is found by ``searchsorted`` over ``(account << 40) | start``.
2. **Disjoint prefix intervals.** The prefixes in force in a segment become nested
   intervals of the base-11 key space (:mod:`tandem.rating.numbers`); a sweep flattens them
   into disjoint pieces labelled with the innermost (longest) prefix's row. A CDR's row is
   found by ``searchsorted`` over ``segment * 11**15 + key``.

Tariff plans (:mod:`tandem.rating.plan`) are compiled onto rows: for every row and every
period of its account, the index of its interval set, or -1 for the row's flat rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tandem.errors import ConfigError
from tandem.money import SCALE
from tandem.rating.numbers import KEY_SPAN, MAX_DIGITS, prefix_key_range
from tandem.rating.plan import AccountPlan, TariffPlan
from tandem.rating.tariff import Interval, flat_intervals, rounding_code
from tandem.store.store import OPEN_END

__all__ = ["RateBook", "compile_book", "TIME_BITS", "MAX_RATE", "MAX_DURATION", "MAX_INSTANT"]

#: Bits of the instant in a segment key (instants are clipped to [0, 2**40)).
TIME_BITS = 40
_TIME_MAX = (1 << TIME_BITS) - 1
#: Latest call start rated (UTC epoch seconds); earlier than 0 or later is a bad time.
MAX_INSTANT = _TIME_MAX
#: Largest per-minute rate (scaled) that keeps every product inside int64.
MAX_RATE = 10**12
#: Longest duration (seconds) rated; longer is treated as a bad duration.
MAX_DURATION = 10**6
_FAR = 1 << 50


@dataclass
class RateBook:
    """One side's compiled rates (see the module docstring). Build with :func:`compile_book`."""

    kind: str
    accounts: dict[str, int]
    seg_keys: np.ndarray  # int64, sorted: (account << 40) | segment start
    seg_empty: np.ndarray  # bool per segment: no row in force
    piece_start: np.ndarray  # int64: start key of each piece, segment by segment
    piece_row: np.ndarray  # int64: row index of each piece or -1
    bucket_digits: int  # D: buckets index the first D key digits of each segment
    buckets: np.ndarray  # int64 per (segment, bucket): first candidate piece | (end << 32),
    #                      or -(1 + index into sub_buckets) for a dense bucket
    sub_buckets: np.ndarray  # int64: 11 entries (next key digit) per dense bucket
    rows: pd.DataFrame  # the store's rate rows, positionally indexed
    rate: np.ndarray
    connect_fee: np.ndarray
    initial: np.ndarray
    nxt: np.ndarray
    min_duration: np.ndarray
    step: np.ndarray  # rounding step * 60 per row
    rounding: np.ndarray  # rounding codes per row
    account_of_row: np.ndarray
    grace: np.ndarray  # per account
    plans: list[AccountPlan]  # per account
    row_sets: np.ndarray | None = None  # (rows, 1 + max periods) int32
    set_start: np.ndarray | None = None  # (sets, T)
    set_rate: np.ndarray | None = None
    set_inc: np.ndarray | None = None
    tz_of_row: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    timezones: list[str] = field(default_factory=list)
    currencies: list[str] = field(default_factory=list)
    currency_of_row: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    _uniform: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)

    def uniform(self, name: str) -> bool:
        """Whether the per-row (or per-account) array ``name`` holds one value throughout
        (computed once: a compiled book does not change)."""
        if name not in self._uniform:
            values = getattr(self, name)
            self._uniform[name] = bool(len(values)) and bool(values.min() == values.max())
        return self._uniform[name]

    def account_index(self, names: np.ndarray) -> np.ndarray:
        """Account index per name (-1 when the account has no rates on this side)."""
        codes = pd.Categorical(names, categories=list(self.accounts))
        return np.asarray(codes.codes, dtype=np.int64)

    def lookup(self, acct: np.ndarray, start: np.ndarray, key: np.ndarray):
        """``(row, empty)`` per CDR: matched row (-1 none) and whether no deck was in force.

        ``acct`` must be >= 0; ``start`` UTC epoch seconds; ``key`` base-11 number keys.
        A direct bucket table on the key's first digits (a second level on the next digit
        for dense buckets) narrows each search to the few pieces of its bucket; a
        vectorised binary search finishes it.
        """
        if len(self.seg_keys) == len(self.accounts):
            g = acct  # one time segment per account: the segment is the account's
        else:
            t = np.clip(start, 0, _TIME_MAX)
            g = np.searchsorted(self.seg_keys, (acct << TIME_BITS) | t, side="right") - 1
        empty = self.seg_empty[g]
        width = 11 ** (MAX_DIGITS - self.bucket_digits)
        b = key // width
        if len(self.seg_keys) > 1:
            b += g * (11**self.bucket_digits)
        packed = self.buckets[b]  # one random read per CDR for both ends
        dense = np.flatnonzero(packed < 0)
        if len(dense):
            sub = (key[dense] // (width // 11)) % 11
            packed[dense] = self.sub_buckets[-packed[dense] - 1 + sub]
        pos = packed & 0xFFFFFFFF
        span = packed >> 32
        span -= pos
        act = np.flatnonzero(span > 1)
        if len(act):
            # Branchless binary search over the candidates [lo, lo + n) of every CDR at
            # once: piece_start[lo] <= key always holds, each step halves n.
            lo = pos[act]
            n = span[act]
            k = key[act]
            longest = int(n.max())
            while longest > 1:
                half = n >> 1
                mid = lo + half
                np.copyto(lo, mid, where=self.piece_start[mid] <= k)
                n -= half
                longest -= longest >> 1
            pos[act] = lo
        return self.piece_row[pos], empty


def _pieces(lo: np.ndarray, hi: np.ndarray, rows: np.ndarray) -> tuple[list[int], list[int]]:
    """Flatten nested key intervals into disjoint pieces ``(starts, row)`` over [0, 11**15)."""
    order = np.lexsort((-hi, lo))
    starts: list[int] = [0]
    vals: list[int] = [-1]
    stack: list[tuple[int, int]] = []  # (hi, row) of the open intervals, innermost last

    def emit(at: int, row: int) -> None:
        # Pieces are emitted at non-decreasing positions; one at the same position wins.
        if starts[-1] == at:
            vals[-1] = row
        elif vals[-1] != row:
            starts.append(at)
            vals.append(row)

    for i in order.tolist():
        a, b, r = int(lo[i]), int(hi[i]), int(rows[i])
        while stack and stack[-1][0] <= a:
            end, _ = stack.pop()
            emit(end, stack[-1][1] if stack else -1)
        emit(a, r)
        stack.append((b, r))
    while stack:
        end, _ = stack.pop()
        emit(end, stack[-1][1] if stack else -1)
    while starts[-1] >= KEY_SPAN:  # the end of the key space is the next segment's start
        starts.pop()
        vals.pop()
    return starts, vals


def _bucket_digits(segments: int, pieces: int) -> int:
    """Key digits the bucket table indexes: about 4 buckets per piece, at most 6 digits
    and at most 4M entries in all."""
    d = 1
    while d < 6 and 11**d < 4 * pieces and segments * 11 ** (d + 1) <= 4_000_000:
        d += 1
    return d


def compile_book(
    rates: pd.DataFrame, kind: str, plan: TariffPlan | None = None, *, grace: int = 0
) -> RateBook:
    """Compile one side's rate rows (``Store.rates(kind=...)`` frame) and its plan."""
    plan = plan if plan is not None else TariffPlan()
    rows = rates[rates["kind"] == kind].reset_index(drop=True) if len(rates) else rates
    names = sorted(set(rows["account"].tolist()))
    if plan is not None:
        names = sorted(set(names))
    accounts = {n: i for i, n in enumerate(names)}
    n = len(rows)
    acct = rows["account"].map(accounts).to_numpy(dtype=np.int64) if n else np.zeros(0, np.int64)
    prefixes = rows["prefix"].astype(str).to_numpy() if n else np.zeros(0, object)
    usable = np.array(
        [p.isascii() and p.isdigit() and len(p) <= MAX_DIGITS for p in prefixes], dtype=bool
    )
    lo = np.zeros(n, dtype=np.int64)
    hi = np.zeros(n, dtype=np.int64)
    for i in np.flatnonzero(usable).tolist():
        lo[i], hi[i] = prefix_key_range(prefixes[i])
    rate = rows["rate"].to_numpy(dtype=np.int64) if n else np.zeros(0, np.int64)
    fee = rows["connect_fee"].to_numpy(dtype=np.int64) if n else np.zeros(0, np.int64)
    if n and (np.abs(rate).max() > MAX_RATE or np.abs(fee).max() > MAX_RATE):
        raise ConfigError("a rate or connect fee above 1000 per minute cannot be rated exactly")
    eff_from = np.clip(rows["effective_from"].to_numpy(dtype=np.int64), 0, _TIME_MAX) if n else lo
    until_raw = rows["effective_until"].to_numpy(dtype=np.int64) if n else hi
    eff_until = np.where(until_raw >= OPEN_END, _FAR, np.clip(until_raw, 0, _TIME_MAX))

    seg_keys: list[int] = []
    seg_empty: list[bool] = []
    seg_pieces: list[tuple[np.ndarray, np.ndarray]] = []
    for a in range(len(names)):
        mine = np.flatnonzero((acct == a) & usable)
        bounds = sorted(
            {0}
            | set(eff_from[mine].tolist())
            | {int(u) for u in eff_until[mine].tolist() if u < _FAR}
        )
        for b in bounds:
            live = mine[(eff_from[mine] <= b) & (b < eff_until[mine])]
            seg_keys.append((a << TIME_BITS) | b)
            seg_empty.append(len(live) == 0)
            starts, vals = _pieces(lo[live], hi[live], live)
            seg_pieces.append(
                (np.asarray(starts, dtype=np.int64), np.asarray(vals, dtype=np.int64))
            )
    if not seg_keys:
        seg_keys.append(-1)  # sentinel so that searchsorted never indexes an empty array
        seg_empty.append(True)
        seg_pieces.append((np.zeros(1, dtype=np.int64), np.full(1, -1, dtype=np.int64)))
    digits = _bucket_digits(len(seg_keys), sum(len(p[0]) for p in seg_pieces))
    bucket_width = 11 ** (MAX_DIGITS - digits)
    sub_width = bucket_width // 11
    edges = np.arange(11**digits, dtype=np.int64) * bucket_width
    sub_steps = np.arange(11, dtype=np.int64) * sub_width
    level1: list[np.ndarray] = []
    level2: list[np.ndarray] = []
    offset = 0
    sub_base = 0
    for starts_g, _vals in seg_pieces:
        lo_b = np.searchsorted(starts_g, edges, side="right") - 1
        hi_b = np.searchsorted(starts_g, edges + bucket_width, side="left")
        packed = (lo_b + offset).astype(np.int64) | ((hi_b + offset).astype(np.int64) << 32)
        multi = np.flatnonzero(hi_b - lo_b > 2) if sub_width else np.zeros(0, np.int64)
        if len(multi):
            # Dense buckets get a second level on the next key digit (11 sub-buckets).
            sub_edges = (edges[multi][:, None] + sub_steps[None, :]).ravel()
            lo2 = np.searchsorted(starts_g, sub_edges, side="right") - 1 + offset
            hi2 = np.searchsorted(starts_g, sub_edges + sub_width, side="left") + offset
            level2.append(lo2.astype(np.int64) | (hi2.astype(np.int64) << 32))
            packed[multi] = -(sub_base + 11 * np.arange(len(multi), dtype=np.int64)) - 1
            sub_base += 11 * len(multi)
        level1.append(packed)
        offset += len(starts_g)
    if offset >= 2**31:
        raise ConfigError("too many rates to compile: split the CDRs by account or period")

    decimals = rows["decimals"].to_numpy(dtype=np.int64) if n else np.zeros(0, np.int64)
    if n and ((decimals < 0) | (decimals > SCALE)).any():
        raise ConfigError(f"a deck's decimals must be between 0 and {SCALE}")
    step = 60 * 10 ** (SCALE - decimals)
    rcode = np.array([rounding_code(r) for r in rows["rounding"].tolist()], dtype=np.int64)
    timezones = sorted(set(rows["timezone"].tolist())) if n else []
    currencies = sorted(set(rows["currency"].tolist())) if n else []
    plans = [plan.get(kind, a) for a in names]
    book = RateBook(
        kind=kind,
        accounts=accounts,
        seg_keys=np.asarray(seg_keys, dtype=np.int64),
        seg_empty=np.asarray(seg_empty, dtype=bool),
        piece_start=np.concatenate([p[0] for p in seg_pieces]),
        piece_row=np.concatenate([p[1] for p in seg_pieces]),
        bucket_digits=digits,
        buckets=np.concatenate(level1),
        sub_buckets=np.concatenate(level2) if level2 else np.zeros(1, dtype=np.int64),
        rows=rows,
        rate=rate,
        connect_fee=fee,
        initial=rows["initial_increment"].to_numpy(dtype=np.int64) if n else lo,
        nxt=rows["next_increment"].to_numpy(dtype=np.int64) if n else lo,
        min_duration=rows["min_duration"].to_numpy(dtype=np.int64) if n else lo,
        step=step.astype(np.int64),
        rounding=rcode,
        account_of_row=acct,
        grace=np.asarray(
            [
                p.grace if (kind, a) in plan.accounts else grace
                for p, a in zip(plans, names, strict=True)
            ],
            dtype=np.int64,
        ),
        plans=plans,
        tz_of_row=np.asarray(
            [timezones.index(z) for z in rows["timezone"].tolist()], dtype=np.int32
        )
        if n
        else np.zeros(0, np.int32),
        timezones=timezones,
        currencies=currencies,
        currency_of_row=np.asarray(
            [currencies.index(c) for c in rows["currency"].tolist()], dtype=np.int32
        )
        if n
        else np.zeros(0, np.int32),
    )
    _compile_plans(book, prefixes)
    return book


def _compile_plans(book: RateBook, prefixes: np.ndarray) -> None:
    """Fill ``row_sets`` and the interval-set arrays from the accounts' plans."""
    if not any(p.tariffs for p in book.plans):
        return
    width = 1 + max(len(p.periods) for p in book.plans)
    row_sets = np.full((len(book.rows), width), -1, dtype=np.int32)
    sets: list[tuple[Interval, ...]] = []
    index: dict[tuple[Interval, ...], int] = {}
    for r in range(len(book.rows)):
        p = book.plans[book.account_of_row[r]]
        if not p.tariffs:
            continue
        for k in range(1 + len(p.periods)):
            t = p.tariff_for(str(prefixes[r]), k)
            if t is None:
                continue
            if t.intervals is not None:
                ivs = t.intervals
            else:
                ivs = flat_intervals(int(t.rate), int(book.initial[r]), int(book.nxt[r]))
            if ivs not in index:
                index[ivs] = len(sets)
                sets.append(ivs)
            row_sets[r, k] = index[ivs]
    width_t = max(len(s) for s in sets) if sets else 1
    start = np.full((max(len(sets), 1), width_t), _FAR, dtype=np.int64)
    rate = np.zeros_like(start)
    inc = np.ones_like(start)
    for s, ivs in enumerate(sets):
        for j, iv in enumerate(ivs):
            start[s, j] = iv.start
            rate[s, j] = iv.rate
            inc[s, j] = iv.increment if iv.increment > 0 else 1
    if sets and (np.abs(rate).max() > MAX_RATE):
        raise ConfigError("a plan rate above 1000 per minute cannot be rated exactly")
    book.row_sets = row_sets
    book.set_start, book.set_rate, book.set_inc = start, rate, inc
