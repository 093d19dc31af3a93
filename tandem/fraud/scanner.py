"""Post-call analysis: the live rules replayed over a batch of CDRs, vectorised.

:func:`scan` reads every CDR as a call attempt at its start, in time order (file order
for equal starts), that took its concurrent-call slots then and ended ``duration`` seconds
later (feeding spend and short calls at its end). Every rule is the one
:class:`~tandem.fraud.FraudEngine` runs (:mod:`tandem.fraud.engine` says what each
measures), computed with the exact bucket windows of :mod:`tandem.state` over numpy arrays
(:mod:`tandem.fraud.windows`): a property test checks that its alerts are exactly what the
live engine answers when the same CDRs are fed to it call by call over ``MemoryCounters``.

History happened: a call a rule would have blocked still counts for the calls after it
(the scan says what the rules *would* have answered, not what blocking would have changed).
A call's slots last until ``min(end, start + concurrent.ttl)``, as a slot whose end never
came would expire.

Per-call alerts are merged into :class:`Episode` s: alerts of one rule, action, customer
and prefix no more than ``scan.episode_gap`` seconds apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from tandem.fraud.config import RULES, FraudConfig, RuleSet
from tandem.fraud.evidence import (
    first_call_evidence,
    shared_high_risk,
    velocity_evidence,
    wangiri_evidence,
)
from tandem.fraud.highrisk import HighRiskMatcher
from tandem.fraud.rows import RowNames, ScanRows, Sparse, scan_rows
from tandem.fraud.thresholds import ACTIONS, NEVER, Thresholds
from tandem.fraud.windows import (
    NATIVE,
    Grouping,
    _sort_rows,
    ended_sums,
    in_progress,
    keyed_ended_sums,
    keyed_in_progress,
    keyed_window_sums,
    native_in_use,
    pair_key,
    window_sums,
)
from tandem.instant import format_instant
from tandem.money import format_money

__all__ = ["CHUNK_ROWS", "COST_NOTE", "Episode", "RuleHits", "ScanResult", "scan"]

#: The note of a scan that priced calls from their sell rate (no cost column).
COST_NOTE = "spend: no cost column: each call costs sell_rate x billed seconds / 60"
#: CDRs per part of the rules keyed by customer (:func:`scan`'s ``chunk_rows``).
CHUNK_ROWS = 1 << 18


@dataclass(frozen=True)
class Episode:
    """Alerts of one rule, action, customer and prefix, each within ``episode_gap`` of
    the one before: the first and last call starts, how many calls, the first alert's
    evidence."""

    rule: str
    action: str
    customer: str
    prefix: str
    start: int
    until: int
    calls: int
    evidence: dict[str, str]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (``from`` and ``until`` as UTC instants)."""
        return {
            "rule": self.rule,
            "action": self.action,
            "customer": self.customer,
            "prefix": self.prefix,
            "from": format_instant(self.start),
            "until": format_instant(self.until),
            "calls": self.calls,
            "evidence": dict(self.evidence),
        }


@dataclass
class RuleHits:
    """The calls one rule alerted on: positions in the scan's rows (replay order) and
    action codes (1 flag, 2 block); ``evidence(k)`` and ``prefix(k)`` for the k-th hit."""

    rule: str
    rows: np.ndarray
    codes: np.ndarray
    evidence: Callable[[int], dict[str, str]]
    prefixes: np.ndarray  # object array of str ('' for customer-wide rules)

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class ScanResult:
    """What a scan found: ``rows_in`` CDRs read, ``unreadable`` of them (by reason), the
    episodes, their count per rule, and rules it could not evaluate (``skipped``: rule ->
    why, e.g. no cost column for spend)."""

    rows_in: int
    alerts: list[Episode]
    by_rule: dict[str, int]
    unreadable: int = 0
    unreadable_reasons: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    hits: dict[str, RuleHits] = field(default_factory=dict)
    records: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The ``tandem fraud scan --json`` object."""
        return {
            "rows_in": self.rows_in,
            "unreadable": self.unreadable,
            "unreadable_reasons": dict(self.unreadable_reasons),
            "alerts": [e.to_dict() for e in self.alerts],
            "by_rule": dict(self.by_rule),
            "skipped": dict(self.skipped),
            "notes": list(self.notes),
        }

    def call_alerts(self) -> list[tuple[int, str, str, dict[str, str]]]:
        """Every per-call alert: ``(record, rule, action, evidence)``, by record then rule
        order."""
        out: list[tuple[int, str, str, dict[str, str]]] = []
        for rule, hits in self.hits.items():
            for k in range(len(hits)):
                out.append(
                    (
                        int(self.records[hits.rows[k]]),
                        rule,
                        ACTIONS[int(hits.codes[k])],
                        hits.evidence(k),
                    )
                )
        out.sort(key=lambda a: (a[0], RULES.index(a[1])))
        return out

    def alerted_records(self, rule: str) -> np.ndarray:
        """The records (CDR numbers) the rule alerted on (flag or block)."""
        hits = self.hits.get(rule)
        if hits is None:
            return np.zeros(0, dtype=np.int64)
        return self.records[hits.rows]


# -- per-customer parameters ----------------------------------------------------------------


class _PerCustomer:
    """A rule setting looked up per row through the row's customer code."""

    def __init__(
        self, rows: ScanRows, config: FraudConfig, sets: list[RuleSet] | None = None
    ) -> None:
        self.rows = rows
        self.sets: list[RuleSet] = (
            sets if sets is not None else [config.rules_for(c) for c in rows.customers]
        )
        self.config = config
        self._groupings: dict[str, Grouping] = {}
        #: rows per part of a keyed window (:func:`_keyed`)
        self.chunk_rows = CHUNK_ROWS

    def values(self, get: Callable[[RuleSet], Any], dtype: Any = np.int64) -> np.ndarray:
        """The setting of every row's customer (read-only: one value viewed at every row
        when every customer has the same, as most settings are)."""
        table = np.asarray([get(s) for s in self.sets] or [0], dtype=dtype)
        if len(table) == 1 or bool((table == table[0]).all()):
            return np.broadcast_to(table[0], self.rows.customer.shape)
        return table[self.rows.customer]

    def grouping(self, scope: str, codes: np.ndarray) -> Grouping:
        """The rows grouped by a scope's codes (customer, trunk, source_ip, group; ``-1``
        for none groups apart). The customer grouping, which several rules read, is made
        once per scan and kept until :meth:`release`; the others are not kept (memory:
        a grouping and what it caches take several arrays of a row each)."""
        g = self._groupings.get(scope)
        if g is None:
            g = Grouping(codes + 1)
            if scope == "customer":
                self._groupings[scope] = g
        return g

    def release(self) -> None:
        """Forget the groupings kept (after the last rule that reads them)."""
        self._groupings.clear()

    def scope_levels(self, rule: str, scope: str) -> tuple[np.ndarray, np.ndarray]:
        """The thresholds of one scope (``cps``, ``customer``) per row."""
        return self.levels(lambda s: getattr(getattr(s, rule), scope))

    def levels(self, get: Callable[[RuleSet], Thresholds]) -> tuple[np.ndarray, np.ndarray]:
        warn = self.values(lambda s: _never(get(s).warning))
        crit = self.values(lambda s: _never(get(s).critical))
        return warn, crit

    def scope_lookups(self, rule: str, scope: str) -> tuple[_Lookup, _Lookup]:
        """:meth:`scope_levels` for the evidence of a few rows: looked up by customer
        when asked, not kept as arrays of a row each."""
        return self.lookups(lambda s: getattr(getattr(s, rule), scope))

    def lookups(self, get: Callable[[RuleSet], Thresholds]) -> tuple[_Lookup, _Lookup]:
        customer = self.rows.customer
        warn = [_never(get(s).warning) for s in self.sets]
        crit = [_never(get(s).critical) for s in self.sets]
        return _Lookup(warn, customer), _Lookup(crit, customer)


