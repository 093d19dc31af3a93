"""Parsing a rate deck: a CSV or XLSX file in, validated rate rows and rejected rows out.

:func:`parse_deck` turns a CSV or XLSX file into validated rate rows (pure: no store).

Validation rejects a row, naming its line, column and reason, when its prefix is not
digits, a rate or fee is not a number or is negative, an effective date or increment
cannot be read, a code repeats with a conflicting rate, or a rate is more than 1000
times the deck's median (suspicious: almost always a misplaced decimal point; accept
such rows deliberately with ``allow_suspicious``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tandem.decks.header import parse_mapping
from tandem.decks.read import RawDeck, read_deck_bytes
from tandem.decks.values import (
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
from tandem.store.store import RATE_COLUMNS

__all__ = [
    "DeckOptions",
    "Rejection",
    "ParsedDeck",
    "parse_deck",
    "SUSPICIOUS_FACTOR",
]

#: A rate above this many times the deck's median rate is suspicious.
SUSPICIOUS_FACTOR = 1000

# The store's deck frame columns, plus the optional ones import_deck fills in.
_RATE_COLUMNS = [*RATE_COLUMNS, "line", "change", "closed"]


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
    instead of rejecting them; ``sheet``: XLSX worksheet name.
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


# -- parsing and validation ------------------------------------------------------------------


def _nonempty(col: pa.Array) -> np.ndarray:
    text = pc.utf8_trim_whitespace(pc.fill_null(col, ""))
    return np.asarray(pc.not_equal(text, "").to_numpy(zero_copy_only=False), dtype=bool)


def _drop_blank_and_notes(raw: RawDeck) -> tuple[list[pa.Array], np.ndarray, list[str]]:
    """Drop rows with no content and note rows (a single text cell, e.g. a footer)."""
    n = len(raw)
    if n == 0:
        return raw.columns, raw.lines, []
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
        return raw.columns, raw.lines, warnings
    idx = pa.array(np.flatnonzero(keep))
    return [c.take(idx) for c in raw.columns], raw.lines[keep], warnings


def _deck_effective(
    options: DeckOptions, row_dates: np.ndarray, present: np.ndarray, now: int
) -> int:
    if options.effective is not None:
        return parse_instant(options.effective, tz=options.timezone)
    dated = row_dates[present]
    if len(dated):
        values, counts = np.unique(dated.astype(np.int64), return_counts=True)
        best = counts.max()
        return int(values[counts == best].max())
    return now


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
    if isinstance(source, bytes):
        data, name = source, source_name or "deck"
    else:
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DeckError(f"cannot read deck {str(path)!r}: {exc.strerror or exc}") from None
        name = source_name or path.name
    mapping = parse_mapping(options.mapping)
    raw = read_deck_bytes(data, mapping, sheet=options.sheet, name=name)
    cmap = raw.columns_map

    currency = (options.currency or "").strip().upper() or None
    if currency and cmap.currency and currency != cmap.currency:
        raise DeckError(
            f"{name}: the rate column {cmap.header_of('rate')!r} says {cmap.currency} but "
            f"--currency {currency} was given; check which currency the deck is in"
        )
    currency = currency or cmap.currency or "USD"
    if len(currency) != 3 or not currency.isalpha():
        raise DeckError(f"currency {currency!r} is not an ISO 4217 code such as USD or EUR")

    columns, lines, warnings = _drop_blank_and_notes(raw)
    n = len(lines)
    errors: dict[int, list[tuple[str, str]]] = {}

    def col(name_: str) -> pa.Array | None:
        idx = cmap.fields.get(name_)
        return None if idx is None else columns[idx]

    def header(name_: str) -> str:
        return cmap.header_of(name_)

    def add(errs: dict[int, str], field_name: str) -> None:
        for i, reason in errs.items():
            errors.setdefault(i, []).append((header(field_name), reason))

    # Status first: a Closed row needs no rate.
    status = np.full(n, None, dtype=object)
    if col("change") is not None:
        status, _, errs = read_by_value(col("change"), parse_status, fill=None, dtype=object)
        add(errs, "change")
    closed = status == "Closed"

    rates, rate_present, errs = read_money(
        col("rate"), decimal_comma=options.decimal_comma, what="rate"
    )
    add(errs, "rate")
    missing_rate = np.flatnonzero(~rate_present & ~closed)
    add({int(i): "rate is empty" for i in missing_rate}, "rate")

    connect = np.zeros(n, dtype=np.int64)
    if col("connect_fee") is not None:
        connect, _, errs = read_money(
            col("connect_fee"), decimal_comma=options.decimal_comma, what="connection fee"
        )
        add(errs, "connect_fee")

    initial = np.full(n, 60, dtype=np.int64)
    nxt = np.full(n, 60, dtype=np.int64)
    if col("increment") is not None:
        pairs, ok, errs = read_by_value(col("increment"), parse_increment, fill=(60, 60))
        add(errs, "increment")
        initial, nxt = pairs[:, 0].copy(), pairs[:, 1].copy()
    for name_, target in (("initial_increment", initial), ("next_increment", nxt)):
        if col(name_) is not None:
            values, ok, errs = read_by_value(
                col(name_), lambda t: _positive(parse_seconds(t, what="increment"), t), fill=60
            )
            add(errs, name_)
            target[ok] = values[ok]
    if (
        all(col(f) is None for f in ("next_increment", "increment"))
        and col("initial_increment") is not None
    ):
        nxt[:] = initial  # "Initial increment" alone (rare): the next one repeats it
    min_duration = np.zeros(n, dtype=np.int64)
    if col("min_duration") is not None:
        min_duration, _, errs = read_by_value(
            col("min_duration"), lambda t: parse_seconds(t, what="minimum duration"), fill=0
        )
        add(errs, "min_duration")

    row_dates = np.zeros(n, dtype=np.int64)
    date_present = np.zeros(n, dtype=bool)
    if col("effective_from") is not None:
        reader = DateReader(
            day_first=options.day_first,
            date_format=options.date_format,
            timezone=options.timezone,
            excel_serials=raw.format == "xlsx",
        )
        text = pc.utf8_trim_whitespace(pc.fill_null(col("effective_from"), ""))
        reader.decide_order([u for u in pc.unique(text).to_pylist() if u])
        row_dates, date_present, errs = read_by_value(col("effective_from"), reader, fill=0)
        add(errs, "effective_from")
    deck_from = _deck_effective(options, row_dates, date_present, now_s)
    effective = np.where(date_present, row_dates, deck_from)

    src, prefixes, errs = read_prefixes(col("prefix"))
    add(errs, "prefix")

    # Rows with any error are rejected whole; the rest are the candidate rates.
    if errors:
        bad_rows = np.zeros(n, dtype=bool)
        bad_rows[list(errors)] = True
        keep = ~bad_rows[src]
        src, prefixes = src[keep], prefixes.filter(pa.array(keep))
    identity = len(src) == n and not errors and bool((src == np.arange(n)).all())
    if col("destination") is not None:
        destination = pc.utf8_trim_whitespace(pc.fill_null(col("destination"), ""))
        if not identity:
            destination = destination.take(pa.array(src))
    else:
        destination = pa.nulls(len(src), pa.string()).fill_null("")
    # In prefix order (then date): the store writes its index in order, far faster than
    # at random, and repeated codes sit side by side.
    order = _prefix_order(prefixes, effective[src])
    src = src[order]
    arrow_order = pa.array(order)
    table = pa.table(
        {
            "prefix": prefixes.take(arrow_order),
            "destination": destination.take(arrow_order),
            "rate": np.where(closed[src], 0, rates[src]),
            "connect_fee": connect[src],
            "initial_increment": initial[src],
            "next_increment": nxt[src],
            "min_duration": min_duration[src],
            "effective_from": effective[src],
            "line": lines[src],
            "change": pa.array(status[src], type=pa.string())
            if col("change") is not None
            else pa.nulls(len(src), pa.string()),
            "closed": closed[src],
        }
    )
    frame = table.to_pandas()
    frame, dup_errors, dup_warnings = _check_duplicates(frame, table["prefix"], header("prefix"))
    warnings.extend(dup_warnings)
    frame, sus_errors, sus_warnings = _check_suspicious(frame, options, header("rate"))
    warnings.extend(sus_warnings)

    rejected = [
        Rejection(int(lines[i]), column, reason)
        for i in sorted(errors)
        for column, reason in errors[i]
    ]
    rejected.extend(dup_errors)
    rejected.extend(sus_errors)
    rejected.sort(key=lambda r: (r.line, r.column or ""))
    if rejected:
        rejected_lines = {r.line for r in rejected}
        frame = frame[~frame["line"].isin(rejected_lines)]
    frame = frame.reset_index(drop=True)
    return ParsedDeck(
        rates=frame[_RATE_COLUMNS],
        rejected=rejected,
        warnings=warnings,
        currency=currency,
        effective_from=int(deck_from),
        rows_read=int(n),
        source_name=name,
        source_sha256=hashlib.sha256(data).hexdigest(),
        format=raw.format,
        header_line=raw.header_line,
        columns={f: cmap.header_of(f) for f in cmap.fields},
    )


def _positive(value: int, text: str) -> int:
    if value <= 0:
        raise ValueError(f"increment {text!r} must be a positive number of seconds")
    return value


_COMPARED = ["rate", "connect_fee", "initial_increment", "next_increment", "min_duration", "closed"]


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
