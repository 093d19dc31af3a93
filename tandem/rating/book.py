"""A rate book: one side's decks (every carrier, or every customer) compiled for batch rating.

Compilation turns the store's rate rows (with their validity windows) into a few flat
numpy arrays so that rating a batch is a few array reads per CDR, not SQL:

1. **Time segments.** For each account, the instants where any of its rows begins or ends
   cut time into segments; inside a segment the set of rows in force is constant. A CDR's
   segment is found by ``searchsorted`` over ``(account << 40) | start``.
2. **Disjoint prefix intervals.** The prefixes in force in a segment become nested
   intervals of the base-11 key space (:mod:`tandem.rating.keys`); a sweep flattens them
   into disjoint pieces labelled with the innermost (longest) prefix's row.
3. **A digit trie over the pieces.** Each segment with rates in force gets a root table
   indexed by the first ``D`` key digits; an entry is either the row that covers its whole
   key range or a node of 11 entries for the next digit, and so on down. A CDR's row is one
   root read plus one node read per digit its prefix runs past ``D`` (two for an 8-digit
   prefix with ``D = 6``), each level done for all CDRs still unresolved at once.

Tariff plans (:mod:`tandem.rating.plan`) are compiled onto rows: for every row and every
period of its account, the index of its interval set, or -1 for the row's flat rate.

Money bounds: any rate the store holds is rated exactly. The book knows, per row, the
largest rate a call of that row can be billed at (``rate_bound``) and whether every
product ``rate * billed seconds`` of every possible call fits int64 with room to round
(``always_fast``: true for every ordinary deck); when it is not, the batch path computes
the few calls that could pass int64 in Python integers (:mod:`tandem.rating.price`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from tandem.errors import ConfigError
from tandem.instant import OPEN_END
from tandem.money import MAX_RATE, SCALE
from tandem.numbers import MAX_DIGITS
from tandem.rating.arrays import bounds, constant
from tandem.rating.keytrie import key_pieces as _pieces
from tandem.rating.keytrie import key_trie as _trie
from tandem.rating.keytrie import prefix_key_ranges as _prefix_key_ranges
from tandem.rating.keytrie import root_digits as _root_digits
from tandem.rating.keytrie import trie_walk
from tandem.rating.plan import AccountPlan, TariffPlan
from tandem.rating.tariff import Interval, flat_intervals, rounding_code

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RateBook", "compile_book", "TIME_BITS", "MAX_RATE", "MAX_DURATION", "MAX_INSTANT"]

#: Bits of the instant in a segment key (instants are clipped to [0, 2**40)).
TIME_BITS = 40
_TIME_MAX = (1 << TIME_BITS) - 1
#: Latest call start rated (UTC epoch seconds); earlier than 0 or later is a bad time.
MAX_INSTANT = _TIME_MAX
#: Longest duration (seconds) rated; longer is treated as a bad duration.
MAX_DURATION = 10**6
#: A cost numerator (``60 * fee + sum(rate * billed)``) below this is computed in int64:
#: rounding adds at most one step (< 2**36), and a margin subtracts two such amounts / 60.
FAST_LIMIT = 1 << 61
_FAR = 1 << 50


@dataclass
class RateBook:
    """One side's compiled rates (see the module docstring). Build with :func:`compile_book`."""

    kind: str
    accounts: dict[str, int]
    seg_keys: np.ndarray  # int64, sorted: (account << 40) | segment start
    seg_empty: np.ndarray  # bool per segment: no row in force
    seg_root: np.ndarray  # int64 per segment: offset of its root table in ``roots``
    root_digits: int  # D: root tables index the first D key digits
    roots: np.ndarray  # int32: row + 1 (0: none) or -(1 + node) per root entry
    nodes: np.ndarray  # int32: 11 entries (next key digit) per node, encoded as ``roots``
    #: The store's rate rows, positionally indexed; None in a book loaded from the cache
    #: (:mod:`tandem.rating.bookcache`), which keeps only what pricing reads of them.
    rows: pd.DataFrame | None
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
    #: Per row: the largest |rate| (scaled, per minute) a call of the row is billed at,
    #: its flat rate or any plan interval's.
    rate_bound: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    rate_max: int = 0  # the largest rate_bound
    fee_max: int = 0  # the largest |connect fee|
    #: Every call of every row has a cost numerator below FAST_LIMIT (int64 suffices).
    always_fast: bool = True
    #: Per row: the code of its prefix in ``prefix_names`` (and of its destination in
    #: ``destination_names``), the distinct texts as Arrow strings: the dictionaries of
    #: the priced batches' prefix and destination columns (see :meth:`strings`).
    prefix_codes: np.ndarray | None = None
    prefix_names: pa.Array | None = None
    destination_codes: np.ndarray | None = None
    destination_names: pa.Array | None = None
    _uniform: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)
    #: What the C pricing loop reads of the rows (:func:`tandem.rating.fastrate.packed_rows`),
    #: built on first use; the same under every plan (shared by :meth:`with_plan`).
    _native: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def strings(self) -> tuple[np.ndarray, pa.Array, np.ndarray, pa.Array]:
        """(prefix code per row, distinct prefixes, destination code per row, distinct
        destinations), dictionary-encoded from :attr:`rows` once (a book from the cache has
        them already)."""
        if (
            self.prefix_codes is None
            or self.prefix_names is None
            or self.destination_codes is None
            or self.destination_names is None
        ):
            out: list = []
            for col in ("prefix", "destination"):
                rows = self.rows
                values = (
                    rows[col].fillna("").astype(str).tolist()
                    if rows is not None and len(rows)
                    else []
                )
                enc = pc.dictionary_encode(pa.array(values, pa.string()))
                out += [enc.indices.to_numpy().astype(np.int32, copy=False), enc.dictionary]
            self.prefix_codes, self.prefix_names = out[0], out[1]
            self.destination_codes, self.destination_names = out[2], out[3]
        return self.prefix_codes, self.prefix_names, self.destination_codes, self.destination_names

    def uniform(self, name: str) -> bool:
        """Whether the per-row (or per-account) array ``name`` holds one value throughout
        (computed once: a compiled book does not change)."""
        if name not in self._uniform:
            values = getattr(self, name)
            self._uniform[name] = bool(len(values)) and bool(values.min() == values.max())
        return self._uniform[name]

    def account_index(self, names: np.ndarray) -> np.ndarray:
        """Account index per name (-1 when the account has no rates on this side)."""
        import pandas as pd

        codes = pd.Categorical(names, categories=list(self.accounts))
        return np.asarray(codes.codes, dtype=np.int64)

    def lookup(
        self, acct: np.ndarray, start: np.ndarray, key: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(row, empty)`` per CDR: matched row (-1 none) and whether no deck was in force.

        ``acct`` must be >= 0; ``start`` UTC epoch seconds within ``[0, MAX_INSTANT]``;
        ``key`` base-11 number keys. One read in the segment's root table, then one node
        read per further digit, level by level over the CDRs still unresolved.
        """
        g = self._segment(acct, start)
        empty = self.seg_empty[g]
        several = len(self.roots) > 11**self.root_digits  # several root tables
        entry = trie_walk(
            self.roots, self.nodes, self.root_digits, key, self.seg_root[g] if several else None
        )
        row = entry.astype(np.int64)
        row -= 1
        if self.any_empty:
            row[empty] = -1
        return row, empty

    def _segment(self, acct: np.ndarray, start: np.ndarray) -> np.ndarray:
        """The time segment of each CDR."""
        if len(self.seg_keys) == len(self.accounts):
            return acct  # one time segment per account: the segment is the account's
        if len(self.seg_keys) == 1:  # no accounts: the sentinel segment
            return np.zeros(len(acct), dtype=np.int64)
        if len(self.accounts) > 1:
            at = (acct << TIME_BITS) | start
            return np.searchsorted(self.seg_keys, at, side="right") - 1
        # One account: its segment keys are the instants themselves. With few segments,
        # counting the boundaries passed is cheaper than a binary search per CDR.
        if len(self.seg_keys) > 4:
            return np.searchsorted(self.seg_keys, start, side="right") - 1
        if len(start):  # every call in one segment (a batch within one deck version): shared
            # the count below, of the earliest and the latest start (it only grows)
            low, high = np.searchsorted(self.seg_keys[1:], bounds(start), "right")
            if low == high:
                return constant(len(start), int(low), np.int64)
        g = (start >= self.seg_keys[1]).astype(np.int64)
        for bound in self.seg_keys[2:].tolist():
            g += start >= bound
        return g

    def with_plan(self, plan: TariffPlan | None, *, grace: int = 0) -> RateBook:
        """This book under tariff plan ``plan`` (None: flat rates), with ``grace`` seconds
        for the accounts the plan does not list. The compiled prefixes and time segments
        are shared, not copied: only the plan's grace and interval sets are compiled."""
        plan = plan if plan is not None else TariffPlan()
        names = list(self.accounts)
        plans = [plan.get(self.kind, a) for a in names]
        book = replace(
            self,
            plans=plans,
            grace=np.asarray(
                [
                    p.grace if (self.kind, a) in plan.accounts else grace
                    for p, a in zip(plans, names, strict=True)
                ],
                dtype=np.int64,
            ),
            row_sets=None,
            set_start=None,
            set_rate=None,
            set_inc=None,
            _uniform={},
        )
        _compile_plans(book)
        _set_bounds(book)
        return book

    @property
    def any_empty(self) -> bool:
        """Whether some segment has no rate in force (its CDRs then match no row)."""
        return bool(self.seg_empty.any())


def _codes_of(
    values: pd.Series, code: dict[str, int], dtype: npt.DTypeLike = np.int64
) -> np.ndarray:
    """``code[v]`` for every value of a per-row column (looked up once per distinct value)."""
    return values.map(code).to_numpy(dtype=dtype) if len(values) else np.zeros(0, dtype)


def compile_book(
    rates: pd.DataFrame, kind: str, plan: TariffPlan | None = None, *, grace: int = 0
) -> RateBook:
    """Compile one side's rate rows (``Store.rates(kind=...)`` frame) and its plan."""
    rows = rates[rates["kind"] == kind].reset_index(drop=True) if len(rates) else rates
    names = sorted(set(rows["account"].tolist()))
    accounts = {n: i for i, n in enumerate(names)}
    n = len(rows)
    acct = rows["account"].map(accounts).to_numpy(dtype=np.int64) if n else np.zeros(0, np.int64)
    prefixes = rows["prefix"].astype(str).to_numpy() if n else np.zeros(0, object)
    usable = np.array(
        [p.isascii() and p.isdigit() and len(p) <= MAX_DIGITS for p in prefixes], dtype=bool
    )
    lo, hi = _prefix_key_ranges(prefixes, usable)
    rate = rows["rate"].to_numpy(dtype=np.int64) if n else np.zeros(0, np.int64)
    fee = rows["connect_fee"].to_numpy(dtype=np.int64) if n else np.zeros(0, np.int64)
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
    live_segs = [i for i, e in enumerate(seg_empty) if not e] or [0]
    digits = _root_digits(len(live_segs), sum(len(seg_pieces[i][0]) for i in live_segs))
    seg_root = np.zeros(len(seg_keys), dtype=np.int64)
    roots: list[np.ndarray] = []
    nodes: list[np.ndarray] = []
    node_count = 0
    for k, i in enumerate(live_segs):
        seg_root[i] = k * 11**digits  # an empty segment keeps 0: its CDRs match no row
        root, levels, node_count = _trie(*seg_pieces[i], digits, node_count)
        roots.append(root)
        nodes += levels
    if len(rows) >= 2**31 - 1 or node_count * 11 >= 2**31:
        raise ConfigError("too many rates to compile: split the CDRs by account or period")

    decimals = rows["decimals"].to_numpy(dtype=np.int64) if n else np.zeros(0, np.int64)
    if n and ((decimals < 0) | (decimals > SCALE)).any():
        raise ConfigError(f"a deck's decimals must be between 0 and {SCALE}")
    step = 60 * 10 ** (SCALE - decimals)
    rcode = _codes_of(rows["rounding"], {r: rounding_code(r) for r in set(rows["rounding"])})
    timezones = sorted(set(rows["timezone"].tolist())) if n else []
    currencies = sorted(set(rows["currency"].tolist())) if n else []
    book = RateBook(
        kind=kind,
        accounts=accounts,
        seg_keys=np.asarray(seg_keys, dtype=np.int64),
        seg_empty=np.asarray(seg_empty, dtype=bool),
        seg_root=seg_root,
        root_digits=digits,
        roots=np.concatenate(roots),
        nodes=np.concatenate(nodes) if nodes else np.zeros(11, dtype=np.int32),
        rows=rows,
        rate=rate,
        connect_fee=fee,
        initial=rows["initial_increment"].to_numpy(dtype=np.int64) if n else lo,
        nxt=rows["next_increment"].to_numpy(dtype=np.int64) if n else lo,
        min_duration=rows["min_duration"].to_numpy(dtype=np.int64) if n else lo,
        step=step.astype(np.int64),
        rounding=rcode,
        account_of_row=acct,
        grace=np.zeros(len(names), dtype=np.int64),
        plans=[],
        tz_of_row=_codes_of(rows["timezone"], {z: i for i, z in enumerate(timezones)}, np.int32),
        timezones=timezones,
        currencies=currencies,
        currency_of_row=_codes_of(
            rows["currency"], {c: i for i, c in enumerate(currencies)}, np.int32
        ),
    )
    book.strings()  # before with_plan: every plan's book shares them
    return book.with_plan(plan, grace=grace)


def _compile_plans(book: RateBook) -> None:
    """Fill ``row_sets`` and the interval-set arrays from the accounts' plans."""
    if not any(p.tariffs for p in book.plans):
        return
    codes, names, _, _ = book.strings()
    prefixes = np.asarray(names.to_pylist() or [""], dtype=object)[codes]
    width = 1 + max(len(p.periods) for p in book.plans)
    row_sets = np.full((len(book.rate), width), -1, dtype=np.int32)
    sets: list[tuple[Interval, ...]] = []
    index: dict[tuple[Interval, ...], int] = {}
    for r in range(len(book.rate)):
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
    book.row_sets = row_sets
    book.set_start, book.set_rate, book.set_inc = start, rate, inc


def _set_bounds(book: RateBook) -> None:
    """Fill ``rate_bound``, ``rate_max``, ``fee_max`` and ``always_fast`` (see the module
    docstring): the worst call of the book is bounded from its largest rate, fee, minimum
    duration and increments, and the longest duration rated."""
    n = len(book.rate)
    bound = np.abs(book.rate)
    longest_blocks = 2 * max(
        1, int(np.max(book.initial, initial=1)), int(np.max(book.nxt, initial=1))
    )
    if book.row_sets is not None and book.set_rate is not None and book.set_inc is not None:
        set_max = np.abs(book.set_rate).max(axis=1)
        used = book.row_sets >= 0
        per_row = np.where(used, set_max[np.maximum(book.row_sets, 0)], 0).max(axis=1)
        bound = np.maximum(bound, per_row)
        # each interval bills at most one increment more than the seconds it covers
        longest_blocks = max(longest_blocks, book.set_inc.shape[1] * int(book.set_inc.max()))
    book.rate_bound = bound.astype(np.int64, copy=False)
    book.rate_max = int(bound.max()) if n else 0
    book.fee_max = int(np.abs(book.connect_fee).max()) if n else 0
    seconds = max(MAX_DURATION, int(np.max(book.min_duration, initial=0))) + longest_blocks
    book.always_fast = book.rate_max * seconds + 60 * book.fee_max < FAST_LIMIT
