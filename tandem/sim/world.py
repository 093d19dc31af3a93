"""The rates and routing tables a simulation runs under, over simulated time.

A :class:`World` holds one **rate history** (a frame shaped like
:meth:`tandem.store.Store.rates`: the store's full history, with what a scenario or a
what-if adds laid over it) and the **table files** put in force over spans of time. It
answers two questions, both with the project's own code:

* *which table routes a call at instant t* (:meth:`World.segments`): a table file in force
  at ``t`` (``--table``, a scenario's ``table = FILE``, ``--vs``), else the table compiled
  from the rate history in force at ``t`` (or at ``--at``) with the store's routing plan
  in force then (:func:`tandem.lcr.table.build_table`, the compiler of ``tandem compile``);
* *what a carried call costs and earns* (:meth:`World.rater`): a
  :class:`tandem.rating.Rater` compiled from the rate history (each call priced with the
  rates in force at its start, on both sides), under the store's tariff plans.

A deck laid over the history (:func:`deck_rates`, read with the deck reader
:func:`tandem.decks.parse_deck`) replaces its carrier's rates over its span; a table file
in force over a span replaces every carrier's rates over that span by the table's own buy
rows (:func:`table_rates`), so that a candidate table is priced on its own quotes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tandem.errors import DeckError
from tandem.instant import OPEN_END

if TYPE_CHECKING:
    from tandem.lcr.policy import RoutingConfig
    from tandem.lcr.table import RoutingTable
    from tandem.rating.price import Rater
    from tandem.rating.schedule import PlanSchedule
    from tandem.store import Store

__all__ = ["Segment", "World", "deck_rates", "overlay", "table_rates"]

#: Columns of a rate-history frame (:meth:`tandem.store.Store.rates`).
RATE_FRAME_COLUMNS = [
    "account", "kind", "deck_id", "version", "currency", "decimals", "rounding", "timezone",
    "prefix", "destination", "rate", "connect_fee", "initial_increment", "next_increment",
    "min_duration", "effective_from", "effective_until", "change", "line",
]  # fmt: skip
_DEFAULT_TERMS = {"decimals": 4, "rounding": "half-up", "timezone": "UTC"}


def _terms_like(history: pd.DataFrame, account: str) -> dict[str, object]:
    """Decimals, rounding and time zone of ``account``'s latest stored rows (the import
    defaults when it has none)."""
    if len(history):
        mine = history[(history["kind"] == "carrier") & (history["account"] == account)]
        if len(mine):
            last = mine.sort_values("effective_from").iloc[-1]
            return {k: last[k] for k in _DEFAULT_TERMS}
    return dict(_DEFAULT_TERMS)


def deck_rates(path: Path, carrier: str, history: pd.DataFrame) -> pd.DataFrame:
    """The rows of a carrier deck file not imported, as rate-history rows of ``carrier``
    (open-ended; :func:`overlay` gives them their span). Read with the deck reader; a deck
    with any rejected row is refused (as ``tandem deck import`` would)."""
    from tandem.decks import parse_deck

    parsed = parse_deck(path)
    if parsed.rejected:
        first = parsed.rejected[0]
        raise DeckError(
            f"{path.name}: {len(parsed.rejected)} row(s) rejected, first: {first}; fix the "
            "deck before simulating with it"
        )
    rows = parsed.rates
    if "closed" in rows.columns:
        rows = rows[~rows["closed"].astype(bool)]
    out = pd.DataFrame(
        {
            "account": carrier,
            "kind": "carrier",
            "deck_id": -1,
            "version": -1,
            "currency": parsed.currency,
            **_terms_like(history, carrier),
            "prefix": rows["prefix"].astype(str).to_numpy(),
            "destination": rows["destination"].to_numpy() if "destination" in rows else "",
            "rate": rows["rate"].to_numpy(dtype=np.int64),
        },
        index=range(len(rows)),
    )
    for term in ("connect_fee", "initial_increment", "next_increment", "min_duration"):
        out[term] = rows[term].to_numpy(dtype=np.int64)
    out["effective_from"] = 0
    out["effective_until"] = OPEN_END
    out["change"] = ""
    out["line"] = rows["line"].to_numpy() if "line" in rows else pd.NA
    return out[RATE_FRAME_COLUMNS]


def table_rates(table: RoutingTable, history: pd.DataFrame) -> pd.DataFrame:
    """Every carrier's buy rows of a compiled table as open-ended rate-history rows: the
    table's own quotes (prefix, rate, connect fee, increments, minimum duration)."""
    arrays = table.arrays
    carrier_of = np.full(len(arrays["buy_rate"]), -1, dtype=np.int64)
    carrier_of[np.asarray(arrays["route_row"], dtype=np.int64)] = np.asarray(
        arrays["route_carrier"], dtype=np.int64
    )
    rows = np.flatnonzero(carrier_of >= 0)
    names = [table.carriers[c] for c in carrier_of[rows].tolist()]
    uids = np.asarray(arrays["buy_prefix"])[rows].tolist()
    out = pd.DataFrame(
        {
            "account": names,
            "kind": "carrier",
            "deck_id": -1,
            "version": -1,
            "currency": [table.currencies.get(n, "") for n in names],
            "prefix": [table.trie.restore_key(int(u)) for u in uids],
            "destination": "",
        }
    )
    for k, default in _DEFAULT_TERMS.items():
        terms = {n: _terms_like(history, n)[k] for n in set(names)}
        out[k] = [terms[n] for n in names] if names else default
    for f in ("rate", "connect_fee", "initial_increment", "next_increment", "min_duration"):
        out[f] = np.asarray(arrays[f"buy_{f}"])[rows].astype(np.int64)
    out["effective_from"] = 0
    out["effective_until"] = OPEN_END
    out["change"] = ""
    out["line"] = pd.NA
    return out[RATE_FRAME_COLUMNS]


