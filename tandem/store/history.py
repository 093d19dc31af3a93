"""An account's stored rate rows, as the deck diff compares with them.

:func:`rate_history` reads the rows with a non-empty validity window (what an import is
compared with), fast enough for a million-code account: the rows travel as comma-joined
text that Arrow splits and parses, instead of a million row tuples through the driver.
On SQLite one ``group_concat`` per field in one query (SQLite steps each aggregate on each
row in turn, and no field is NULL, so the lists stay aligned), on PostgreSQL one
``string_agg`` of whole rows. A prefix holding the separator (never from a parsed deck)
makes the piece count disagree with the row count, and the rows are then fetched one by
one.

:func:`earlier_rows` reads what the versions before one deck version stored, voided rows
included (the version diff takes the earlier versions' codes as they stood).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, text

from tandem.store.columns import OPEN_END
from tandem.store.dialect import account_scan, driver_connection, qmark

__all__ = ["HISTORY_COLUMNS", "empty_history", "rate_history", "earlier_rows"]

#: Columns of the frame :func:`rate_history` returns.
HISTORY_COLUMNS = ("prefix", "rate", "effective_from", "effective_until")


def empty_history(columns: tuple[str, ...] = HISTORY_COLUMNS) -> pd.DataFrame:
    """A frame of ``columns`` with no rows (``prefix`` text, the others int64)."""
    return pd.DataFrame({c: pd.Series(dtype=object if c == "prefix" else "int64") for c in columns})


def rate_history(engine: Engine, account_id: int, since: int | None = None) -> pd.DataFrame:
    """The account's stored rate rows with a non-empty validity window.

    Columns :data:`HISTORY_COLUMNS` (``effective_until`` is :data:`OPEN_END` when open). With
    ``since``, rows that ended before that instant are left out.
    """
    where = (
        "r.account_id = ? AND (r.effective_until IS NULL OR r.effective_until > r.effective_from)"
    )
    params: tuple[int, ...] = (account_id,)
    if since is not None:
        where += " AND (r.effective_until IS NULL OR r.effective_until >= ?)"
        params += (int(since),)
    fields = ("r.prefix", "r.rate", "r.effective_from", "COALESCE(r.effective_until, -1)")
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            aggs = f"string_agg(concat_ws(',', {', '.join(fields)}), ',')"
        else:
            # One aggregate per field: SQLite steps every aggregate of a query on each row
            # in turn, so the four lists stay aligned (no field is NULL, none skipped).
            aggs = ", ".join(f"group_concat({f}, ',')" for f in fields)
        sql = qmark(
            conn,
            f"SELECT COUNT(*), {aggs} FROM rates r{account_scan(conn, account_id)} WHERE {where}",
        )
        rows_sql = qmark(conn, f"SELECT {', '.join(fields)} FROM rates r WHERE {where}")
        cursor = driver_connection(conn).cursor()
        try:
            cursor.execute(sql, params)
            count, *blobs = cursor.fetchone()
            if not count:
                return empty_history()
            columns = _split_fields(blobs, count)
            del blobs
            if columns is None:  # a separator inside a prefix: row by row
                cursor.execute(rows_sql, params)
                rows = cursor.fetchall()
                if not rows:
                    return empty_history()
                columns = [
                    pa.array([str(v) for v in col], pa.large_string())
                    for col in zip(*rows, strict=True)
                ]
                del rows
        finally:
            cursor.close()
    prefix = columns[0].to_numpy(zero_copy_only=False)
    rate, start, until = (
        col.cast(pa.int64()).to_numpy(zero_copy_only=False) for col in columns[1:]
    )
    until = np.where(until < 0, OPEN_END, until)
    return pd.DataFrame(
        {
            "prefix": pd.Series(prefix, dtype=object),
            "rate": rate,
            "effective_from": start,
            "effective_until": until,
        }
    )


def _split_fields(blobs: list[str], count: int) -> list[pa.Array] | None:
    """The four fields of ``count`` rows from comma-joined text (Arrow splits it).

    One blob holds every field of every row in turn, or one blob per field. None when
    the pieces do not come out as ``count`` per field (a prefix holding a comma).
    """
    parts = [pc.split_pattern(pa.array([b], type=pa.large_string()), ",").flatten() for b in blobs]
    if len(parts) == 1:
        if len(parts[0]) != 4 * count:
            return None
        return [
            parts[0].take(pa.array(np.arange(k, 4 * count, 4, dtype=np.int64))) for k in range(4)
        ]
    return parts if all(len(p) == count for p in parts) else None


def earlier_rows(engine: Engine, deck_id: int) -> pd.DataFrame:
    """Every row the versions before deck ``deck_id`` (same account) stored, as stored now.

    Voided rows (an empty window) are included. Columns :data:`HISTORY_COLUMNS` and
    ``version`` (of the deck that stored the row); ``effective_until`` is
    :data:`OPEN_END` when open.
    """
    sql = text(
        "SELECT r.prefix, r.rate, r.effective_from, r.effective_until, d.version "
        "FROM rates r JOIN decks d ON d.id = r.deck_id "
        "JOIN decks latest ON latest.account_id = d.account_id "
        "WHERE latest.id = :deck AND d.version < latest.version"
    )
    with engine.connect() as conn:
        rows = conn.execute(sql, {"deck": deck_id}).fetchall()
    columns = (*HISTORY_COLUMNS, "version")
    if not rows:
        return empty_history(columns)
    prefix, rate, start, until, version = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "prefix": pd.Series(prefix, dtype=object),
            "rate": np.array(rate, dtype=np.int64),
            "effective_from": np.array(start, dtype=np.int64),
            "effective_until": pd.array(until, dtype="Int64").to_numpy(
                dtype=np.int64, na_value=OPEN_END
            ),
            "version": np.array(version, dtype=np.int64),
        }
    )
