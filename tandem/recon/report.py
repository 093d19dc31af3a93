"""``--report DIR`` of ``tandem reconcile``: the tables and one HTML page.

Written into ``DIR``:

* ``classes.csv`` / ``classes.parquet``: per class, the lines and the disputed amount
  (exact: text in the CSV, ``decimal128(38, 9)`` in Parquet);
* ``lines.parquet``: every line of the reconciliation (:func:`tandem.recon.classify.classify`);
* ``dispute.csv`` / ``dispute.xlsx``: the dispute file (:mod:`tandem.recon.dispute`);
* ``reconciliation.html``: one self-contained page (:class:`tandem.htmlreport.ReportPage`)
  with the counts, the classes chart (lines per class), the disputed amount per class
  chart, their tables and the first disputed lines.

Every file is written whole or not at all.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tandem.errors import OutputError
from tandem.files import atomic_write
from tandem.htmlreport import ReportPage
from tandem.money import format_money
from tandem.recon.dispute import DISPUTE_COLUMNS, dispute_rows, write_dispute
from tandem.recon.reconcile import Reconciliation

__all__ = ["PAGE_NAME", "classes_frame", "write_report"]

#: The HTML page's file name in the report directory.
PAGE_NAME = "reconciliation.html"
#: Disputed lines shown on the page (all of them are in the dispute file).
_PAGE_LINES = 200


def classes_frame(recon: Reconciliation) -> list[dict[str, str | int]]:
    """Rows ``{"class", "lines", "disputed"}`` (disputed as an exact decimal string)."""
    counts, amounts = recon.counts(), recon.disputed_scaled()
    return [
        {"class": name, "lines": counts[name], "disputed": format_money(amounts[name])}
        for name in counts
    ]


def _write_parquet(table: pa.Table, path: Path) -> None:
    with atomic_write(path, "wb") as fh:
        pq.write_table(table, fh)


def write_report(recon: Reconciliation, directory: str | os.PathLike[str]) -> list[Path]:
    """Write the report files (module docstring) into ``directory``; return their paths."""
    import pandas as pd

    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise OutputError(f"--report {os.fspath(d)!r} is a file, not a directory")
    d.mkdir(parents=True, exist_ok=True)
    rows = classes_frame(recon)
    frame = pd.DataFrame(rows, columns=["class", "lines", "disputed"])
    written = []
    with atomic_write(d / "classes.csv", "w", newline="") as fh:
        frame.to_csv(fh, index=False)
    written.append(d / "classes.csv")
    arrow = pa.table(
        {
            "class": pa.array([r["class"] for r in rows], pa.string()),
            "lines": pa.array([r["lines"] for r in rows], pa.int64()),
            "disputed": pa.array([Decimal(str(r["disputed"])) for r in rows], pa.decimal128(38, 9)),
        }
    )
    _write_parquet(arrow, d / "classes.parquet")
    _write_parquet(recon.lines, d / "lines.parquet")
    written += [d / "classes.parquet", d / "lines.parquet"]
    written += [write_dispute(recon, d / "dispute.csv"), write_dispute(recon, d / "dispute.xlsx")]
    written.append(_page(recon, frame).write(d / PAGE_NAME))
    return written


def _page(recon: Reconciliation, frame: object) -> ReportPage:
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    page = ReportPage(
        f"Reconciliation with {recon.carrier}",
        f"{recon.ours} CDRs of ours, {recon.theirs} of the vendor's",
    )
    page.paragraph(
        "Disputed: what the vendor bills minus what our records and our buy deck say "
        "(positive: the vendor over-bills). Every class sums to the vendor's total minus ours."
    )
    page.table("Classes", frame, key="summary")
    page.bar_chart("Lines per class", frame, "class", "lines", key="classes")
    page.bar_chart("Disputed amount per class", frame, "class", "disputed", key="disputed")
    rows = dispute_rows(recon, limit=_PAGE_LINES)
    header = next(rows)
    shown = list(rows)
    total = sum(int(n) for n in frame["lines"]) - int(
        frame.loc[frame["class"].isin(["exact", "within_tolerance"]), "lines"].sum()
    )
    page.heading("Disputed lines")
    page.paragraph(
        f"{len(shown)} of {total} disputed lines shown; all of them are in dispute.csv "
        "and dispute.xlsx beside this page."
    )
    keep = ["class", "their_record", "call_id", "number", "their_start", "their_duration",
            "our_duration", "their_rate", "deck_rate", "their_amount", "our_amount",
            "disputed", "note"]  # fmt: skip
    at = [DISPUTE_COLUMNS.index(c) for c in keep]
    lines = pd.DataFrame([[r[i] for i in at] for r in shown], columns=keep)
    assert header == list(DISPUTE_COLUMNS)
    page.table("Disputed lines", lines, key="disputes")
    return page
