"""Rating reports: totals and margin by customer, carrier, destination and day; minutes,
calls, ASR and ACD per carrier.

Built batch by batch (constant memory: only the aggregates are kept), exact (money summed
in int64 limbs and joined into Python integers per group, :mod:`tandem.rating.amounts`,
the arithmetic of the ``--json`` totals too), and written as CSV and Parquet or printed as
a table, money always as plain decimals (:func:`tandem.money.format_money`).

Definitions: *calls* are CDRs; *answered* calls have more than 0 billable seconds;
**ASR** (answer-seizure ratio) = answered / calls, in percent; **ACD** (average call
duration) = billable minutes / answered calls; *minutes* are billable seconds / 60 (the
CDR's seconds, not the rounded-up billed seconds, which are reported separately).
Money columns are per currency (one row per group and currency).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tandem.csvcells import neutralise_cell
from tandem.money import format_money, from_scaled
from tandem.rating.amounts import AMOUNT_TYPE, carry_limbs, join_limbs, money_limbs

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

__all__ = ["RatingReport"]

_GROUPS = {
    "customer": ["customer", "currency"],
    "carrier": ["carrier", "buy_currency"],
    "destination": ["destination", "currency"],
    "day": ["day", "currency"],
}
_MONEY = ("sell", "buy", "margin")
#: Each money column is summed as three int64 limbs (``sell_0``, ``sell_1``, ``sell_2``).
_LIMBS = [f"{m}_{k}" for m in _MONEY for k in range(3)]
_SUMS = [
    "calls",
    "answered",
    "seconds",
    "sell_billed_seconds",
    "buy_billed_seconds",
    *_LIMBS,
    "rated",
    "unrated",
]


def _carry(frame: pd.DataFrame) -> pd.DataFrame:
    """Carry the money limbs of summed rows back into range (see :mod:`.amounts`)."""
    for m in _MONEY:
        cols = [f"{m}_{k}" for k in range(3)]
        for c, v in zip(cols, carry_limbs(*(frame[c].to_numpy() for c in cols)), strict=True):
            frame[c] = v
    return frame


def _codes(col: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Integer group codes of a text or dictionary column, and the text each code stands
    for (``""`` for null): a batch is grouped on codes, and only its groups get text."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if not pa.types.is_dictionary(col.type):
        col = pc.dictionary_encode(pc.cast(col, pa.string()))
    names = pc.fill_null(pc.cast(col.dictionary, pa.string()), "").to_pylist() + [""]
    codes = pc.fill_null(col.indices, len(names) - 1).to_numpy(zero_copy_only=False)
    return codes.astype(np.int64, copy=False), np.asarray(names, dtype=object)


#: The money columns of the report tables.
_MONEY_COLUMNS = ("sell_total", "buy_total", "margin")

#: The day number of CDRs without a start time (reported as ``""``).
_NO_DAY = -(1 << 30)


def _day_text(days: pd.Series) -> pd.Series:
    """``YYYY-MM-DD`` of UTC day numbers (days since 1970-01-01); ``""`` for no time."""
    import pandas as pd

    none = (days == _NO_DAY).to_numpy()
    seconds = np.where(none, 0, days.to_numpy(dtype=np.int64)) * 86400
    stamps = pd.DatetimeIndex(pd.to_datetime(seconds, unit="s"))
    text = pd.Series(stamps.strftime("%Y-%m-%d"), index=days.index, dtype=object)
    text[none] = ""
    return text


@dataclass
class RatingReport:
    """Aggregates of priced batches; :meth:`add` each batch, then :meth:`tables`."""

    _parts: dict[str, list[pd.DataFrame]] = field(default_factory=dict)

    def add(self, priced: pa.Table) -> None:
        """Fold one priced batch (the output of :meth:`Rater.price`) in."""
        if priced.num_rows == 0:
            return
        start = priced.column("start")
        day = pc.fill_null(start, _NO_DAY * 86400).to_numpy(zero_copy_only=False) // 86400
        duration = pc.fill_null(priced.column("duration"), 0).to_numpy(zero_copy_only=False)
        rated = pc.is_null(priced.column("sell_reason")).to_numpy(zero_copy_only=False)
        text = {
            "customer": _codes(priced.column("customer")),
            "carrier": _codes(priced.column("carrier")),
            "destination": _codes(priced.column("sell_destination")),
            "currency": _codes(priced.column("sell_currency")),
            "buy_currency": _codes(priced.column("buy_currency")),
        }
        import pandas as pd

        frame = pd.DataFrame(
            {
                **{name: codes for name, (codes, _names) in text.items()},
                "day": day,
                "calls": 1,
                "answered": (duration > 0).astype(np.int64),
                "seconds": np.maximum(duration, 0).astype(np.int64),
                "sell_billed_seconds": pc.fill_null(priced.column("sell_billed_seconds"), 0)
                .to_numpy(zero_copy_only=False)
                .astype(np.int64),
                "buy_billed_seconds": pc.fill_null(priced.column("buy_billed_seconds"), 0)
                .to_numpy(zero_copy_only=False)
                .astype(np.int64),
                **{
                    f"{m}_{k}": limb
                    for m, col in zip(_MONEY, ("sell_amount", "buy_amount", "margin"), strict=True)
                    for k, limb in enumerate(money_limbs(priced.column(col)))
                },
                "rated": rated.astype(np.int64),
                "unrated": (~rated).astype(np.int64),
            }
        )
        for name, keys in _GROUPS.items():
            part = _carry(frame.groupby(keys, sort=False)[_SUMS].sum().reset_index())
            for key in keys:  # the batch's groups get their text
                if key == "day":
                    part[key] = _day_text(part[key])
                else:
                    part[key] = text[key][1][part[key].to_numpy()]
            self._parts.setdefault(name, []).append(part)
            if len(self._parts[name]) > 16:  # keep memory bounded: fold the partials
                self._parts[name] = [self._fold(name)]

    def merge(self, other: RatingReport) -> None:
        """Fold the aggregates of ``other`` (another part of the same run, e.g. a Dask
        partition's report) in: the tables come out as if every batch had been added here."""
        for name, parts in other._parts.items():
            mine = self._parts.setdefault(name, [])
            mine.extend(parts)
            if len(mine) > 16:  # keep memory bounded: fold the partials
                self._parts[name] = [self._fold(name)]

    def _fold(self, name: str) -> pd.DataFrame:
        import pandas as pd

        keys = _GROUPS[name]
        parts = self._parts.get(name) or []
        if not parts:
            return pd.DataFrame(columns=keys + _SUMS)
        return _carry(pd.concat(parts).groupby(keys, sort=True)[_SUMS].sum().reset_index())

    def tables(self) -> dict[str, pd.DataFrame]:
        """One frame per report: ``customer``, ``carrier``, ``destination``, ``day``.

        One row per group; ``currency`` is the group's currency (sell side; buy side for
        carriers), ``mixed`` when its amounts are in several currencies (then see the
        per-currency totals of the summary). Money columns are exact
        :class:`~decimal.Decimal`; ASR in percent, ACD and minutes in minutes (2 decimals).
        """
        out = {}
        for name, keys in _GROUPS.items():
            folded = self._fold(name)
            key, cur = keys
            t = _carry(folded.groupby(key, sort=True)[_SUMS].sum().reset_index())
            currencies = (
                folded[folded[cur] != ""]
                .groupby(key)[cur]
                .agg(lambda c: c.iloc[0] if c.nunique() == 1 else "mixed")
            )
            t.insert(1, "currency", t[key].map(currencies).fillna(""))
            at = t.columns.get_loc("sell_0")
            for m in _MONEY:
                limbs = [t.pop(f"{m}_{k}").to_numpy() for k in range(3)]
                total = [from_scaled(v) for v in join_limbs(*limbs)]
                t.insert(at, {"sell": "sell_total", "buy": "buy_total"}.get(m, m), total)
                at += 1
            t["minutes"] = [_ratio(int(s), 60) for s in t["seconds"]]
            if name == "carrier":
                t["asr_percent"] = [
                    _ratio(100 * int(a), int(c))
                    for a, c in zip(t["answered"], t["calls"], strict=True)
                ]
                t["acd_minutes"] = [
                    _ratio(int(s), 60 * int(a))
                    for s, a in zip(t["seconds"], t["answered"], strict=True)
                ]
            out[name] = t
        return out

    def write(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Write ``by_<report>.csv`` and ``by_<report>.parquet`` into ``directory``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        written = []
        for name, t in self.tables().items():
            csv_path = d / f"by_{name}.csv"
            # Text cells neutralised first, while money is still Decimal (a negative
            # margin stays a number), then money written plainly, never an exponent.
            text = _csv_text_safe(t)
            for col in _MONEY_COLUMNS:
                text[col] = [format_money(v) for v in t[col]]
            text.to_csv(csv_path, index=False)
            arrow = pa.Table.from_pandas(t, preserve_index=False)
            for col in _MONEY_COLUMNS:
                k = arrow.schema.get_field_index(col)
                arrow = arrow.set_column(k, col, pa.array(t[col].tolist(), AMOUNT_TYPE))
            pq_path = d / f"by_{name}.parquet"
            import pyarrow.parquet as pq

            pq.write_table(arrow, pq_path)
            written += [csv_path, pq_path]
        return written

    def render(self, console: Console | None = None) -> None:
        """Print the per-carrier table (calls, minutes, ASR, ACD, cost) with rich."""
        from rich.console import Console
        from rich.table import Table

        if console is None:
            console = Console()
            if not console.is_terminal:  # a file or a pipe: no screen width to fit
                console = Console(width=max(console.width, 200))
        t = self.tables()["carrier"]
        table = Table(title="Per carrier")
        for head in ("carrier", "cur", "calls", "minutes", "ASR %", "ACD min", "buy", "sell",
                     "margin"):  # fmt: skip
            # a narrow screen folds a number onto two lines rather than eliding digits
            table.add_column(
                head, justify="left" if head in ("carrier", "cur") else "right", overflow="fold"
            )
        for rec in t.itertuples(index=False):
            table.add_row(
                rec.carrier or "(none)",
                rec.currency or "-",
                str(rec.calls),
                str(rec.minutes),
                str(rec.asr_percent),
                str(rec.acd_minutes),
                format_money(rec.buy_total),
                format_money(rec.sell_total),
                format_money(rec.margin),
            )
        console.print(table)


def _csv_text_safe(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its text cells (names, currencies, days) safe to open in a
    spreadsheet: a cell that would start a formula gets a leading quote
    (:func:`tandem.csvcells.neutralise_cell`). Number cells, e.g. a negative margin, are
    left as they are; the Parquet reports keep the names verbatim."""
    import pandas as pd

    out = table.copy(deep=False)
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column].dtype):
            out[column] = [neutralise_cell(v) if isinstance(v, str) else v for v in out[column]]
    return out


def _ratio(num: int, den: int) -> Decimal | None:
    if den == 0:
        return None
    return (Decimal(num) / Decimal(den)).quantize(Decimal("0.01"))
