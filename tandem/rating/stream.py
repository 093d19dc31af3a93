"""Rating files larger than memory: Arrow record batches in, Parquet files out.

:func:`rate_file` reads a CDR file batch by batch (:class:`tandem.rating.cdr.CdrReader`),
prices each batch (:meth:`tandem.rating.price.Rater.price`), and appends the rated and
unrated rows to two Parquet files; memory stays constant whatever the file size.

Memory stays flat as the file grows: the Parquet reader does not pre-buffer (its read
cache would keep every row group read so far), at most one batch is being written while the
next is priced, and after each batch the memory allocators are asked to hand freed pages back
to the system (:func:`release_memory`), so that fragmentation does not creep up batch after
batch.

Outputs are written to a temporary file next to the target and renamed over it when the
run completes, so rerating the same CDRs replaces the earlier results whole (idempotent)
and a failed run leaves the earlier results untouched.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tandem.errors import CdrError
from tandem.instant import InstantLike, format_instant, parse_instant
from tandem.rating.cdr import CdrReader
from tandem.rating.price import PortLookup, Rater, RatingSummary, split_rated
from tandem.rating.report import RatingReport

__all__ = ["rate_file", "default_unrated_path", "release_memory"]


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None on other C libraries."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def release_memory() -> None:
    """Hand memory freed since the last call back to the system: Arrow's pool
    (``release_unused``) and, with glibc, the C heap (``malloc_trim``), where numpy's
    temporaries live. A few milliseconds; called between streamed batches."""
    pa.default_memory_pool().release_unused()
    if _TRIM is not None:
        _TRIM(0)


def default_unrated_path(output: str | os.PathLike[str]) -> Path:
    """Where unrated CDRs go by default: ``rated.parquet`` → ``rated.unrated.parquet``."""
    p = Path(output)
    return p.with_name(p.stem + ".unrated" + (p.suffix or ".parquet"))


class _AtomicParquet:
    """A Parquet writer that aligns every batch to the first one's schema and renames its
    temporary file over the target only on :meth:`commit`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.writer: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.schema = table.schema
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(
                self.tmp,
                self.schema,
                compression=COMPRESSION,
                write_statistics=_statistics_columns(self.schema),
                use_dictionary=_dictionary_columns(self.schema),
                column_encoding=_delta_columns(self.schema),
            )
        else:
            table = _align(table, self.schema)
        self.writer.write_table(_compact_dictionaries(table))

    def commit(self, empty_schema: pa.Schema) -> None:
        if self.writer is None:
            self.schema = empty_schema
            self.path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(empty_schema.empty_table(), self.tmp)
        else:
            self.writer.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.tmp.exists():
            self.tmp.unlink()


#: Parquet compression of rated/unrated files: LZ4 encodes about twice as fast as Snappy
#: here for files about 6 % larger (every current Parquet reader decodes it).
COMPRESSION = "lz4"


def _statistics_columns(schema: pa.Schema) -> list[str]:
    """Columns that get Parquet min/max statistics: the plain integer and time ones
    (``record``, ``start``, ``duration``, billed seconds), which readers filter on and which
    cost little. Statistics of the text, dictionary and decimal columns would cost about a
    third of the write time and filter nothing useful."""
    return [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_timestamp(f.type)]


#: Integer columns with few distinct values, which Parquet dictionary encoding shrinks.
_FEW_VALUES = ("duration", "sell_billed_seconds", "buy_billed_seconds")


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    """Columns written with Parquet dictionary encoding: the Arrow dictionary ones (account,
    prefix, destination, currency, reason) and :data:`_FEW_VALUES`. Trying a dictionary on
    the near-unique columns (record, start, numbers, amounts) costs a quarter of the write
    time and then falls back to plain encoding anyway."""
    return [f.name for f in schema if pa.types.is_dictionary(f.type) or f.name in _FEW_VALUES]


def _delta_columns(schema: pa.Schema) -> dict[str, str]:
    """``record`` and ``start`` (integers that mostly rise) are delta-encoded: files about
    10 % smaller at the same write speed."""
    return {
        f.name: "DELTA_BINARY_PACKED"
        for f in schema
        if f.name in ("record", "start") and pa.types.is_integer(f.type)
    }


def _compact(chunk: pa.DictionaryArray) -> pa.DictionaryArray:
    """The same values with a dictionary of only the entries ``chunk`` uses (in order)."""
    codes = chunk.indices.fill_null(0).to_numpy(zero_copy_only=False)
    used = np.bincount(codes, minlength=len(chunk.dictionary)) > 0
    remap = (np.cumsum(used) - 1).astype(codes.dtype)
    mask = chunk.is_null().to_numpy(zero_copy_only=False) if chunk.null_count else None
    return pa.DictionaryArray.from_arrays(
        pa.array(remap[codes], type=chunk.indices.type, mask=mask),
        chunk.dictionary.take(pa.array(np.flatnonzero(used))),
    )


def _compact_dictionaries(table: pa.Table) -> pa.Table:
    """Dictionary columns whose dictionary outnumbers the rows (a deck's prefixes against a
    batch of CDRs) get a dictionary of the entries used: it then fits a Parquet dictionary
    page, so the column is written dictionary-encoded instead of falling back to plain."""
    cols = []
    for f, col in zip(table.schema, table.columns, strict=True):
        if pa.types.is_dictionary(f.type) and any(len(c.dictionary) > len(c) for c in col.chunks):
            col = pa.chunked_array(
                [_compact(c) if len(c.dictionary) > len(c) else c for c in col.chunks], f.type
            )
        cols.append(col)
    return pa.Table.from_arrays(cols, schema=table.schema)


