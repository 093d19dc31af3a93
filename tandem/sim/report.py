"""``tandem simulate --report DIR``: the simulation's tables as CSV and Parquet, and one
HTML page (:class:`tandem.htmlreport.ReportPage`) with its charts.

Files: ``by_carrier``, ``by_destination``, ``over_time``, ``blocked`` and, for a what-if,
``whatif`` (``.csv`` and ``.parquet`` each), and ``simulation.html``. Every table is built
from the ``--json`` object itself, so the CSV cells, the page's cells and the JSON hold the
same exact strings; Parquet holds money as exact ``decimal128(38, 9)`` and minutes as
``decimal128(18, 2)``.

The page: the totals, traffic share per carrier over time (a line chart), margin by
destination (a bar chart of the :data:`CHART_BARS` largest), the per-carrier and
per-destination tables, why calls were not carried, and for a what-if the destinations
whose cost, carrier or margin change most.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tandem.files import atomic_write
from tandem.rating.amounts import AMOUNT_TYPE

__all__ = ["write_report", "REPORT_PAGE", "CHART_BARS"]

#: The HTML page's file name in the report directory.
REPORT_PAGE = "simulation.html"
#: Bars drawn at most in a bar chart (the largest values; every row is in the tables).
CHART_BARS = 30
_MONEY_SUFFIXES = ("cost", "revenue", "margin", "_delta")


def _is_money(column: str) -> bool:
    return column.endswith(_MONEY_SUFFIXES)


def _csv_safe(value: Any) -> Any:
    """Text a spreadsheet would read as a formula gets a leading quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") and not _number(value):
        return "'" + value
    return value


def _number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def _write_table(directory: Path, name: str, frame: pd.DataFrame) -> list[Path]:
    csv_path = directory / f"{name}.csv"
    with atomic_write(csv_path) as fh:
        frame.map(_csv_safe).to_csv(fh, index=False)
    arrays = {}
    for col in frame.columns:
        values = frame[col].tolist()
        if _is_money(col):
            arrays[col] = pa.array([Decimal(v) for v in values], AMOUNT_TYPE)
        elif col == "minutes":
            arrays[col] = pa.array([Decimal(v) for v in values], pa.decimal128(18, 2))
        elif col == "share":
            arrays[col] = pa.array([Decimal(v) for v in values], pa.decimal128(9, 4))
        elif frame[col].dtype.kind in "iu":
            arrays[col] = pa.array(values, pa.int64())
        else:
            arrays[col] = pa.array([str(v) for v in values], pa.string())
    pq_path = directory / f"{name}.parquet"
    tmp = pq_path.with_name(pq_path.name + ".tmp")
    pq.write_table(pa.table(arrays) if arrays else pa.table({}), tmp)
    os.replace(tmp, pq_path)
    return [csv_path, pq_path]


def _largest(frame: pd.DataFrame, column: str, count: int) -> pd.DataFrame:
    """The ``count`` rows of ``frame`` with the largest ``column`` in absolute value (exact
    decimal strings), largest first."""
    if frame.empty:
        return frame
    size = frame[column].map(lambda v: abs(Decimal(v)))
    order = sorted(range(len(frame)), key=lambda i: (-size.iloc[i], i))[:count]
    return frame.iloc[order].reset_index(drop=True)


def _frame(records: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(records, columns=columns) if records else pd.DataFrame(columns=columns)


def write_report(directory: str | os.PathLike[str], result: dict[str, Any]) -> list[Path]:
    """Write the report files of a ``--json`` result into ``directory``; return them."""
    from tandem.htmlreport import ReportPage

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    carrier_cols = ["carrier", "offered", "carried", "failovers", "minutes", "cost", "revenue",
                    "margin"]  # fmt: skip
    dest_cols = ["destination", "name", "offered", "carried", "failovers", "blocked", "carrier",
                 "minutes", "cost", "revenue", "margin"]  # fmt: skip
    time_cols = ["time", "carrier", "offered", "carried", "share", "minutes", "cost", "revenue",
                 "margin"]  # fmt: skip
    by_carrier = _frame(result["by_carrier"], carrier_cols)
    by_dest = _frame(result["by_destination"], dest_cols)
    over_time = _frame(result["over_time"], time_cols)
    blocked = pd.DataFrame(
        {"reason": list(result["blocked"]), "calls": list(result["blocked"].values())}
    )
    totals = pd.DataFrame(
        [{"calls": result["calls"], "carried": result["carried"],
          "unanswered": result["unanswered"], **result["totals"]}]
    )  # fmt: skip
    written = []
    for name, frame in (
        ("by_carrier", by_carrier),
        ("by_destination", by_dest),
        ("over_time", over_time),
        ("blocked", blocked),
    ):
        written += _write_table(d, name, frame)
    whatif = result.get("whatif")
    what_frame = None
    if whatif is not None:
        what_frame = pd.DataFrame(whatif["destinations"])
        if len(what_frame):
            written += _write_table(d, "whatif", what_frame)

    page = ReportPage(
        "Tandem simulation",
        f"{result['calls']} calls replayed; currency {', '.join(result['currency']) or '-'}",
    )
    page.table("Totals", totals, "totals")
    page.heading("Traffic share per carrier over time")
    page.line_chart(
        "Share of carried calls per carrier", over_time, "time", "carrier", "share", "share"
    )
    page.heading("Margin by destination")
    top = _largest(by_dest, "margin", CHART_BARS)
    page.bar_chart(
        f"Margin per destination (sell prefix): the {len(top)} largest of {len(by_dest)}",
        top, "destination", "margin", "margin_by_destination",
    )  # fmt: skip
    page.heading("Per carrier")
    page.table("Per carrier", by_carrier, "by_carrier")
    page.heading("Per destination")
    page.table("Per destination", by_dest, "by_destination")
    page.heading("Calls not carried")
    page.table("Blocked or failed calls by reason", blocked, "blocked")
    if whatif is not None:
        page.heading("What-if: current against candidate")
        page.paragraph(
            f"{whatif['changed_destinations']} destination(s) change; listed: "
            f"{len(whatif['destinations'])}, largest margin change first."
        )
        totals_cmp = pd.DataFrame(
            [{"tables": k, **whatif[k]} for k in ("base", "candidate")]
            + [{"tables": "delta", "minutes": "", **whatif["delta"]}]
        )
        page.table("Totals under both", totals_cmp, "whatif_totals")
        if what_frame is not None and len(what_frame):
            top = _largest(what_frame, "margin_delta", CHART_BARS)
            page.bar_chart(
                f"Margin change per destination: the {len(top)} largest", top, "destination",
                "margin_delta", "whatif_margin",
            )  # fmt: skip
            page.table("Destinations that change", what_frame, "whatif")
    written.append(page.write(d / REPORT_PAGE))
    return written