def overlay(
    history: pd.DataFrame, rows: pd.DataFrame, start: int, until: int = OPEN_END
) -> pd.DataFrame:
    """``history`` with ``rows`` in force over ``[start, until)``: the carrier rows of every
    account ``rows`` names (all carriers when ``rows`` is a whole table's) are cut out of
    that span (a row across it is split in two), and ``rows`` fill it."""
    accounts = set(rows["account"].tolist())
    hit = (history["kind"] == "carrier") & history["account"].isin(accounts)
    kept, touched = history[~hit], history[hit]
    f = touched["effective_from"].to_numpy(dtype=np.int64)
    u = touched["effective_until"].to_numpy(dtype=np.int64)
    before = touched[f < start].copy()
    before["effective_until"] = np.minimum(u[f < start], start)
    after = touched[u > until].copy()
    after["effective_from"] = np.maximum(f[u > until], until)
    new = rows.copy()
    new["effective_from"] = start
    new["effective_until"] = until
    parts = [p for p in (kept, before, after, new) if len(p)]
    if not parts:
        return history.iloc[0:0]
    out = pd.concat(parts, ignore_index=True)
    return out[out["effective_until"] > out["effective_from"]].reset_index(drop=True)


@dataclass(frozen=True)
class Segment:
    """Calls ``lo:hi`` (sorted by start) are routed with ``table``; ``fixed`` when the table
    is used whatever its validity window (a table file, or ``--at``)."""

    lo: int
    hi: int
    table: RoutingTable
    fixed: bool


