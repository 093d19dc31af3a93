"""Reading one side of a reconciliation: our CDRs or the vendor's, any format ``tandem rate``
reads, into the columns the matcher works on.

The CDR fields (start, duration, number, call id...) are read by the rating module's
:class:`~tandem.rating.cdr.CdrReader`: its column aliases, ``--map-column``, time zone
and DST handling, unchanged. A vendor's file adds what it bills: a **rate** per minute
and an **amount** per call, found by the names in :data:`MONEY_ALIASES` or named with
``--map-column rate=COLUMN`` / ``amount=COLUMN``, and read like the money of a deck
(:func:`tandem.decks.values.read_money`: exact, ``$0.01`` and thousands separators
accepted, a decimal comma with ``decimal_comma``). Numbers are read as E.164 digits, the
national format with a country code (:mod:`tandem.recon.numbers`).

Every record comes out, readable or not: a record whose start, duration, number, rate or
amount cannot be read keeps its place with a ``problem`` (:data:`PROBLEMS`) and is never
matched; the reconciliation lists it as missing on the other side, with the problem.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tandem.decks.values import read_money
from tandem.errors import CdrError, ConfigError
from tandem.rating.book import MAX_DURATION, MAX_INSTANT
from tandem.rating.cdr import COLUMN_ALIASES, CdrReader
from tandem.recon.numbers import number_values, vendor_digits

__all__ = ["MONEY_ALIASES", "PROBLEMS", "CdrSide", "read_side", "split_column_map"]

#: Source column names tried, in order, for the vendor's billed rate and amount.
MONEY_ALIASES: dict[str, tuple[str, ...]] = {
    "rate": ("rate", "rate_per_minute", "rate_per_min", "per_minute", "price_per_minute",
             "unit_price", "tariff"),
    "amount": ("amount", "cost", "charge", "charged", "call_cost", "billed_amount", "total",
               "price"),
}  # fmt: skip

#: Why a record cannot be matched (checked in this order; the first that applies is kept).
PROBLEMS = ("bad_record", "bad_time", "bad_duration", "bad_number", "bad_rate", "bad_amount")


def split_column_map(
    column_map: dict[str, str] | None,
) -> tuple[dict[str, str] | None, dict[str, str]]:
    """``(cdr_map, money_map)``: the fields the CDR reader maps, and ``rate``/``amount``."""
    cdr = {k: v for k, v in (column_map or {}).items() if k not in MONEY_ALIASES}
    money = {k: v for k, v in (column_map or {}).items() if k in MONEY_ALIASES}
    unknown = set(cdr) - set(COLUMN_ALIASES)
    if unknown:
        fields = ", ".join([*COLUMN_ALIASES, *MONEY_ALIASES])
        raise ConfigError(f"--map-column: unknown field(s) {sorted(unknown)}; map {fields}")
    return cdr or None, money


@dataclass
class CdrSide:
    """One side's records, in file order (row ``i`` is the file's record ``record[i]``).

    ``start``/``duration`` are UTC epoch seconds and billable seconds (0 where unreadable),
    ``number`` the number as written, ``digits`` its E.164 digits (null where refused),
    ``key`` the digits as int64 (-1: none), ``call_id`` (null: none), ``carrier`` the
    account the CDR names (null: none), ``rate``/``amount`` scaled integers with
    ``has_rate``/``has_amount`` (False where the file has no such column or the cell is
    empty), ``problem`` an index into :data:`PROBLEMS` + 1 (0: readable).
    """

    name: str
    record: np.ndarray
    line: np.ndarray
    start: np.ndarray
    duration: np.ndarray
    number: pa.Array
    digits: pa.Array
    key: np.ndarray
    call_id: pa.Array
    carrier: pa.Array
    rate: np.ndarray
    has_rate: np.ndarray
    amount: np.ndarray
    has_amount: np.ndarray
    problem: np.ndarray
    rate_column: bool = False
    amount_column: bool = False

    def __len__(self) -> int:
        return len(self.record)

    @property
    def usable(self) -> np.ndarray:
        """Records that can be matched (no problem)."""
        return self.problem == 0

    def take(self, rows: np.ndarray) -> CdrSide:
        """The records at ``rows`` (in that order)."""
        idx = pa.array(rows, pa.int64())
        return CdrSide(
            name=self.name,
            record=self.record[rows],
            line=self.line[rows],
            start=self.start[rows],
            duration=self.duration[rows],
            number=self.number.take(idx),
            digits=self.digits.take(idx),
            key=self.key[rows],
            call_id=self.call_id.take(idx),
            carrier=self.carrier.take(idx),
            rate=self.rate[rows],
            has_rate=self.has_rate[rows],
            amount=self.amount[rows],
            has_amount=self.has_amount[rows],
            problem=self.problem[rows],
            rate_column=self.rate_column,
            amount_column=self.amount_column,
        )

    def canonical(self, carrier: str) -> pa.Table:
        """A canonical CDR batch of these records for the rater, every one to ``carrier``
        (customer none: only the buy side is read)."""
        n = len(self)
        start_ok = ~np.isin(self.problem, [1, 2])
        dur_ok = ~np.isin(self.problem, [1, 3])
        return pa.table(
            {
                "start": pa.array(self.start, mask=~start_ok),
                "duration": pa.array(self.duration, mask=~dur_ok),
                "number": self.digits,
                "customer": pa.nulls(n, pa.string()),
                "carrier": pa.DictionaryArray.from_arrays(
                    pa.array(np.zeros(n, dtype=np.int32)), pa.array([carrier])
                ),
            }
        )


def _text(table: pa.Table, name: str) -> pa.Array:
    if name not in table.column_names:
        return pa.nulls(table.num_rows, pa.string())
    col = table.column(name).combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    if not pa.types.is_string(col.type):
        col = pc.cast(col, pa.string())
    return col


def _find(names: list[str], field: str, money_map: dict[str, str]) -> str | None:
    if field in money_map:
        if money_map[field] not in names:
            raise CdrError(
                f"--map-column names {money_map[field]!r} for {field}, but the file has no "
                f"such column (it has: {', '.join(names[:20])})"
            )
        return money_map[field]
    lower = {n.lower(): n for n in names}
    for alias in MONEY_ALIASES[field]:
        if alias in lower:
            return lower[alias]
    return None


def _money(
    table: pa.Table, src: str | None, what: str, decimal_comma: bool, negative: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(scaled, present, bad)`` of a money column (all absent when ``src`` is None)."""
    n = table.num_rows
    if src is None:
        return np.zeros(n, np.int64), np.zeros(n, bool), np.zeros(n, bool)
    text = pc.fill_null(pc.utf8_trim_whitespace(_text(table, src)), "")
    values, present, errors = read_money(
        text, decimal_comma=decimal_comma, what=what, allow_negative=negative
    )
    bad = np.zeros(n, dtype=bool)
    if errors:
        bad[np.fromiter(errors, dtype=np.int64, count=len(errors))] = True
    return values, present & ~bad, bad


