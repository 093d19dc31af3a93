"""The CDR warehouse: rated CDRs in the store's database (table ``rated_cdrs``).

``tandem rate ... --to-db`` loads the rated CDRs it wrote into ``rated_cdrs``, one
transaction per run: every row or none. A CDR is identified by its id and its start, and
each row is keyed by ``(cdr_id, start_epoch, leg)``:

* ``cdr_id`` is the CDR's call id (``uniqueid``, ``uuid``, ``Call-ID``) where it has one,
  else ``h:`` and a 64-bit digest of its start, number, customer, carrier and duration;
* ``leg`` numbers the CDRs of one load with the same id and start (0, 1, ...), in their
  order in the source, so that a CDR written twice is two rows, as in the rated file.

A load first deletes every row with an id and start it carries (and, for a rerated
period, every row that started in the period), then inserts its rows: loading the same
CDRs again leaves the table as it was, and rerating a period replaces that period's rows
and nothing else (two CDRs of one call on either side of the period's edge included).

Money columns (``sell_amount``, ``buy_amount``, ``margin``) hold scaled integers
(:data:`tandem.money.SCALE` = 9 decimals) like every money column of the store; an amount
whose scaled value does not fit 64 bits (above about 9.2 × 10⁹ currency units for one
call) is refused with the CDR's record number. On PostgreSQL the rows travel with
``COPY``, on SQLite with batched inserts, through a temporary staging table.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import text
from sqlalchemy.engine import Connection

from tandem.errors import StoreError
from tandem.money import SCALE
from tandem.store.dialect import driver_connection
from tandem.store.models import RatedCdrRow

__all__ = ["WAREHOUSE_COLUMNS", "WarehouseLoad", "load_rated", "warehouse_rows"]

#: The columns of ``rated_cdrs`` a load writes, in table order after ``cdr_id, leg``.
WAREHOUSE_COLUMNS: tuple[str, ...] = (
    "start", "start_epoch", "duration", "number", "rated_number", "customer", "carrier",
    "call_id", "disposition",
    "sell_prefix", "sell_destination", "sell_billed_seconds", "sell_amount", "sell_currency",
    "buy_prefix", "buy_destination", "buy_billed_seconds", "buy_amount", "buy_currency",
    "margin", "source", "record", "loaded_at",
)  # fmt: skip

_MONEY = ("sell_amount", "buy_amount", "margin")
_INTS = ("start_epoch", "duration", "sell_billed_seconds", "buy_billed_seconds", "record")
_STAGE = "tandem_rated_stage"
_STAGED = ("cdr_id",) + WAREHOUSE_COLUMNS


@dataclass(frozen=True)
class WarehouseLoad:
    """What one load did: ``rows`` inserted, ``replaced`` rows deleted first (the earlier
    load of the same CDRs, or of the rerated period)."""

    rows: int
    replaced: int


def _scaled(col: pa.ChunkedArray | pa.Array, name: str, record: np.ndarray) -> pa.Array:
    """A decimal column as int64 scaled integers (exact: the decimal's own unscaled value
    at scale 9); refuses a value that does not fit 64 bits."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_integer(arr.type):
        return arr.cast(pa.int64())
    if not pa.types.is_decimal(arr.type):
        raise StoreError(f"rated column {name} is {arr.type}, not a decimal amount")
    if arr.type.scale != SCALE or arr.type.bit_width != 128:
        arr = arr.cast(pa.decimal128(38, SCALE))
    n = len(arr)
    words = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=2 * (arr.offset + n))
    words = words[2 * arr.offset :]
    low, high = words[0::2], words[1::2]
    valid = np.ones(n, bool) if arr.null_count == 0 else arr.is_valid().to_numpy(False)
    bad = valid & (high != (low >> 63))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise StoreError(
            f"CDR record {int(record[i])}: {name} {arr[i].as_py()} is too large for the "
            "warehouse (scaled money is a 64-bit integer: at most about 9.2e9 per call)"
        )
    return pa.array(low.copy(), pa.int64(), mask=~valid if arr.null_count else None)


def _texts(table: pa.Table, name: str) -> pa.Array:
    if name not in table.column_names:
        return pa.nulls(table.num_rows, pa.string())
    col = table.column(name)
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    return col.cast(pa.string()).combine_chunks()


def _cdr_ids(table: pa.Table, call_id: pa.Array) -> pa.Array:
    """The call id, else ``h:`` and a digest of start, number, customer, carrier, duration."""
    missing = pc.or_kleene(pc.is_null(call_id), pc.equal(call_id, "")).fill_null(True)
    if not pc.any(missing).as_py():
        return call_id
    import pandas as pd

    parts = [
        table.column("start_epoch").cast(pa.string()),
        _texts(table, "number"),
        _texts(table, "customer"),
        _texts(table, "carrier"),
        table.column("duration").cast(pa.string()),
    ]
    joined = pc.binary_join_element_wise(*[pc.fill_null(p, "") for p in parts], "\x1f")
    digest = pd.util.hash_array(np.asarray(joined.to_numpy(zero_copy_only=False), dtype=object))
    hashed = pa.array([f"h:{d:016x}" for d in digest.tolist()], pa.string())
    return pc.if_else(missing, hashed, call_id)