class _Lookup:
    """A per-customer setting of row ``i``: ``table[customer[i]]``."""

    __slots__ = ("customer", "table")

    def __init__(self, table: list[int], customer: np.ndarray) -> None:
        self.table = table
        self.customer = customer

    def __getitem__(self, i: int) -> int:
        return self.table[int(self.customer[i])]


def _never(level: int | float | None) -> int:
    return NEVER if level is None else int(level)


def _grade(values: np.ndarray, warn: np.ndarray, crit: np.ndarray) -> np.ndarray:
    out = np.zeros(len(values), dtype=np.int8)
    out[values > warn] = 1
    out[values > crit] = 2
    return out


@dataclass
class _Scope:
    """One scope of a multi-scope rule: its grades and evidence per row."""

    name: str
    codes: np.ndarray  # grade per row
    values: np.ndarray | Sparse
    warn: _Lookup
    crit: _Lookup
    label: str  # "name" or "prefix" (or "" for none)
    names: RowNames | None


def _best_of(scopes: list[_Scope]) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the highest grade and the first scope reaching it (as the engine picks)."""
    n = len(scopes[0].codes)
    best = np.zeros(n, dtype=np.int8)
    which = np.zeros(n, dtype=np.int8)
    for i, s in enumerate(scopes):
        better = s.codes > best
        best[better] = s.codes[better]
        which[better] = i
    return best, which


# -- the scan ---------------------------------------------------------------------------------


def scan(
    cdrs: pa.Table,
    config: FraudConfig,
    *,
    high_risk: Iterable[str] = (),
    report_from: int | None = None,
    workers: int = 2,
    chunk_rows: int = CHUNK_ROWS,
) -> ScanResult:
    """Every fraud rule of ``config`` over a canonical CDR table
    (:func:`tandem.rating.canonical_table`, e.g. from :class:`tandem.rating.CdrReader`),
    in time order; ``high_risk`` adds prefixes to the shared high-risk list.

    ``report_from`` (epoch seconds) leaves out the alerts of calls that started before it:
    those calls still count (windows, baselines, calls in progress), like the history a
    live node's counters hold, so a scan of the period before it warms the rules up.

    ``workers=2`` (the default) evaluates two groups of rules in two threads; 1 evaluates
    them one after the other. The rules whose every counter is keyed by the customer
    (spend, sequential, Wangiri, first calls) are evaluated over parts of about
    ``chunk_rows`` CDRs, each a set of whole customers in replay order (small arrays
    that stay in cache and are reused). The alerts are the same either way."""
    rows, skipped = scan_rows(
        cdrs, group_prefix_length=config.rules.concurrent.group_prefix_length, workers=workers
    )
    pc_ = _PerCustomer(rows, config)
    pc_.chunk_rows = chunk_rows
    shared = shared_high_risk(config, high_risk)
    found: dict[str, RuleHits] = {}
    episodes: dict[str, list[tuple[int, int, Episode]]] = {}
    parts = _parts(rows.customer, chunk_rows)

    def run(group: tuple[tuple[str, _Rule], ...], risky: np.ndarray | None) -> None:
        by_customer = [(r, c) for r, c in group if r in _BY_CUSTOMER and r not in skipped]
        parted = _by_parts(by_customer, rows, parts, pc_.sets, config) if by_customer else {}
        for rule, compute in group:
            if rule in skipped:
                continue
            if rule in parted:
                hits = parted[rule]
            else:
                if risky is None:
                    risky = _high_risk_prefixes(rows, config, shared)
                hits = compute(rows, pc_, config, risky)
            if report_from is not None and len(hits):
                hits = _since(hits, rows.start, report_from)
            found[rule] = hits
            # each rule's episodes in its own thread (they read nothing of the others)
            episodes[rule] = _rule_episodes(rows, rule, hits, config.episode_gap)
            if rule == "cps":  # after the last rule of the customer grouping
                pc_.release()

    if workers > 1 and rows.size >= _PARALLEL_ROWS:
        # two groups of rules at once: numpy and Arrow release the GIL over whole columns
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fraud-scan") as pool:
            other = pool.submit(run, _SECOND_GROUP, None)
            run(_FIRST_GROUP, _NO_PREFIXES)
            other.result()
    else:
        run(_FIRST_GROUP, _NO_PREFIXES)
        run(_SECOND_GROUP, None)
    hits = {rule: found[rule] for rule in RULES if rule in found and len(found[rule])}
    alerts = _merge_episodes([episodes[rule] for rule in hits])
    by_rule = {rule: 0 for rule in RULES if rule not in skipped}
    for e in alerts:
        by_rule[e.rule] += 1
    return ScanResult(
        rows_in=rows.rows_in,
        alerts=alerts,
        by_rule=by_rule,
        unreadable=sum(rows.unreadable.values()),
        unreadable_reasons=dict(rows.unreadable),
        skipped=skipped,
        hits=hits,
        records=rows.record,
        notes=[COST_NOTE] if rows.cost_from_rate and "spend" not in skipped else [],
    )


_Rule = Callable[[ScanRows, _PerCustomer, FraudConfig, np.ndarray], RuleHits]


def _first_group() -> tuple[tuple[str, _Rule], ...]:
    if NATIVE:  # the C windows: velocity's share moves to the lighter first thread
        return (("concurrent", _concurrent), ("cps", _cps), ("velocity", _velocity))
    return (("concurrent", _concurrent), ("cps", _cps))


def _second_group() -> tuple[tuple[str, _Rule], ...]:
    velocity: tuple[tuple[str, _Rule], ...] = () if NATIVE else (("velocity", _velocity),)
    return (
        ("high_risk", _high_risk),
        ("long_call", _long_call),
        *velocity,
        ("spend", _spend),
        ("sequential", _sequential),
        ("wangiri", _wangiri),
        ("first_call", _first_call),
    )


def _parts(key: np.ndarray, chunk_rows: int) -> list[np.ndarray]:
    """The rows split into parts of whole keys (dense non-negative codes, one per row):
    the keys in code order, a key in the part where its first row falls when the keys'
    rows are counted in that order, ``chunk_rows`` per part; each part's positions
    ascending (replay order). One part (every row) when they fit in one."""
    n = len(key)
    if n <= chunk_rows:
        return [np.arange(n, dtype=np.int64)]
    counts = np.bincount(key)
    part_of = (np.cumsum(counts) - counts) // chunk_rows
    row_part = part_of[key]
    nparts = int(part_of[-1]) + 1
    small = row_part.astype(np.uint16) if nparts < 2**16 else row_part
    order = np.argsort(small, kind="stable")  # a radix sort of a small key: rows ascending
    sizes = np.bincount(row_part, minlength=nparts)
    ends = np.cumsum(sizes)
    return [order[e - c : e] for c, e in zip(sizes.tolist(), ends.tolist(), strict=True) if c]


@dataclass(frozen=True)
class _Window:
    """A window of :func:`_keyed`: over a grouping (in group order), and over the key
    itself in replay order (the C windows)."""

    grouped: Callable[..., tuple[np.ndarray, ...]]
    keyed: Callable[..., tuple[np.ndarray, ...]]


def _progress_grouped(g: Grouping, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    starts, ends, holds = arrays
    return (in_progress(g, starts, ends, holds, grouped=True),)


def _progress_keyed(key: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    starts, ends, holds = arrays
    return (keyed_in_progress(key, starts, ends, holds),)


_in_progress = _Window(_progress_grouped, _progress_keyed)


def _windows(spans: tuple[int, ...]) -> _Window:
    def sums(g: Grouping, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
        buckets, weights = arrays
        return tuple(window_sums(g, buckets, weights, spans, grouped=True))

    def keyed(key: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
        buckets, weights = arrays
        return tuple(keyed_window_sums(key, buckets, weights, spans))

    return _Window(sums, keyed)


def _keyed(
    key: np.ndarray, chunk_rows: int, window: _Window, *arrays: np.ndarray
) -> tuple[np.ndarray, ...]:
    """``window(Grouping(key), *arrays)`` (per-row answers of counters keyed by ``key``,
    in group order) evaluated over parts of whole keys (:func:`_parts`) and put back per
    row: the same answers, over arrays that stay in cache. A part's grouping orders the
    rows of the whole scan (its positions composed with the part's), so the window reads
    the columns and the answers are put back without a copy of the part between.

    With the C windows (:data:`tandem.fraud.windows.NATIVE`) no parts and no grouping:
    the window runs over every row in replay order with the state of every key at once
    (:func:`~tandem.fraud.windows.keyed_window_sums`)."""
    if native_in_use():
        return window.keyed(key, *arrays)
    outs: list[np.ndarray] = []
    for idx in _parts(key, chunk_rows):
        if len(idx) < len(key):
            g = Grouping(key[idx])
            g.order = idx[g.order]
        else:  # one part: every row, in order
            g = Grouping(key)
        found = window.grouped(g, *arrays)
        if not outs:
            outs = [np.empty(len(key), dtype=np.int64) for _ in found]
        for out, part in zip(outs, found, strict=True):
            out[g.order] = part
    return tuple(outs)


def _by_parts(
    rules: list[tuple[str, _Rule]],
    rows: ScanRows,
    parts: list[np.ndarray],
    sets: list[RuleSet],
    config: FraudConfig,
) -> dict[str, RuleHits]:
    """Rules keyed by customer evaluated part by part (:func:`_parts` of the customers),
    each rule's hits merged back into replay order."""
    if len(parts) == 1:
        pc_ = _PerCustomer(rows, config, sets)
        return {rule: compute(rows, pc_, config, _NO_PREFIXES) for rule, compute in rules}
    # the names of first calls' destinations, made once over every row
    lengths = (config.rules.first_call.prefix_length,)
    found: dict[str, list[tuple[np.ndarray, RuleHits]]] = {rule: [] for rule, _ in rules}
    for idx in parts:
        # what these rules read: no trunk, source IP or group codes
        sub = rows.take(idx, destinations=lengths, keys=False)
        pc_ = _PerCustomer(sub, config, sets)
        for rule, compute in rules:
            hits = compute(sub, pc_, config, _NO_PREFIXES)
            if len(hits):
                found[rule].append((idx[hits.rows], hits))
    return {rule: _merged(rule, found[rule]) for rule, _ in rules}


def _merged(rule: str, found: list[tuple[np.ndarray, RuleHits]]) -> RuleHits:
    """The hits of a rule's parts (with their rows in the whole scan) in replay order."""
    if not found:
        none = np.zeros(0, np.int64)
        return RuleHits(rule, none, np.zeros(0, np.int8), lambda k: {}, _blank(none))
    at = np.concatenate([g for g, _ in found])
    order = np.argsort(at, kind="stable")
    which = np.concatenate([np.full(len(h), p, dtype=np.int64) for p, (_, h) in enumerate(found)])
    local = np.concatenate([np.arange(len(h), dtype=np.int64) for _, h in found])
    which, local = which[order], local[order]
    evidence = [h.evidence for _, h in found]
    return RuleHits(
        rule,
        at[order],
        np.concatenate([h.codes for _, h in found])[order],
        lambda k: evidence[int(which[k])](int(local[k])),
        np.concatenate([h.prefixes for _, h in found])[order],
    )


def _hits(
    rule: str,
    codes: np.ndarray,
    evidence: Callable[[int], dict[str, str]],
    prefixes: Callable[[np.ndarray], np.ndarray],
) -> RuleHits:
    """The rows with a grade, their evidence by hit number and prefixes."""
    where = np.flatnonzero(codes)
    return RuleHits(
        rule,
        where,
        codes[where],
        lambda k: evidence(int(where[k])),
        prefixes(where),
    )


def _since(hits: RuleHits, starts: np.ndarray, report_from: int) -> RuleHits:
    keep = np.flatnonzero(starts[hits.rows] >= report_from)
    evidence = hits.evidence
    return RuleHits(
        hits.rule,
        hits.rows[keep],
        hits.codes[keep],
        lambda k: evidence(int(keep[k])),
        hits.prefixes[keep],
    )


def _blank(where: np.ndarray) -> np.ndarray:
    return np.full(len(where), "", dtype=object)


def _named(name: Callable[[int], str]) -> Callable[[np.ndarray], np.ndarray]:
    return lambda where: np.asarray([name(int(i)) for i in where], dtype=object)


def _strs(values: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    return lambda where: np.asarray([str(int(v)) for v in values[where]], dtype=object)


# -- high risk --------------------------------------------------------------------------------


def _high_risk_prefixes(rows: ScanRows, config: FraudConfig, shared: list[str]) -> np.ndarray:
    """Per row, the high-risk prefix of its number for its customer (as an integer; -1 for
    none), longest matching prefix first (:class:`~tandem.fraud.highrisk.HighRiskMatcher`):
    one search per row in a small sorted table of number ranges (:func:`_risk_ranges`)."""
    out = np.full(rows.size, -1, dtype=np.int64)
    if rows.size == 0:
        return out
    special: dict[int, HighRiskMatcher] = {}
    for code, name in enumerate(rows.customers):
        own = config.customers.get(name)
        if own is not None and (own.high_risk_allow or own.high_risk_deny):
            special[code] = HighRiskMatcher(
                shared, allow=own.high_risk_allow, deny=own.high_risk_deny
            )
    bounds, answers = _risk_ranges(HighRiskMatcher(shared))
    out = _range_answers(bounds, answers, rows.number, rows.length)
    for code, matcher in special.items():
        mine = np.flatnonzero(rows.customer == code)
        if len(mine):
            bounds, answers = _risk_ranges(matcher)
            out[mine] = _range_answers(bounds, answers, rows.number[mine], rows.length[mine])
    return out


#: Leading digits of the direct table of :func:`_range_answers` (9 x 10**3 x 15 entries).
_LEAD = 4
_AMBIGUOUS = -2


def _range_answers(
    bounds: np.ndarray, answers: np.ndarray, number: np.ndarray, length: np.ndarray
) -> np.ndarray:
    """``answers`` of the ranges (:func:`_risk_ranges`) holding each E.164 ``number`` of
    ``length`` digits: what ``answers[searchsorted(bounds, key, "right") - 1]`` gives for
    ``key = length * _RANGE_BASE + number``, read for most numbers from a direct table of
    their first :data:`_LEAD` digits (every number of such a block in one range: a block
    that a range starts inside is searched as before). A binary search per number in a
    table of thousands of ranges (the shipped list) waits on memory at every step."""
    table, base, divisor = _lead_table(bounds, answers)
    out = table[base[length] + number // divisor[length]]
    unsure = np.flatnonzero(out == _AMBIGUOUS)
    if len(unsure):
        keys = length[unsure] * _RANGE_BASE + number[unsure]
        out[unsure] = answers[np.searchsorted(bounds, keys, side="right") - 1]
    return out


def _lead_table(
    bounds: np.ndarray, answers: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per length ``d`` (1-15) and block of leading digits (the number itself up to
    :data:`_LEAD` digits): the answer of every number of the block, or
    :data:`_AMBIGUOUS` where a range starts inside it; and per length, what to add to
    ``number // divisor[d]`` (its leading digits) for its entry, and that divisor."""
    parts: list[np.ndarray] = []
    base = np.zeros(16, dtype=np.int64)
    divisor = np.ones(16, dtype=np.int64)
    at = 0
    for d in range(1, 16):
        lead = min(d, _LEAD)
        scale = 10 ** (d - lead)
        tops = np.arange(10 ** (lead - 1), 10**lead, dtype=np.int64)
        first = d * _RANGE_BASE + tops * scale
        last = first + (scale - 1)
        lo = np.searchsorted(bounds, first, side="right") - 1
        hi = np.searchsorted(bounds, last, side="right") - 1
        parts.append(np.where(lo == hi, answers[lo], _AMBIGUOUS))
        base[d] = at - 10 ** (lead - 1)
        divisor[d] = scale
        at += len(tops)
    return np.concatenate(parts), base, divisor


#: Numbers of each length are keyed ``length * _RANGE_BASE + number`` (E.164: 15 digits).
_RANGE_BASE = 10**15


def _risk_ranges(matcher: HighRiskMatcher) -> tuple[np.ndarray, np.ndarray]:
    """The matcher as sorted ranges of numbers of one length: ``bounds`` (keys, as
    :func:`_high_risk_prefixes` makes them, where a range starts) and ``answers`` (the
    high-risk prefix of every number in the range, as an integer; -1 for none).

    A prefix ``p`` of ``L`` digits covers the ``d``-digit numbers ``[p * 10**(d-L),
    (p+1) * 10**(d-L))``; two prefixes' ranges are nested or apart, so between two
    consecutive range ends every number has the same longest matching prefix: the one of
    the range's first number, which the matcher itself answers."""
    prefixes = [p for p in matcher.table if p.isascii() and p.isdigit() and len(p) <= 15]
    bounds: list[int] = []
    answers: list[int] = []
    for d in range(1, 16):
        lo, hi = 10 ** (d - 1), 10**d
        points = {lo}
        for p in prefixes:
            if len(p) <= d:
                scale = 10 ** (d - len(p))
                for point in (int(p) * scale, (int(p) + 1) * scale):
                    if lo < point < hi:
                        points.add(point)
        for point in sorted(points):
            hit = matcher.match(str(point))
            bounds.append(d * _RANGE_BASE + point)
            answers.append(-1 if hit is None else int(hit))
    return np.asarray(bounds, dtype=np.int64), np.asarray(answers, dtype=np.int64)


def _high_risk(
    rows: ScanRows, pc_: _PerCustomer, config: FraudConfig, risky: np.ndarray
) -> RuleHits:
    enabled = pc_.values(lambda s: s.high_risk.enabled, bool)
    action = pc_.values(lambda s: 2 if s.high_risk.action == "block" else 1, np.int8)
    codes = np.where(enabled & (risky >= 0), action, 0).astype(np.int8)
    at = Sparse(np.flatnonzero(codes), risky)
    return _hits("high_risk", codes, lambda i: {"prefix": str(int(at[i]))}, _strs(risky))


# -- concurrent calls -------------------------------------------------------------------------


def _concurrent(
    rows: ScanRows, pc_: _PerCustomer, config: FraudConfig, risky: np.ndarray
) -> RuleHits:
    ttl = config.rules.concurrent.ttl
    ends = np.minimum(rows.start + rows.duration, rows.start + ttl)
    enabled = pc_.values(lambda s: s.concurrent.enabled, bool)
    scopes: list[_Scope] = []
    for scope, codes, name in (
        ("customer", rows.customer, _namer(rows.customer, rows.customers)),
        ("trunk", rows.trunk, _namer(rows.trunk, rows.trunk_names)),
        ("group", rows.group, rows.group_name),
    ):
        assert codes is not None
        warn, crit = pc_.scope_levels("concurrent", scope)
        active = enabled & ((warn < NEVER) | (crit < NEVER)) & (codes >= 0)
        if not active.any():
            continue
        # every row with the key holds a slot (admission_limits takes one under each
        # scope with a threshold), so count over all rows with the key, grade the active
        holds = enabled & ((warn < NEVER) | (crit < NEVER)) & (codes >= 0)
        (count,) = _keyed(codes + 1, pc_.chunk_rows, _in_progress, rows.start, ends, holds)
        count += 1
        graded = np.where(active, _grade(count, warn, crit), 0).astype(np.int8)
        scopes.append(
            _Scope(scope, graded, count, *pc_.scope_lookups("concurrent", scope), "name", name)
        )
    return _multi("concurrent", scopes, None, lambda where: _blank(where))


def _namer(codes: np.ndarray | None, names: list[str]) -> RowNames:
    assert codes is not None
    return RowNames(codes, names)


def _multi(
    rule: str,
    scopes: list[_Scope],
    window: int | None,
    prefixes: Callable[[np.ndarray], np.ndarray],
) -> RuleHits:
    if not scopes:
        none = np.zeros(0, np.int64)
        return RuleHits(rule, none, np.zeros(0, np.int8), lambda k: {}, _blank(none))
    best_all, which_all = _best_of(scopes)
    # the evidence keeps what it reads of the rows alerted on, not column-sized arrays:
    # one value per hit, gathered at once, read by hit number (no search per look-up)
    where = np.flatnonzero(best_all)
    best, which = best_all[where], which_all[where]
    labels = [(k, s.names) for k, s in enumerate(scopes) if s.label == "prefix" and s.names]

    def scope_prefixes(hit_rows: np.ndarray) -> np.ndarray:
        base = prefixes(hit_rows)
        picked = which_all[hit_rows]
        for k, names in labels:
            sel = np.flatnonzero(picked == k)
            base[sel] = [names(int(i)) for i in hit_rows[sel]]
        return base

    found = _hits(rule, best_all, lambda i: {}, scope_prefixes)
    # every scope's thresholds are looked up by the same customer codes: gathered once
    hit_customer: dict[int, np.ndarray] = {}

    def at_hits(lookup: _Lookup) -> _Lookup:
        codes = hit_customer.get(id(lookup.customer))
        if codes is None:
            codes = hit_customer[id(lookup.customer)] = lookup.customer[where]
        return _Lookup(lookup.table, codes)

    scopes = [
        _Scope(
            s.name,
            s.codes[:0],
            Sparse(where, s.values).values,
            at_hits(s.warn),
            at_hits(s.crit),
            s.label,
            None if s.names is None else s.names.at(where),
        )
        for s in scopes
    ]

    def evidence(k: int) -> dict[str, str]:
        s = scopes[int(which[k])]
        code = int(best[k])
        ev = {"scope": s.name}
        if window is None and s.names is not None:
            ev["name"] = s.names(k)
        if window is not None:
            ev["window"] = str(window)
        ev["count"] = str(int(s.values[k]))
        level = s.crit[k] if code == 2 else s.warn[k]
        ev["threshold"] = str(int(level))
        if window is not None and s.names is not None:
            ev[s.label] = s.names(k)
        return ev

    # the hits are the rows of `where`, in its order: hit k is where[k]
    return RuleHits(rule, found.rows, found.codes, evidence, found.prefixes)


# -- calls per second -------------------------------------------------------------------------


def _cps(rows: ScanRows, pc_: _PerCustomer, config: FraudConfig, risky: np.ndarray) -> RuleHits:
    rule = config.rules.cps
    enabled = pc_.values(lambda s: s.cps.enabled, bool)
    buckets = rows.start // rule.step
    span = rule.window // rule.step
    scopes: list[_Scope] = []
    for scope, codes, names in (
        ("customer", rows.customer, rows.customers),
        ("source_ip", rows.source_ip, rows.ip_names),
    ):
        assert codes is not None
        warn, crit = pc_.scope_levels("cps", scope)
        # the engine adds to a key only when the customer's scope has a threshold
        has = (warn < NEVER) | (crit < NEVER)
        active = enabled & has & (codes >= 0)
        if not active.any():
            continue
        (count,) = _keyed(codes + 1, pc_.chunk_rows, _windows((span,)), buckets, active)
        scopes.append(
            _Scope(
                scope,
                _grade(count, warn, crit) * active,
                count,
                *pc_.scope_lookups("cps", scope),
                "name",
                _namer(codes, names),
            )
        )
    return _multi("cps", scopes, rule.window, _blank)


# -- spend ------------------------------------------------------------------------------------


def _spend(rows: ScanRows, pc_: _PerCustomer, config: FraudConfig, risky: np.ndarray) -> RuleHits:
    rule = config.rules.spend
    assert rows.cost is not None
    enabled = pc_.values(lambda s: s.spend.enabled, bool)
    ends = rows.start + rows.duration
    # the engine adds a call's cost at its end when the customer's spend rule is enabled
    native = native_in_use()
    g = None if native else pc_.grouping("customer", rows.customer)
    cost = np.where(enabled, rows.cost, 0)
    scopes = []
    for scope, window, step in (("hour", 3600, rule.hour_step), ("day", 86400, rule.day_step)):
        warn, crit = pc_.scope_levels("spend", scope)
        has = (warn < NEVER) | (crit < NEVER)
        if g is None:  # in C over the customer codes, row by row
            args = (rows.start, ends, cost)
            spent = keyed_ended_sums(rows.customer, *args, span=window // step, step=step)
        else:  # over the customer grouping (its sort of the ends shared by both windows)
            spent = ended_sums(g, rows.start, ends, cost, span=window // step, step=step)
        graded = np.where(enabled & has, _grade(spent, warn, crit), 0).astype(np.int8)
        scopes.append((scope, window, graded, spent, *pc_.scope_lookups("spend", scope)))
    best_all = np.maximum(scopes[0][2], scopes[1][2])
    where = np.flatnonzero(best_all)
    which = Sparse(where, np.where(scopes[1][2] > scopes[0][2], 1, 0))
    best = Sparse(where, best_all)
    kept = [(sc, w, Sparse(where, sp), wa, cr) for sc, w, _g, sp, wa, cr in scopes]
    del scopes

    def evidence(i: int) -> dict[str, str]:
        scope, window, spent, warn, crit = kept[int(which[i])]
        level = crit[i] if best[i] == 2 else warn[i]
        return {
            "scope": scope,
            "window": str(window),
            "spent": format_money(int(spent[i])),
            "threshold": format_money(int(level)),
        }

    return _hits("spend", best_all.astype(np.int8), evidence, _blank)


# -- velocity ---------------------------------------------------------------------------------


def _velocity(
    rows: ScanRows, pc_: _PerCustomer, config: FraudConfig, risky: np.ndarray
) -> RuleHits:
    rule = config.rules.velocity
    enabled = pc_.values(lambda s: s.velocity.enabled, bool)
    active = enabled & rule.factors.active
    dest, name = rows.destinations(rule.prefix_length)
    spans = (rule.window // rule.step, rule.baseline // rule.step)
    count, base = _keyed(dest, pc_.chunk_rows, _windows(spans), rows.start // rule.step, active)
    earlier = rule.baseline // rule.window - 1
    lhs = count * earlier
    rest = base - count
    graded = np.zeros(rows.size, dtype=np.int8)
    f = rule.factors
    enough = active & (count >= rule.min_calls) & (rest >= rule.min_baseline)
    if f.warning is not None:
        graded[enough & (lhs > f.warning * rest)] = 1
    if f.critical is not None:
        graded[enough & (lhs > f.critical * rest)] = 2
    where = np.flatnonzero(graded)
    at_grade, at_count, at_rest = Sparse(where, graded), Sparse(where, count), Sparse(where, rest)
    at_name = name.only(where)

    def evidence(i: int) -> dict[str, str]:
        factor = f.critical if at_grade[i] == 2 else f.warning
        return velocity_evidence(rule, at_name(i), int(at_count[i]), int(at_rest[i]), factor)

    return _hits("velocity", graded, evidence, _named(at_name))


def _digits(values: np.ndarray) -> RowNames:
    return RowNames(values)


def _bits(values: np.ndarray) -> int:
    return max(1, int(values.max(initial=0)).bit_length())


# -- sequential dialling ----------------------------------------------------------------------


def _sequential(
    rows: ScanRows, pc_: _PerCustomer, config: FraudConfig, risky: np.ndarray
) -> RuleHits:
    rule = config.rules.sequential
    enabled = pc_.values(lambda s: s.sequential.enabled, bool)
    buckets = rows.start // rule.step
    span = rule.window // rule.step
    block, has_block = rows.block(rule.block_digits)
    scopes: list[_Scope] = []
    for scope, part, ok in (
        ("same_number", rows.number, np.ones(rows.size, dtype=bool)),
        ("block", block, has_block),
    ):
        warn, crit = pc_.scope_levels("sequential", scope)
        active = enabled & ((warn < NEVER) | (crit < NEVER)) & ok
        if not active.any():
            continue
        key = pair_key(rows.customer, np.where(ok, part, 0), _bits(part))
        (count,) = keyed_window_sums(key, buckets, active, (span,))
        graded = np.where(active, _grade(count, warn, crit), 0).astype(np.int8)
        lookups = pc_.scope_lookups("sequential", scope)
        scopes.append(_Scope(scope, graded, count, *lookups, "prefix", _digits(part)))
    return _multi("sequential", scopes, rule.window, _blank)


# -- Wangiri ----------------------------------------------------------------------------------


def _wangiri(rows: ScanRows, pc_: _PerCustomer, config: FraudConfig, risky: np.ndarray) -> RuleHits:
    rule = config.rules.wangiri
    enabled = pc_.values(lambda s: s.wangiri.enabled, bool)
    warn, crit = pc_.levels(lambda s: s.wangiri.calls)
    active = enabled & ((warn < NEVER) | (crit < NEVER))
    prefix = rows.prefix(rule.prefix_length)
    key = pair_key(rows.customer, prefix, _bits(prefix))
    short = ((rows.duration <= rule.short) & active).astype(np.int64)
    count = keyed_ended_sums(
        key,
        rows.start,
        rows.start + rows.duration,
        short,
        span=rule.window // rule.step,
        step=rule.step,
    )
    graded = np.where(active, _grade(count, warn, crit), 0).astype(np.int8)
    warn_at, crit_at = pc_.lookups(lambda s: s.wangiri.calls)
    del warn, crit
    where = np.flatnonzero(graded)
    at_grade, at_prefix, at_count = (
        Sparse(where, graded),
        Sparse(where, prefix),
        Sparse(where, count),
    )

    def evidence(i: int) -> dict[str, str]:
        level = crit_at[i] if at_grade[i] == 2 else warn_at[i]
        return wangiri_evidence(rule, str(int(at_prefix[i])), int(at_count[i]), int(level))

    return _hits("wangiri", graded, evidence, _strs(prefix))


# -- first calls ------------------------------------------------------------------------------


def _first_call(
    rows: ScanRows, pc_: _PerCustomer, config: FraudConfig, risky: np.ndarray
) -> RuleHits:
    rule = config.rules.first_call
    assert rows.rate is not None and rows.rate_valid is not None
    enabled = pc_.values(lambda s: s.first_call.enabled, bool)
    threshold = pc_.values(lambda s: _never(s.first_call.rate))
    # the engine counts a customer's calls only where its rule has a rate
    enabled = enabled & (threshold < NEVER)
    dest, name = rows.destinations(rule.prefix_length)
    key = pair_key(rows.customer, dest, _bits(dest))
    spans = (rule.remember // rule.step,)
    (count,) = keyed_window_sums(key, rows.start // rule.step, enabled, spans)
    first = enabled & (count == 1) & rows.rate_valid & (rows.rate >= threshold)
    graded = first.astype(np.int8)
    where = np.flatnonzero(graded)
    rate, at_name = Sparse(where, rows.rate), name.only(where)

    def evidence(i: int) -> dict[str, str]:
        own = pc_.sets[int(rows.customer[i])].first_call
        return first_call_evidence(own, at_name(i), int(rate[i]))

    return _hits("first_call", graded, evidence, _named(at_name))


# -- long calls -------------------------------------------------------------------------------


def _long_call(
    rows: ScanRows, pc_: _PerCustomer, config: FraudConfig, risky: np.ndarray
) -> RuleHits:
    enabled = pc_.values(lambda s: s.long_call.enabled, bool)
    minutes = pc_.values(lambda s: s.long_call.minutes)
    graded = (enabled & (risky >= 0) & (rows.duration > minutes * 60)).astype(np.int8)
    where = np.flatnonzero(graded)
    at_risky, at_minutes = Sparse(where, risky), Sparse(where, minutes)

    def evidence(i: int) -> dict[str, str]:
        return {
            "prefix": str(int(at_risky[i])),
            "minutes": str(int(at_minutes[i])),
            "seconds": str(int(rows.duration[i])),
        }

    return _hits("long_call", graded, evidence, _strs(risky))


# -- episodes ---------------------------------------------------------------------------------


def _episodes(rows: ScanRows, hits: dict[str, RuleHits], gap: int) -> list[Episode]:
    """Merge each rule's per-call alerts into episodes (see :class:`Episode`)."""
    return _merge_episodes([_rule_episodes(rows, rule, h, gap) for rule, h in hits.items()])


def _merge_episodes(found: list[list[tuple[int, int, Episode]]]) -> list[Episode]:
    """The episodes of every rule: by first call (replay order), then rule."""
    out = [e for rule_episodes in found for e in rule_episodes]
    out.sort(key=lambda e: (e[0], e[1]))
    return [e for _, _, e in out]


def _factorize(values: np.ndarray) -> np.ndarray:
    """Dense codes of ``values`` (an object array of str), equal codes for equal texts, in
    order of first appearance."""
    if len(values) == 0 or bool((values == values[0]).all()):  # e.g. '' of every hit
        return np.zeros(len(values), dtype=np.int64)
    seen: dict[str, int] = {}
    return np.fromiter(
        (seen.setdefault(v, len(seen)) for v in values.tolist()), np.int64, len(values)
    )


def _rule_episodes(
    rows: ScanRows, rule: str, h: RuleHits, gap: int
) -> list[tuple[int, int, Episode]]:
    """One rule's per-call alerts merged into episodes, each with its first call's row
    and the rule's rank (:func:`_merge_episodes` orders them)."""
    out: list[tuple[int, int, Episode]] = []
    rank = RULES.index(rule)
    if len(h):
        cust = rows.customer[h.rows]
        at = rows.start[h.rows]
        # equal prefixes, equal codes (the codes' order does not matter: an episode's
        # place is its first call's)
        pref = _factorize(h.prefixes)
        # hits are in replay order; sort by (action, customer, prefix) keeping time order
        npref = int(pref.max(initial=0)) + 1
        if (3 * len(rows.customers) * npref).bit_length() < 40:
            key = (h.codes.astype(np.int64) * len(rows.customers) + cust) * npref + pref
            order, skey = _sort_rows(key)
            t = at[order]
            new = np.ones(len(order), dtype=bool)
            new[1:] = (skey[1:] != skey[:-1]) | (t[1:] - t[:-1] > gap)
        else:
            order = np.lexsort((np.arange(len(h)), pref, cust, h.codes))
            c, p, a, t = h.codes[order], cust[order], pref[order], at[order]
            new = np.ones(len(order), dtype=bool)
            new[1:] = (c[1:] != c[:-1]) | (p[1:] != p[:-1]) | (a[1:] != a[:-1])
            new[1:] |= t[1:] - t[:-1] > gap
        firsts = np.flatnonzero(new)
        lasts = np.append(firsts[1:], len(order)) - 1
        for f, last in zip(firsts, lasts, strict=True):
            k = int(order[f])
            out.append(
                (
                    int(h.rows[k]),
                    rank,
                    Episode(
                        rule=rule,
                        action=ACTIONS[int(h.codes[k])],
                        customer=rows.customers[int(cust[k])],
                        prefix=str(h.prefixes[k]),
                        start=int(t[f]),
                        until=int(t[last]),
                        calls=int(last - f + 1),
                        evidence=h.evidence(k),
                    ),
                )
            )
    return out


#: The rules evaluated in one thread, over every row at once: concurrent calls (customer,
#: trunk and destination group), calls per second (customer, source IP) and, with the C
#: windows, velocity (keyed by destination). They never read the high-risk prefixes.
_FIRST_GROUP = _first_group()
#: The rules evaluated in the other thread: the high-risk prefixes first, then velocity
#: with the numpy windows, then the rules every counter of which is keyed by the
#: customer, part by part. The two groups take about the same time.
_SECOND_GROUP = _second_group()
#: The rules evaluated over parts of whole customers (:func:`_by_parts`).
_BY_CUSTOMER = frozenset(("spend", "sequential", "wangiri", "first_call"))
#: The rules' high-risk prefixes where none are read.
_NO_PREFIXES = np.zeros(0, dtype=np.int64)
#: Fewer readable CDRs than this are scanned in one thread (a thread costs more than it saves).
_PARALLEL_ROWS = 50_000
