"""CDRs from a SQL query (``tandem rate --query``): e.g. Kamailio's ``acc_cdrs`` table.

The query's rows (:func:`tandem.store.query.query_rows`, in batches) are written to a
Parquet file of text columns, every value as its text (a time as ISO 8601, read in
``--timezone`` when it has no offset, like a CSV file's), so that the same CDR reader
(:class:`tandem.rating.cdr.CdrReader`, with ``--map-column``) prices them as it prices a
CSV file with the same columns.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tandem.errors import CdrError
from tandem.store.query import query_rows

__all__ = ["query_cdrs"]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def query_cdrs(
    db: str | os.PathLike[str],
    sql: str,
    dest: str | os.PathLike[str],
    *,
    batch_size: int = 100_000,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Run ``sql`` on ``db`` (a URL, or a SQLite file's path) and write its rows to the
    Parquet file ``dest`` (text columns named as the query names them); return the row
    count. Raises :class:`CdrError` (one line, the URL masked) when the query cannot run."""
    rows = 0
    writer: pq.ParquetWriter | None = None
    try:
        for names, chunk in query_rows(db, sql, batch_size=batch_size):
            schema = pa.schema([(n, pa.string()) for n in names])
            if writer is None:
                writer = pq.ParquetWriter(Path(dest), schema)
            columns = list(zip(*chunk, strict=True)) if chunk else [() for _ in names]
            table = pa.table(
                [pa.array([_text(v) for v in col], pa.string()) for col in columns],
                schema=schema,
            )
            writer.write_table(table)
            rows += table.num_rows
            if on_batch is not None and table.num_rows:
                on_batch(table.num_rows)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise CdrError("--query returned no columns")
    return rows