def warehouse_rows(rated: pa.Table, *, source: str, loaded_at: int | None = None) -> pa.Table:
    """The staged rows (``cdr_id`` and :data:`WAREHOUSE_COLUMNS`) of a rated table (the
    rated Parquet file's columns)."""
    if rated.num_rows and "start_epoch" not in rated.column_names:
        raise StoreError("not a rated CDR table: it has no start_epoch column")
    n = rated.num_rows
    record = rated.column("record").to_numpy() if n else np.zeros(0, np.int64)
    when = int(time.time()) if loaded_at is None else loaded_at
    call_id = _texts(rated, "call_id")
    cols: dict[str, Any] = {"cdr_id": _cdr_ids(rated, call_id) if n else pa.array([], pa.string())}
    for name in WAREHOUSE_COLUMNS:
        if name == "start":
            start = rated.column("start_epoch").cast(pa.int64())
            utc = start.cast(pa.timestamp("s")).cast(pa.timestamp("us", tz="UTC"))
            cols[name] = pc.strftime(utc, "%Y-%m-%d %H:%M:%S")
        elif name in _MONEY:
            cols[name] = _scaled(rated.column(name), name, record)
        elif name in _INTS:
            cols[name] = rated.column(name).cast(pa.int64())
        elif name == "source":
            cols[name] = pa.array([source] * n, pa.string())
        elif name == "loaded_at":
            cols[name] = pa.array(np.full(n, when, np.int64))
        elif name == "call_id":
            cols[name] = call_id
        else:
            cols[name] = _texts(rated, name)
    return pa.table(cols)


def _create_stage(conn: Connection) -> None:
    """The temporary staging table: ``seq`` (the load's row order) and the staged columns,
    typed as ``rated_cdrs`` types them."""
    types = {c.name: c.type for c in RatedCdrRow.__table__.columns}
    ddl = ", ".join(f"{c} {types[c].compile(conn.dialect)}" for c in _STAGED)
    conn.execute(text(f"DROP TABLE IF EXISTS {_STAGE}"))
    conn.execute(text(f"CREATE TEMPORARY TABLE {_STAGE} (seq BIGINT, {ddl})"))


def _stage_postgres(conn: Connection, rows: pa.Table, seq0: int) -> None:
    import pyarrow.csv as pacsv

    staged = rows.add_column(0, "seq", pa.array(np.arange(seq0, seq0 + rows.num_rows)))
    buf = io.BytesIO()
    pacsv.write_csv(staged, buf, pacsv.WriteOptions(include_header=False))
    cols = ", ".join(("seq",) + _STAGED)
    raw = driver_connection(conn)
    with raw.cursor() as cur, cur.copy(f"COPY {_STAGE} ({cols}) FROM STDIN (FORMAT csv)") as cp:
        cp.write(buf.getbuffer())


def _stage_sqlite(conn: Connection, rows: pa.Table, seq0: int) -> None:
    columns = [range(seq0, seq0 + rows.num_rows)] + [rows.column(c).to_pylist() for c in _STAGED]
    marks = ", ".join("?" * (len(_STAGED) + 1))
    sql = f"INSERT INTO {_STAGE} (seq, {', '.join(_STAGED)}) VALUES ({marks})"
    driver_connection(conn).executemany(sql, zip(*columns, strict=True))


def load_rated(
    conn: Connection,
    batches: Iterable[pa.Table],
    *,
    source: str,
    period: tuple[int, int] | None = None,
) -> WarehouseLoad:
    """Load rated tables (batches of one run, in source order) into ``rated_cdrs`` within
    ``conn``'s transaction: rows of the same CDRs (id and start) are replaced. With ``period=(from,
    until)`` (UTC epoch seconds) only the batches' rows that started in it are loaded, and
    every row of the table that started in it is replaced."""
    _create_stage(conn)
    if conn.dialect.name == "postgresql":  # the staged start times are UTC wall clock
        conn.execute(text("SET LOCAL TIME ZONE 'UTC'"))
    stage = _stage_postgres if conn.dialect.name == "postgresql" else _stage_sqlite
    loaded_at = int(time.time())
    seq = 0
    for batch in batches:
        if period is not None and batch.num_rows:
            start = batch.column("start_epoch")
            inside = pc.and_(pc.greater_equal(start, period[0]), pc.less(start, period[1]))
            batch = batch.filter(pc.fill_null(inside, False))
        if batch.num_rows:
            stage(conn, warehouse_rows(batch, source=source, loaded_at=loaded_at), seq)
            seq += batch.num_rows
    conn.execute(text(f"CREATE INDEX {_STAGE}_id ON {_STAGE} (cdr_id, start_epoch)"))
    replaced = 0
    if period is not None:
        replaced += conn.execute(
            text("DELETE FROM rated_cdrs WHERE start_epoch >= :a AND start_epoch < :b"),
            {"a": period[0], "b": period[1]},
        ).rowcount
    replaced += conn.execute(
        text(
            f"DELETE FROM rated_cdrs WHERE EXISTS (SELECT 1 FROM {_STAGE} s WHERE "
            "s.cdr_id = rated_cdrs.cdr_id AND s.start_epoch = rated_cdrs.start_epoch)"
        )
    ).rowcount
    cols = ", ".join(WAREHOUSE_COLUMNS)
    conn.execute(
        text(
            f"INSERT INTO rated_cdrs (cdr_id, leg, {cols}) SELECT cdr_id, ROW_NUMBER() "
            f"OVER (PARTITION BY cdr_id, start_epoch ORDER BY seq) - 1, {cols} FROM {_STAGE}"
        )
    )
    conn.execute(text(f"DROP TABLE {_STAGE}"))
    return WarehouseLoad(rows=seq, replaced=max(replaced, 0))