def _align(table: pa.Table, schema: pa.Schema) -> pa.Table:
    cols = []
    for f in schema:
        if f.name in table.column_names:
            col = table.column(f.name)
            if col.type != f.type:
                try:
                    col = col.cast(f.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise CdrError(
                        f"column {f.name!r} changes type within the file ({f.type} then "
                        f"{col.type}); give it one type throughout"
                    ) from exc
            cols.append(col)
        else:
            cols.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(cols, schema=schema)


def _in_period(table: pa.Table, period: tuple[int, int]) -> pa.ChunkedArray:
    """Rows whose ``start`` lies in ``[from, until)`` (a missing start lies in none)."""
    start = table.column("start")
    inside = pc.and_(pc.greater_equal(start, period[0]), pc.less(start, period[1]))
    return pc.fill_null(inside, False)


def _keep_outside(out: _AtomicParquet, period: tuple[int, int], amount_type: pa.DataType) -> int:
    """Copy the rows of ``out``'s existing file that lie outside ``period`` into its new
    file (streamed); the number copied."""
    if not out.path.exists():
        return 0
    try:
        earlier = pq.ParquetFile(out.path, pre_buffer=False)
        if "start" not in earlier.schema_arrow.names:
            raise CdrError(f"{out.path.name}: no start column: not a Tandem rating output")
        kept = 0
        for batch in earlier.iter_batches():
            table = pa.Table.from_batches([batch])
            table = _widen_amounts(table.filter(pc.invert(_in_period(table, period))), amount_type)
            if table.num_rows:
                out.write(table)
                kept += table.num_rows
        return kept
    except (OSError, pa.ArrowException) as exc:
        raise CdrError(f"{out.path.name}: cannot read the earlier results: {exc}") from None


def _widen_amounts(table: pa.Table, amount_type: pa.DataType) -> pa.Table:
    """Money columns of an earlier output narrower than ``amount_type`` (the rater's: a
    ``decimal128(19, 9)`` file rerated with rates that need 38 digits) widened to it: the
    output's type is set by the rows written first, and the new rows must fit it."""
    for k, f in enumerate(table.schema):
        if (
            f.name in _AMOUNTS
            and pa.types.is_decimal(f.type)
            and f.type.precision < amount_type.precision
        ):
            table = table.set_column(k, f.name, table.column(k).cast(amount_type))
    return table


_AMOUNTS = ("sell_amount", "buy_amount", "margin")


def rate_file(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    rater: Rater,
    *,
    reader: CdrReader | None = None,
    unrated: str | os.PathLike[str] | None = None,
    report: RatingReport | None = None,
    port_lookup: PortLookup | None = None,
    on_batch: Callable[[int], None] | None = None,
    period: tuple[InstantLike, InstantLike] | None = None,
) -> RatingSummary:
    """Rate ``source`` into ``output`` (rated CDRs) and ``unrated`` (default: see
    :func:`default_unrated_path`), streaming; returns the summary (``rows in == rated +
    unrated`` is checked on every batch).

    With ``period=(from, until)`` (instants, ``until`` excluded) only the CDRs that
    started in the period are rated, and the outputs keep their earlier rows from outside
    it: rerating a period replaces that period's results and nothing else (run twice, the
    files come out the same). CDRs without a start time belong to no period.
    """
    reader = reader or CdrReader()
    bounds = None if period is None else (parse_instant(period[0]), parse_instant(period[1]))
    summary = RatingSummary(period=bounds)
    if bounds is not None and not bounds[0] < bounds[1]:
        raise CdrError(
            f"the rating period must end after it begins, got {format_instant(bounds[0])} "
            f"to {format_instant(bounds[1])}"
        )
    rated_out = _AtomicParquet(Path(output))
    unrated_out = _AtomicParquet(Path(unrated) if unrated else default_unrated_path(output))
    schema: pa.Schema | None = None
    # Writing batch k overlaps pricing batch k+1 (Parquet encoding releases the GIL); at
    # most one write is in flight, so memory stays bounded by two batches.
    pool = ThreadPoolExecutor(1)
    pending = None

    def write(rated: pa.Table, not_rated: pa.Table) -> None:
        if rated.num_rows or rated_out.writer is None:
            rated_out.write(rated)
        if not_rated.num_rows or unrated_out.writer is None:
            unrated_out.write(not_rated)

    try:
        if bounds is not None:  # earlier results outside the period go first, unchanged
            kept = [_keep_outside(o, bounds, rater.amount_type) for o in (rated_out, unrated_out)]
            summary.kept = sum(kept)
        for batch in reader.batches(source):
            n = batch.num_rows
            if bounds is not None:
                batch = batch.filter(_in_period(batch, bounds))
                summary.outside_period += n - batch.num_rows
            priced = rater.price(batch, port_lookup)
            summary.add(priced)
            if report is not None:
                report.add(priced)
            rated, not_rated = split_rated(priced)
            schema = rated.schema
            if pending is not None:
                pending.result()
            pending = pool.submit(write, rated, not_rated)
            del batch, priced, rated, not_rated
            release_memory()
            if on_batch is not None:
                on_batch(n)
        if pending is not None:
            pending.result()
            pending = None
        fallback = schema if schema is not None else pa.schema([])
        rated_out.commit(fallback)
        unrated_out.commit(fallback)
    except BaseException:
        if pending is not None:
            pending.exception()
        rated_out.abort()
        unrated_out.abort()
        raise
    finally:
        pool.shutdown(wait=True)
    return summary