@dataclass
class World:
    """Rate history + table files in force + routing choices (see the module docstring).

    ``history`` None means the store's own, unchanged: its tables are then compiled by
    :func:`tandem.lcr.table.compile_table` (only the rows in force are read) and its calls
    priced by ``base_rater`` when given (e.g. the cached book of
    :func:`tandem.rating.bookcache.load_rater`); the full history is read from the store
    only when something is laid over it."""

    history_frame: pd.DataFrame | None
    store: Store | None = None
    config: RoutingConfig | None = None
    at: int | None = None
    tables: list[tuple[int, int, RoutingTable]] = field(default_factory=list)
    cuts: list[int] = field(default_factory=list)
    schedule: PlanSchedule | None = None
    base_rater: Rater | None = None
    _compiled: dict[int, RoutingTable] = field(default_factory=dict, repr=False)
    _read: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def own(self) -> bool:
        """True when the rate history is the store's own, unchanged."""
        return self.history_frame is None

    @property
    def history(self) -> pd.DataFrame:
        """The rate history (read from the store on first use when it is the store's)."""
        if self.history_frame is None:
            if self.store is None:
                raise ValueError("a World needs a rate history or a store")
            if self._read is None:
                self._read = self.store.rates()
            return self._read
        return self.history_frame

    def with_deck(self, deck: Path, carrier: str, start: int = 0) -> World:
        """A copy with ``deck`` as ``carrier``'s rates from ``start`` on."""
        rows = deck_rates(deck, carrier, self.history)
        history = overlay(self.history, rows, start)
        return self._copy(history, self.tables, [*self.cuts, start] if start else self.cuts)

    def with_table(self, table: RoutingTable, start: int, until: int = OPEN_END) -> World:
        """A copy where ``table`` routes (and its quotes price) calls in ``[start, until)``."""
        history = overlay(self.history, table_rates(table, self.history), start, until)
        tables = [(a, b, t) for a, b, t in self.tables if b <= start or a >= until]
        clipped = []
        for a, b, t in self.tables:  # an earlier table keeps the parts outside the span
            if a < start < b:
                clipped.append((a, start, t))
            if a < until < b:
                clipped.append((until, b, t))
        return self._copy(history, sorted([*tables, *clipped, (start, until, table)]), self.cuts)

    def _copy(self, history: pd.DataFrame, tables: list, cuts: list[int]) -> World:
        return World(
            history, self.store, self.config, self.at, list(tables), sorted(cuts), self.schedule
        )

    def rater(self) -> Rater:
        """The rating module's :class:`~tandem.rating.Rater` over this rate history."""
        from tandem.rating.price import Rater

        if self.own and self.base_rater is not None:
            return self.base_rater
        return Rater.from_rates(self.history, self.schedule)

    def compile(self, t: int) -> RoutingTable:
        """The table compiled from the rate history in force at ``t``, with the store's
        routing plan in force then (valid while neither changes)."""
        if t not in self._compiled and self.own and self.store is not None:
            from tandem.lcr.table import compile_table

            self._compiled[t] = compile_table(self.store, t)
        if t not in self._compiled:
            from tandem.lcr.plans import plan_window
            from tandem.lcr.table import _window, build_table

            h = self.history
            starts = h["effective_from"].to_numpy(dtype=np.int64)
            ends = h["effective_until"].to_numpy(dtype=np.int64)
            valid_from, valid_until = _window(starts, ends, t)
            in_force = h[(starts <= t) & (t < ends)]
            plan = None
            if self.store is not None:
                plan, p_from, p_until = plan_window(self.store, "routing", t)
                valid_from = max(valid_from, p_from) if p_from is not None else valid_from
                valid_until = min(valid_until, p_until) if p_until is not None else valid_until
            self._compiled[t] = build_table(
                in_force.reset_index(drop=True), t, valid_from, valid_until, routing_plan=plan
            )
        return self._compiled[t]

    def segments(self, start: np.ndarray) -> Iterator[Segment]:
        """The routing table of each run of calls (``start`` sorted ascending)."""
        n = len(start)
        i = 0
        cuts = np.asarray(self.cuts, dtype=np.int64)
        while i < n:
            t = int(start[i])
            span = next(((a, b, tb) for a, b, tb in self.tables if a <= t < b), None)
            if span is not None:
                end, table, fixed = span[1], span[2], True
            else:
                later = [a for a, _b, _t in self.tables if a > t]
                end = min(later) if later else OPEN_END
                nxt = cuts[cuts > t]
                if len(nxt):
                    end = min(end, int(nxt[0]))
                if self.at is not None:
                    past = cuts[cuts <= t]
                    instant = max(self.at, int(past[-1])) if len(past) else self.at
                    table, fixed = self.compile(instant), True
                else:
                    table, fixed = self.compile(t), False
                    end = min(end, table.valid_until)
            j = int(np.searchsorted(start, end, side="left")) if end < OPEN_END else n
            j = max(j, i + 1)
            yield Segment(i, j, table, fixed)
            i = j