def read_side(
    path: str | os.PathLike[str],
    *,
    name: str,
    format: str = "auto",
    timezone: str = "UTC",
    column_map: dict[str, str] | None = None,
    country_code: str | None = None,
    decimal_comma: bool = False,
    batch_size: int = 262_144,
    on_batch: Callable[[int], None] | None = None,
) -> CdrSide:
    """Read one side's CDR file (see the module docstring); ``name`` ("ours" or
    "theirs") is kept for messages. Raises :class:`~tandem.errors.CdrError` when the
    file cannot be read at all."""
    p = Path(path)
    if not p.exists():
        raise CdrError(f"no such CDR file: {os.fspath(p)}")
    if p.is_dir():
        raise CdrError(f"{os.fspath(p)} is a directory, not a CDR file")
    cdr_map, money_map = split_column_map(column_map)
    reader = CdrReader(format=format, timezone=timezone, column_map=cdr_map, batch_size=batch_size)
    parts = []
    for batch in reader.batches(p):
        parts.append(batch)
        if on_batch is not None:
            on_batch(batch.num_rows)
    table = pa.concat_tables(parts, promote_options="permissive") if parts else None
    if table is None or table.num_rows == 0:
        raise CdrError(f"{p.name}: no CDRs in the file")
    n = table.num_rows
    record = np.asarray(table.column("record").to_numpy(), dtype=np.int64)
    line = (
        np.asarray(pc.fill_null(table.column("line"), 0).to_numpy(), dtype=np.int64)
        if "line" in table.column_names
        else record.copy()
    )
    start_col = table.column("start").combine_chunks()
    start_ok = start_col.is_valid().to_numpy(zero_copy_only=False)
    start = pc.fill_null(start_col, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    start_ok &= (start >= 0) & (start <= MAX_INSTANT)
    dur_col = table.column("duration").combine_chunks()
    dur_ok = dur_col.is_valid().to_numpy(zero_copy_only=False)
    duration = pc.fill_null(dur_col, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    dur_ok &= (duration >= 0) & (duration <= MAX_DURATION)
    number = _text(table, "number")
    digits = vendor_digits(number, country_code)
    key = number_values(digits)
    names = table.column_names
    rate_src, amount_src = _find(names, "rate", money_map), _find(names, "amount", money_map)
    rate, has_rate, bad_rate = _money(table, rate_src, "rate", decimal_comma, False)
    amount, has_amount, bad_amount = _money(table, amount_src, "amount", decimal_comma, True)
    problem = np.zeros(n, dtype=np.int8)
    raw = _text(table, "raw")
    broken = raw.is_valid().to_numpy(zero_copy_only=False) & ~start_ok
    for code, bad in reversed(
        list(enumerate((broken, ~start_ok, ~dur_ok, key < 0, bad_rate, bad_amount), 1))
    ):
        problem[bad] = code
    start[~start_ok] = 0
    duration[~dur_ok] = 0
    call_id = pc.utf8_trim_whitespace(_text(table, "call_id"))
    call_id = pc.if_else(pc.equal(call_id, ""), pa.scalar(None, pa.string()), call_id)
    return CdrSide(
        name=name,
        record=record,
        line=line,
        start=start,
        duration=duration,
        number=number,
        digits=digits,
        key=key,
        call_id=call_id,
        carrier=_text(table, "carrier"),
        rate=rate,
        has_rate=has_rate,
        amount=amount,
        has_amount=has_amount,
        problem=problem,
        rate_column=rate_src is not None,
        amount_column=amount_src is not None,
    )
