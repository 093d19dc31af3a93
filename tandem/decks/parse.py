"""Parsing a rate deck: a CSV or XLSX file in, validated rate rows and rejected rows out.

:func:`parse_deck` is pure (no store). After the file is read (:mod:`tandem.decks.read`)
and its columns found (:mod:`tandem.decks.header`), a deck goes through these steps, each
a function below:

1. :func:`_data_rows`: blank rows and note rows (a single text cell, e.g. a footer) go;
2. :func:`_read_columns`: every column the deck has is read with :meth:`_Rows.read`, which
   notes each bad cell against its row and column (:mod:`tandem.decks.values` reads cells);
3. :func:`_deck_effective`: the deck's effective date (given, else its rows' most common
   date, else now); rows without a date of their own take it;
4. :func:`_rate_table`: one row per code (ranges expanded) of the rows without a fault,
   in prefix order;
5. :func:`_check_duplicates` and :func:`_check_suspicious`: the checks across rows;
6. :func:`_rejections`: every fault by line and column; rejected lines leave the rates.

A row is rejected, naming its line, column and reason, when its prefix is not digits, a
rate or fee is not a number or is negative, an effective date or increment cannot be
read, a code repeats with a conflicting rate, or a rate is more than 1000 times the
deck's median (suspicious: almost always a misplaced decimal point; accept such rows
deliberately with ``allow_suspicious``). A row with any fault is rejected whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tandem.csvcells import RESTORE_PATTERN, RESTORE_REPLACEMENT
from tandem.decks.header import ColumnMap, parse_mapping
from tandem.decks.read import MAX_DECK_BYTES, RawDeck, read_deck_bytes, read_deck_source
from tandem.decks.values import (
    MAX_DESTINATION_CHARS,
    MAX_PREFIX_DIGITS,
    DateReader,
    parse_increment,
    parse_seconds,
    parse_status,
    read_by_value,
    read_money,
    read_prefixes,
)
from tandem.errors import DeckError
from tandem.instant import InstantLike, now_instant, parse_instant
from tandem.money import format_money
from tandem.store import DECK_COLUMNS, TERMS

__all__ = [
    "DeckOptions",
    "Rejection",
    "ParsedDeck",
    "parse_deck",
    "SUSPICIOUS_FACTOR",
]

#: A rate above this many times the deck's median rate is suspicious.
SUSPICIOUS_FACTOR = 1000

# The store's deck frame columns (line, change and closed included).
_RATE_COLUMNS = list(DECK_COLUMNS)
# The terms two rows of one code and date must agree on to be the same rate.
_COMPARED = ["rate", *TERMS, "closed"]


@dataclass(frozen=True)
class DeckOptions:
    """How to read a deck.

    ``mapping``: header → field overrides (``{"Dst": "prefix"}`` or ``["Dst=prefix"]``);
    ``currency``: ISO code (default: from a header like ``USD/min``, else USD);
    ``decimal_comma``: rates written ``0,0123``; ``day_first``: True for 01/12/2026 = 1
    December, False for 12 January, None to decide from the file; ``date_format``: an
    explicit ``strftime`` format; ``timezone``: IANA zone of dates without one (default
    UTC); ``effective``: the deck's effective date, an instant (:mod:`tandem.instant`; a
    date alone is midnight in ``timezone``), which rows without a date of their own take;
    ``allow_suspicious``: accept rates above :data:`SUSPICIOUS_FACTOR` × median (warned)
    instead of rejecting them; ``sheet``: XLSX worksheet name; ``max_file_bytes``: the
    largest deck file read (:data:`~tandem.decks.read.MAX_DECK_BYTES` by default).
    """

    mapping: Mapping[str, str] | Sequence[str] | None = None
    currency: str | None = None
    decimal_comma: bool = False
    day_first: bool | None = None
    date_format: str | None = None
    timezone: str | None = None
    effective: InstantLike | None = None
    allow_suspicious: bool = False
    sheet: str | None = None
    suspicious_factor: int = SUSPICIOUS_FACTOR
    max_file_bytes: int = MAX_DECK_BYTES


@dataclass(frozen=True)
class Rejection:
    """One rejected row: its 1-based ``line`` in the file, the ``column`` header, why."""

    line: int
    column: str | None
    reason: str

    def to_dict(self) -> dict[str, object]:
        """``{"line": ..., "column": ..., "reason": ...}``."""
        return {"line": self.line, "column": self.column, "reason": self.reason}

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column!r}" if self.column else "")
        return f"{where}: {self.reason}"


@dataclass
class ParsedDeck:
    """A deck read and validated, not yet stored.

    ``rates`` is the frame :meth:`tandem.store.Store.write_deck` takes (one row per
    code after range expansion; money scaled, times UTC epoch seconds, ``line`` the
    source line, ``closed`` for codes the deck closes). ``rows_read`` counts data rows.
    """

    rates: pd.DataFrame
    rejected: list[Rejection]
    warnings: list[str]
    currency: str
    effective_from: int
    rows_read: int
    source_name: str
    source_sha256: str
    format: str
    header_line: int
    columns: dict[str, str]

    @property
    def accepted(self) -> int:
        """Codes accepted (after range expansion)."""
        return int(len(self.rates))


def parse_deck(
    source: str | Path | bytes,
    options: DeckOptions | None = None,
    *,
    now: InstantLike | None = None,
    source_name: str | None = None,
) -> ParsedDeck:
    """Read and validate a deck (a path, or the file's bytes). Nothing is stored.

    Raises :class:`DeckError` when the file is not a deck at all (no header row, not CSV
    or XLSX, conflicting options); rows it cannot accept are in ``rejected``.
    """
    options = options or DeckOptions()
    now_s = now_instant() if now is None else parse_instant(now)
    data, name = _deck_bytes(source, source_name, options.max_file_bytes)
    raw = read_deck_bytes(data, parse_mapping(options.mapping), sheet=options.sheet, name=name)
    currency = _currency(options, raw.columns_map, name)
    rows, warnings = _data_rows(raw)
    columns = _read_columns(rows, options, raw.format)
    deck_from = _deck_effective(options, columns.dates, columns.dated, now_s)
    table = _rate_table(rows, columns, deck_from)
    frame = table.to_pandas()
    frame, dup_rejected, dup_warnings = _check_duplicates(
        frame, table["prefix"], rows.header("prefix")
    )
    warnings.extend(dup_warnings)
    frame, sus_rejected, sus_warnings = _check_suspicious(frame, options, rows.header("rate"))
    warnings.extend(sus_warnings)
    rejected = _rejections(rows, [*dup_rejected, *sus_rejected])
    if rejected:
        frame = frame[~frame["line"].isin({r.line for r in rejected})]
    return ParsedDeck(
        rates=frame.reset_index(drop=True)[_RATE_COLUMNS],
        rejected=rejected,
        warnings=warnings,
        currency=currency,
        effective_from=int(deck_from),
        rows_read=len(rows),
        source_name=name,
        source_sha256=hashlib.sha256(data).hexdigest(),
        format=raw.format,
        header_line=raw.header_line,
        columns={f: raw.columns_map.header_of(f) for f in raw.columns_map.fields},
    )


# -- the file and the deck's own facts -------------------------------------------------------


def _deck_bytes(
    source: str | Path | bytes, source_name: str | None, max_bytes: int
) -> tuple[bytes, str]:
    """The deck file's bytes and the name reports give it (``source_name``, else the file's).

    A file must be a regular file of at most ``max_bytes`` (:func:`read_deck_source`)."""
    if isinstance(source, bytes):
        name = source_name or "deck"
        if len(source) > max_bytes:
            raise DeckError(
                f"deck {name!r} is {len(source):,} bytes, over the limit of {max_bytes:,} bytes"
            )
        return source, name
    path = Path(source)
    return read_deck_source(path, max_bytes=max_bytes), source_name or path.name


def _currency(options: DeckOptions, cmap: ColumnMap, name: str) -> str:
    """The deck's ISO 4217 currency: the option, else the rate header's (``USD/min``), else USD.

    An option that contradicts the rate header is refused rather than silently preferred.
    """
    currency = (options.currency or "").strip().upper() or None
    if currency and cmap.currency and currency != cmap.currency:
        raise DeckError(
            f"{name}: the rate column {cmap.header_of('rate')!r} says {cmap.currency} but "
            f"--currency {currency} was given; check which currency the deck is in"
        )
    currency = currency or cmap.currency or "USD"
    if len(currency) != 3 or not currency.isalpha():
        raise DeckError(f"currency {currency!r} is not an ISO 4217 code such as USD or EUR")
    return currency


def _deck_effective(
    options: DeckOptions, row_dates: np.ndarray, present: np.ndarray, now: int
) -> int:
    """The deck's effective date: ``options.effective``, else the most common row date
    (the latest of equally common ones), else ``now``."""
    if options.effective is not None:
        return parse_instant(options.effective, tz=options.timezone)
    dated = row_dates[present]
    if len(dated):
        values, counts = np.unique(dated.astype(np.int64), return_counts=True)
        best = counts.max()
        return int(values[counts == best].max())
    return now


# -- rows and their faults -------------------------------------------------------------------

_V = TypeVar("_V")
_W = TypeVar("_W")
#: A column reader from :mod:`tandem.decks.values`: cells in, ``(values, ok, reasons)`` out,
#: ``reasons`` mapping a data row to why its cell is bad.
_Reader = Callable[[pa.Array], tuple[_V, _W, dict[int, str]]]


@dataclass
class _Rows:
    """A deck's data rows as text (blank and note rows gone) and the faults found in them.

    ``columns`` and ``lines`` as in :class:`~tandem.decks.read.RawDeck`; ``faults[i]``
    lists ``(column header, reason)`` for data row ``i`` in the order they were found.
    """

    columns: list[pa.Array]
    lines: np.ndarray
    cmap: ColumnMap
    faults: dict[int, list[tuple[str, str]]] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(len(self.lines))

    def has(self, name: str) -> bool:
        """True when the deck has a column for field ``name``."""
        return name in self.cmap.fields

    def cells(self, name: str) -> pa.Array:
        """The raw cells of field ``name`` (the deck must have the column)."""
        return self.columns[self.cmap.fields[name]]

    def header(self, name: str) -> str:
        """Field ``name``'s header as the deck wrote it: the column rejections name."""
        return self.cmap.header_of(name)

    def note(self, name: str, reasons: Mapping[int, str]) -> None:
        """Record each ``row → reason`` as a fault in field ``name``'s column."""
        if not reasons:
            return
        header = self.header(name)
        for i, reason in reasons.items():
            self.faults.setdefault(i, []).append((header, reason))

    def read(self, name: str, reader: _Reader[_V, _W]) -> tuple[_V, _W]:
        """Field ``name``'s column through ``reader``: its first two results, bad cells noted."""
        values, ok, reasons = reader(self.cells(name))
        self.note(name, reasons)
        return values, ok

    def read_or(
        self,
        name: str,
        reader: _Reader[np.ndarray, np.ndarray],
        fill: int | tuple[int, int] | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`read`; a deck without the column gives ``fill`` in every row, ok False."""
        if not self.has(name):
            n = len(self)
            shape = (n, len(fill)) if isinstance(fill, tuple) else (n,)
            return np.full(shape, fill), np.zeros(n, dtype=bool)
        return self.read(name, reader)


def _nonempty(col: pa.Array) -> np.ndarray:
    text = pc.utf8_trim_whitespace(pc.fill_null(col, ""))
    return np.asarray(pc.not_equal(text, "").to_numpy(zero_copy_only=False), dtype=bool)


def _data_rows(raw: RawDeck) -> tuple[_Rows, list[str]]:
    """The rows that hold data, and a warning per note row skipped.

    Rows with no content go silently; a row with a single cell of text with a letter in
    it (a footer such as "Prices exclude VAT") is a note, unless that cell is the rate.
    """
    n = len(raw)
    if n == 0:
        return _Rows(raw.columns, raw.lines, raw.columns_map), []
    counts = np.zeros(n, dtype=np.int32)
    for col in raw.columns:
        counts += _nonempty(col)
    keep = counts > 0
    warnings: list[str] = []
    single = np.flatnonzero(counts == 1)
    if len(single) and len(raw.columns_map.fields) >= 2:
        rate_col = raw.column("rate")
        has_rate = _nonempty(rate_col)[single] if rate_col is not None else np.zeros(0, bool)
        candidates = single[~has_rate] if len(has_rate) else single
        for i in candidates.tolist():
            text = next(
                str(c[i].as_py()).strip()
                for c in raw.columns
                if c[i].is_valid and str(c[i].as_py()).strip()
            )
            if any(ch.isalpha() for ch in text):
                keep[i] = False
                warnings.append(f"line {int(raw.lines[i])}: skipped a note line: {text[:60]!r}")
    if keep.all():
        return _Rows(raw.columns, raw.lines, raw.columns_map), warnings
    idx = pa.array(np.flatnonzero(keep))
    columns = [c.take(idx) for c in raw.columns]
    return _Rows(columns, raw.lines[keep], raw.columns_map), warnings


# -- columns ---------------------------------------------------------------------------------


@dataclass
class _Columns:
    """Every data row's terms as read (a bad cell holds a filler; its row has a fault).

    ``status`` the change word (``New`` … ``Closed``, None when not given); ``dates``
    the row's own effective date where ``dated``; ``src[k]`` the data row that code
    ``prefixes[k]`` came from (a range row gives several codes).
    """

    status: np.ndarray
    closed: np.ndarray
    rate: np.ndarray
    connect_fee: np.ndarray
    initial_increment: np.ndarray
    next_increment: np.ndarray
    min_duration: np.ndarray
    dates: np.ndarray
    dated: np.ndarray
    src: np.ndarray
    prefixes: pa.Array


def _read_columns(rows: _Rows, options: DeckOptions, deck_format: str) -> _Columns:
    """Read every column the deck has; each bad cell becomes a fault of its row.

    The status comes first: a Closed row needs no rate. (A row's faults are reported by
    column; the order they are read in here only breaks ties.)
    """
    money = partial(read_money, decimal_comma=options.decimal_comma)
    status, _ = rows.read_or("change", _status_cells, fill=None)
    closed = status == "Closed"
    rate, priced = rows.read("rate", partial(money, what="rate"))
    rows.note("rate", {int(i): "rate is empty" for i in np.flatnonzero(~priced & ~closed)})
    connect_fee, _ = rows.read_or("connect_fee", partial(money, what="connection fee"), fill=0)
    initial, nxt = _read_increments(rows)
    min_duration, _ = rows.read_or("min_duration", _min_duration_cells, fill=0)
    dates, dated = rows.read_or(
        "effective_from", partial(_date_cells, options, deck_format == "xlsx"), fill=0
    )
    src, prefixes = rows.read("prefix", read_prefixes)
    if rows.has("destination"):
        rows.note("destination", _long_destinations(rows.cells("destination")))
    return _Columns(
        status=status,
        closed=closed,
        rate=rate,
        connect_fee=connect_fee,
        initial_increment=initial,
        next_increment=nxt,
        min_duration=min_duration,
        dates=dates,
        dated=dated,
        src=src,
        prefixes=prefixes,
    )


def _long_destinations(cells: pa.Array) -> dict[int, str]:
    """Rows whose destination name is longer than the store holds (one limit for SQLite and
    PostgreSQL: :data:`~tandem.decks.values.MAX_DESTINATION_CHARS` characters)."""
    text = pc.utf8_trim_whitespace(pc.fill_null(cells, ""))
    lengths = np.asarray(pc.utf8_length(text).to_numpy(zero_copy_only=False), dtype=np.int64)
    return {
        int(i): f"destination is {int(lengths[i])} characters, longer than the "
        f"{MAX_DESTINATION_CHARS} the store holds"
        for i in np.flatnonzero(lengths > MAX_DESTINATION_CHARS)
    }


def _read_increments(rows: _Rows) -> tuple[np.ndarray, np.ndarray]:
    """Initial and next billing increments in seconds (60/60 when the deck gives none).

    An ``Increment`` column (``60/60``) gives both; ``Initial`` and ``Next`` columns
    override it where they have a value; an ``Initial`` column alone gives both.
    """
    pairs, _ = rows.read_or("increment", _increment_cells, fill=(60, 60))
    initial, nxt = pairs[:, 0].copy(), pairs[:, 1].copy()
    for name, target in (("initial_increment", initial), ("next_increment", nxt)):
        values, ok = rows.read_or(name, _seconds_cells, fill=60)
        target[ok] = values[ok]
    if rows.has("initial_increment") and not (rows.has("next_increment") or rows.has("increment")):
        nxt[:] = initial  # "Initial increment" alone (rare): the next one repeats it
    return initial, nxt


def _status_cells(cells: pa.Array) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Change words (``Increase``, ``Deleted`` …) as :func:`parse_status` names them."""
    return read_by_value(cells, parse_status, fill=None, dtype=object)


def _increment_cells(cells: pa.Array) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """``initial/next`` increment pairs (an ``(n, 2)`` array)."""
    return read_by_value(cells, parse_increment, fill=(60, 60))


def _seconds_cells(cells: pa.Array) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """One increment in whole positive seconds."""
    return read_by_value(cells, _positive_increment, fill=60)


def _positive_increment(text: str) -> int:
    """One increment cell in seconds; ValueError unless a whole number above zero."""
    value = parse_seconds(text, what="increment")
    if value <= 0:
        raise ValueError(f"increment {text!r} must be a positive number of seconds")
    return value


def _min_duration_cells(cells: pa.Array) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """The minimum billed duration in whole seconds."""
    return read_by_value(cells, partial(parse_seconds, what="minimum duration"), fill=0)


def _date_cells(
    options: DeckOptions, excel_serials: bool, cells: pa.Array
) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Effective dates as UTC epoch seconds, day or month first settled from the column."""
    reader = DateReader(
        day_first=options.day_first,
        date_format=options.date_format,
        timezone=options.timezone,
        excel_serials=excel_serials,
    )
    text = pc.utf8_trim_whitespace(pc.fill_null(cells, ""))
    reader.decide_order([u for u in pc.unique(text).to_pylist() if u])
    return read_by_value(cells, reader, fill=0)


# -- the rate table --------------------------------------------------------------------------


def _rate_table(rows: _Rows, columns: _Columns, deck_from: int) -> pa.Table:
    """One row per code of the rows without a fault, in prefix (then date) order.

    A row with any fault is rejected whole, so none of its codes is a candidate rate.
    Prefix order lets the store write its index in order, far faster than at random,
    and puts repeated codes side by side for :func:`_check_duplicates`.
    """
    n = len(rows)
    src, prefixes = columns.src, columns.prefixes
    if rows.faults:
        faulty = np.zeros(n, dtype=bool)
        faulty[list(rows.faults)] = True
        keep = ~faulty[src]
        src, prefixes = src[keep], prefixes.filter(pa.array(keep))
    identity = len(src) == n and not rows.faults and bool((src == np.arange(n)).all())
    if rows.has("destination"):
        destination = pc.utf8_trim_whitespace(pc.fill_null(rows.cells("destination"), ""))
        # A name 'tandem deck export' (or a careful spreadsheet) quoted so that it would
        # not run as a formula gets its name back: the quote is escaping, not data.
        destination = pc.replace_substring_regex(
            destination,
            pattern=RESTORE_PATTERN,
            replacement=RESTORE_REPLACEMENT,
            max_replacements=1,
        )
        if not identity:
            destination = destination.take(pa.array(src))
    else:
        destination = pa.nulls(len(src), pa.string()).fill_null("")
    effective = np.where(columns.dated, columns.dates, deck_from)
    order = _prefix_order(prefixes, effective[src])
    src = src[order]
    arrow_order = pa.array(order)
    return pa.table(
        {
            "prefix": prefixes.take(arrow_order),
            "destination": destination.take(arrow_order),
            "rate": np.where(columns.closed[src], 0, columns.rate[src]),
            "connect_fee": columns.connect_fee[src],
            "initial_increment": columns.initial_increment[src],
            "next_increment": columns.next_increment[src],
            "min_duration": columns.min_duration[src],
            "effective_from": effective[src],
            "line": rows.lines[src],
            "change": pa.array(columns.status[src], type=pa.string())
            if rows.has("change")
            else pa.nulls(len(src), pa.string()),
            "closed": columns.closed[src],
        }
    )


def _prefix_order(prefixes: pa.Array, effective: np.ndarray) -> np.ndarray:
    """Row order by prefix (as text: 44 < 440 < 4401 < 45), then effective date.

    Prefixes are digit strings of at most 16 digits, so the text order equals the order
    of (digits padded to 16 with zeros, length): two integer keys numpy sorts quickly.
    """
    if len(prefixes) == 0:
        return np.zeros(0, dtype=np.int64)
    padded = pc.cast(pc.utf8_rpad(prefixes, width=MAX_PREFIX_DIGITS, padding="0"), pa.int64())
    length = pc.utf8_length(prefixes).to_numpy(zero_copy_only=False).astype(np.int64)
    key = padded.to_numpy(zero_copy_only=False).astype(np.int64) * 17 + length
    if (effective == effective[0]).all():
        return np.argsort(key, kind="stable")
    return np.lexsort((effective, key))


# -- checks across rows ----------------------------------------------------------------------


def _check_duplicates(
    frame: pd.DataFrame, prefixes: pa.ChunkedArray | pa.Array, prefix_header: str
) -> tuple[pd.DataFrame, list[Rejection], list[str]]:
    """Same code and date twice: identical rows merge, conflicting rows are rejected.

    ``frame`` is in prefix order, so repeated codes are neighbours.
    """
    if isinstance(prefixes, pa.ChunkedArray):
        prefixes = prefixes.combine_chunks()
    n = len(frame)
    if n < 2:
        return frame, [], []
    same = np.asarray(
        pc.equal(prefixes.slice(1), prefixes.slice(0, n - 1)).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    if not same.any():
        return frame, [], []
    repeated = np.zeros(n, dtype=bool)
    repeated[1:] |= same
    repeated[:-1] |= same
    subset = frame[repeated]
    dup = subset.duplicated(["prefix", "effective_from"], keep=False)
    if not dup.any():
        return frame, [], []
    frame = frame.copy()
    rejected: list[Rejection] = []
    warnings: list[str] = []
    drop: list[int] = []
    groups = subset[dup].groupby(["prefix", "effective_from"], sort=True)
    for (prefix, _), group in groups:
        first = group.iloc[0]
        for idx, row in group.iloc[1:].iterrows():
            if all(row[c] == first[c] for c in _COMPARED):
                drop.append(idx)
                if row["line"] != first["line"]:
                    warnings.append(
                        f"line {int(row['line'])}: code {prefix} repeats line "
                        f"{int(first['line'])} with the same rate; kept once"
                    )
                continue
            what = (
                f"rate {format_money(int(row['rate']))} vs {format_money(int(first['rate']))}"
                if row["rate"] != first["rate"]
                else "other terms (fee, increments, status)"
            )
            rejected.append(
                Rejection(
                    int(row["line"]),
                    prefix_header,
                    f"duplicate code {prefix} with conflicting {what} on line {int(first['line'])}",
                )
            )
    return frame.drop(index=drop), rejected, warnings


def _check_suspicious(
    frame: pd.DataFrame, options: DeckOptions, rate_header: str
) -> tuple[pd.DataFrame, list[Rejection], list[str]]:
    """Rates above ``suspicious_factor`` × the deck's median rate (misplaced decimal)."""
    live = frame.loc[~frame["closed"].to_numpy(dtype=bool), "rate"].to_numpy(dtype=np.int64)
    live = live[live > 0]
    if len(live) == 0:
        return frame, [], []
    median = int(np.median(live))
    if median <= 0:
        return frame, [], []
    limit = median * options.suspicious_factor
    over = frame[(frame["rate"].to_numpy() > limit) & ~frame["closed"].to_numpy(dtype=bool)]
    if over.empty:
        return frame, [], []
    rejected, warnings = [], []
    seen_lines: set[int] = set()
    for _, row in over.iterrows():
        line = int(row["line"])
        if line in seen_lines:
            continue
        seen_lines.add(line)
        text = (
            f"rate {format_money(int(row['rate']))} for {row['prefix']} is more than "
            f"{options.suspicious_factor} times the deck's median rate {format_money(median)}"
        )
        if options.allow_suspicious:
            warnings.append(f"line {line}: suspicious {text}; accepted (--allow-suspicious)")
        else:
            rejected.append(
                Rejection(
                    line,
                    rate_header,
                    f"suspicious: {text} (a misplaced decimal point?); pass "
                    "--allow-suspicious if it is right",
                )
            )
    return frame, rejected, warnings


def _rejections(rows: _Rows, found: list[Rejection]) -> list[Rejection]:
    """Every rejection, by line then column: the rows' faults and those ``found`` across rows."""
    rejected = [
        Rejection(int(rows.lines[i]), column, reason)
        for i in sorted(rows.faults)
        for column, reason in rows.faults[i]
    ]
    rejected.extend(found)
    rejected.sort(key=lambda r: (r.line, r.column or ""))
    return rejected
