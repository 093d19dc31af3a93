"""CDRs from a SQL query (``tandem rate --query``): e.g. Kamailio's ``acc_cdrs`` table.

The query's rows are fetched in batches (a server-side cursor on PostgreSQL) and written
to a Parquet file of text columns, every value as its text (a time as ISO 8601, read in
``--timezone`` when it has no offset, like a CSV file's), so that the same CDR reader
(:class:`tandem.rating.cdr.CdrReader`, with ``--map-column``) prices them as it prices a
CSV file with the same columns. Errors are one line, the database URL without password.
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
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from tandem.errors import CdrError
from tandem.store import database_url
from tandem.store.safety import describe_db_error, masked_url, scrub, url_secrets

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
    url: str,
    sql: str,
    dest: str | os.PathLike[str],
    *,
    batch_size: int = 100_000,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Run ``sql`` on the database at ``url`` (a URL, or a SQLite file's path) and write
    its rows to the Parquet file ``dest`` (text columns named as the query names them);
    return the row count.
    Raises :class:`CdrError` for a database that cannot be reached or a query that
    fails, naming the database by its masked URL."""
    url = database_url(url)
    secrets = url_secrets(url)
    shown = masked_url(url)
    try:
        engine = create_engine(url, future=True)
    except (SQLAlchemyError, ImportError, ValueError, TypeError) as exc:
        reason = scrub(describe_db_error(exc, secrets), secrets)
        raise CdrError(f"cannot open the CDR database {shown!r}: {reason}") from None
    rows = 0
    writer: pq.ParquetWriter | None = None
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(text(sql))
            if not result.returns_rows:
                raise CdrError("--query returned no rows: give a SELECT")
            names = [str(k) for k in result.keys()]  # noqa: SIM118 - a Result, not a dict
            if len(set(names)) != len(names):
                raise CdrError(f"--query names a column twice: {', '.join(names)}")
            schema = pa.schema([(n, pa.string()) for n in names])
            writer = pq.ParquetWriter(Path(dest), schema)
            while chunk := result.fetchmany(batch_size):
                columns = list(zip(*chunk, strict=True))
                table = pa.table(
                    [pa.array([_text(v) for v in col], pa.string()) for col in columns],
                    schema=schema,
                )
                writer.write_table(table)
                rows += table.num_rows
                if on_batch is not None:
                    on_batch(table.num_rows)
    except SQLAlchemyError as exc:
        reason = scrub(describe_db_error(exc, secrets), secrets)
        raise CdrError(f"--query failed on {shown!r}: {reason}") from None
    finally:
        if writer is not None:
            writer.close()
        engine.dispose()
    if writer is None:
        raise CdrError("--query returned no columns")
    return rows
