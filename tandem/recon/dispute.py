"""The dispute file: the lines of a reconciliation an operator sends the vendor.

One row per disputed line (every class but ``exact`` and ``within_tolerance``,
:meth:`tandem.recon.Reconciliation.disputes`), in the columns of :data:`DISPUTE_COLUMNS`:
the vendor's record and line in its own file, the call id, the number, both sides'
start (UTC, ISO 8601), duration, rate and amount, the amount disputed and why. Written as
CSV (money as plain exact decimals, text cells that would start a spreadsheet formula
quoted by :func:`tandem.csvcells.neutralise_cell`) or XLSX (openpyxl; a ``summary``
sheet with the count and disputed amount per class, then the ``disputes`` sheet, money
as exact decimal numbers). Either file is written whole or not at all
(:func:`tandem.files.atomic_write`).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from tandem.csvcells import neutralise_cell
from tandem.errors import ConfigError
from tandem.files import atomic_write
from tandem.money import format_money

if TYPE_CHECKING:
    from tandem.recon.reconcile import Reconciliation

__all__ = ["DISPUTE_COLUMNS", "dispute_rows", "write_dispute"]

#: The dispute file's columns, in order.
DISPUTE_COLUMNS = (
    "class", "their_record", "their_line", "call_id", "number", "their_number",
    "their_start", "their_duration", "their_rate", "their_amount",
    "our_start", "our_duration", "deck_rate", "our_amount", "disputed", "note",
)  # fmt: skip
_MONEY = ("their_rate", "their_amount", "deck_rate", "our_amount", "disputed")
_TIMES = ("their_start", "our_start")
#: Columns of free text (what a vendor wrote): quoted when they would start a formula.
_TEXT = ("class", "call_id", "number", "their_number", "note")
#: XLSX sheets hold at most 1,048,576 rows: longer disputes go on to further sheets.
_SHEET_ROWS = 1_000_000


def _column_text(table: pa.Table, name: str) -> list[str | None]:
    col = table.column(name)
    if name in _TIMES:
        col = pc.strftime(col, format="%Y-%m-%dT%H:%M:%SZ")
    elif name in _MONEY:
        return [None if v is None else format_money(v) for v in col.to_pylist()]
    elif not pa.types.is_string(col.type):
        col = pc.cast(col, pa.string())
    return col.to_pylist()


def dispute_rows(recon: Reconciliation, limit: int | None = None) -> Iterator[list[str]]:
    """The dispute file's rows as text (header first; money exact, empty for none); the
    first ``limit`` only when given."""
    table = recon.disputes()
    if limit is not None:
        table = table.slice(0, limit)
    columns = [_column_text(table, name) for name in DISPUTE_COLUMNS]
    yield list(DISPUTE_COLUMNS)
    for row in zip(*columns, strict=True):
        yield ["" if v is None else v for v in row]


def _write_csv(recon: Reconciliation, path: Path) -> None:
    with atomic_write(path, "w", newline="") as fh:
        out = csv.writer(fh)
        text = [i for i, c in enumerate(DISPUTE_COLUMNS) if c in _TEXT]
        for row in dispute_rows(recon):
            for i in text:
                row[i] = neutralise_cell(row[i])
            out.writerow(row)


def _write_xlsx(recon: Reconciliation, path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    summary = book.create_sheet("summary")
    summary.append(["carrier", neutralise_cell(recon.carrier)])
    summary.append(["our CDRs", recon.ours])
    summary.append(["vendor CDRs", recon.theirs])
    summary.append([])
    summary.append(["class", "lines", "disputed"])
    counts, amounts = recon.counts(), recon.disputed_scaled()
    for name, count in counts.items():
        summary.append([name, count, Decimal(format_money(amounts[name]))])
    rows = dispute_rows(recon)
    header = next(rows)
    money = {DISPUTE_COLUMNS.index(c) for c in _MONEY}
    whole = {DISPUTE_COLUMNS.index(c) for c in ("their_record", "their_line")}
    whole |= {DISPUTE_COLUMNS.index(c) for c in ("their_duration", "our_duration")}
    sheet = None
    for done, row in enumerate(rows):
        if sheet is None or done % _SHEET_ROWS == 0:
            sheet = book.create_sheet(
                "disputes" if done == 0 else f"disputes{done // _SHEET_ROWS + 1}"
            )
            sheet.append(header)
        cells: list[object] = []
        for i, v in enumerate(row):
            if v == "":
                cells.append(None)
            elif i in money:
                cells.append(Decimal(v))
            elif i in whole:
                cells.append(int(v))
            elif DISPUTE_COLUMNS[i] in _TEXT:
                cells.append(neutralise_cell(v))
            else:
                cells.append(v)
        sheet.append(cells)
    if sheet is None:
        book.create_sheet("disputes").append(header)
    with atomic_write(path, "wb") as fh:
        book.save(fh)


def write_dispute(recon: Reconciliation, path: str | os.PathLike[str]) -> Path:
    """Write the dispute file at ``path``: CSV or XLSX by its suffix (``.csv``,
    ``.xlsx``). Returns the path written."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        _write_csv(recon, p)
    elif suffix == ".xlsx":
        _write_xlsx(recon, p)
    else:
        raise ConfigError(
            f"dispute file {os.fspath(p)!r}: name it .csv or .xlsx (the format is its suffix)"
        )
    return p
