"""What a Dask worker does for ``tandem rate --dask``: rate one partition into two Parquet
parts (:func:`rate_partition`), or copy an earlier part's rows from outside a rerated
period (:func:`keep_partition`); and how two partial results add up (:func:`merge_parts`).

The tasks are pure: a task reads its share of the CDRs and the shipped rating book
(:class:`Shipped`, installed once in every worker by a worker plugin,
:mod:`tandem.rating.daskship`) and writes only files of its own,
named after the attempt (``part-00003-<token>.parquet``, written through a temporary
``.NAME.tandem-partial-PID`` file and renamed when complete). A task that Dask runs again
after a worker died writes fresh files beside the dead attempt's; the client keeps the
files the finished attempts name and removes the rest when it commits
(:mod:`tandem.rating.daskrun`). A task returns its files, row counts, the exact
:class:`~tandem.rating.price.RatingSummary` of its CDRs and, for ``--report``, its
:class:`~tandem.rating.report.RatingReport` aggregates: money as integers throughout.

Rows are priced by the single-machine batch function (:meth:`Rater.price`), batch by
batch, and written as the single-machine files are (``start`` as a UTC instant, same
encodings), with one more column, ``source_file``: the CDR file the row came from (its
``record`` numbers count from 1 in each file).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tandem.errors import CdrError
from tandem.rating.cdr import CdrReader, canonical_table
from tandem.rating.dasksource import CdrPartition, is_local
from tandem.rating.price import PortLookup, Rater, RatingSummary, split_rated
from tandem.rating.report import RatingReport
from tandem.rating.stream import (
    RELEASE_EVERY,
    _AtomicParquet,
    _in_period,
    _widen_amounts,
    read_ahead,
    release_memory,
    reuse_freed_memory,
)

__all__ = [
    "PartResult",
    "Shipped",
    "SOURCE_COLUMN",
    "keep_partition",
    "merge_parts",
    "rate_partition",
]

#: The output column naming each row's CDR file.
SOURCE_COLUMN = "source_file"


@dataclass(frozen=True)
class Shipped:
    """What travels to every worker once: the compiled rating book, the local
    portability lookup (``--local-ports``), how CDR files are read (format, time zone,
    column and account maps, default accounts, batch size), the rerated period and
    whether report aggregates are wanted."""

    rater: Rater
    reader: CdrReader
    port_lookup: PortLookup | None = None
    period: tuple[int, int] | None = None
    report: bool = False


@dataclass
class PartResult:
    """Files and exact aggregates of one or more finished tasks (see :func:`merge_parts`):
    ``parts`` lists ``(order, rated file, rated rows, unrated file, unrated rows)``."""

    parts: list[tuple[tuple[int, int], str, int, str, int]] = field(default_factory=list)
    summary: RatingSummary = field(default_factory=RatingSummary)
    report: RatingReport | None = None
    #: CDRs read from the source (before the period filter), and rows of earlier results read.
    read: int = 0
    earlier: int = 0


def merge_parts(a: PartResult, b: PartResult) -> PartResult:
    """The sum of two results (a new object; integers only, so the order does not
    matter to the totals)."""
    summary = RatingSummary(period=a.summary.period)
    summary.merge(a.summary)
    summary.merge(b.summary)
    report = None
    if a.report is not None or b.report is not None:
        report = RatingReport()
        for r in (a.report, b.report):
            if r is not None:
                report.merge(r)
    return PartResult(
        parts=a.parts + b.parts,
        summary=summary,
        report=report,
        read=a.read + b.read,
        earlier=a.earlier + b.earlier,
    )


@contextlib.contextmanager
def _local_file(url: str) -> Iterator[Path]:
    """A local path to ``url``'s bytes: the file itself, or a copy in a temporary
    directory of the worker (removed after) for a remote filesystem."""
    if is_local(url):
        yield Path(url.removeprefix("file://").removeprefix("local://"))
        return
    import fsspec

    tmp = tempfile.mkdtemp(prefix="tandem-cdrs-")
    try:
        target = Path(tmp) / (url.rstrip("/").rsplit("/", 1)[-1] or "cdrs")
        try:
            with fsspec.open(url, "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 22)
        except OSError as exc:
            raise CdrError(f"cannot read CDR file {url!r}: {exc}") from None
        yield target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _parquet_batches(path: Path, part: CdrPartition, reader: CdrReader) -> Iterator[pa.Table]:
    """Canonical batches of some row groups of a Parquet file, numbered from the
    partition's first record (as :meth:`CdrReader.batches` numbers the whole file)."""
    record = part.first_record
    try:
        pf = pq.ParquetFile(path, pre_buffer=False)
        for batch in pf.iter_batches(batch_size=reader.batch_size, row_groups=part.row_groups):
            table = pa.Table.from_batches([batch])
            yield canonical_table(
                table,
                timezone=reader.timezone,
                column_map=reader.column_map,
                customer=reader.customer,
                carrier=reader.carrier,
                customer_map=reader.customer_map,
                carrier_map=reader.carrier_map,
                first_record=record,
            )
            record += table.num_rows
    except (OSError, pa.ArrowException) as exc:
        raise CdrError(f"{path.name}: not a readable Parquet file: {exc}") from None


def _with_source(table: pa.Table, url: str) -> pa.Table:
    """``table`` with the ``source_file`` column (one dictionary entry, the file)."""
    if SOURCE_COLUMN in table.column_names:
        return table
    codes = pa.array(np.zeros(table.num_rows, np.int32))
    return table.append_column(
        SOURCE_COLUMN, pa.DictionaryArray.from_arrays(codes, pa.array([url], pa.string()))
    )


class _Parts:
    """The two part files of one task attempt, in ``directory``'s ``rated/`` and
    ``unrated/``; :meth:`finish` completes both and returns their names."""

    def __init__(self, directory: str, order: tuple[int, int]) -> None:
        token = uuid.uuid4().hex[:12]
        name = f"part-{order[0]:03d}-{order[1]:06d}-{token}.parquet"
        self.rated = _AtomicParquet(Path(directory) / "rated" / name, workers=1)
        self.unrated = _AtomicParquet(Path(directory) / "unrated" / name, workers=1)
        self.schema: pa.Schema | None = None
        self.rows = [0, 0]

    def write(self, rated: pa.Table, unrated: pa.Table) -> None:
        self.schema = self.schema or rated.schema
        for k, (out, table) in enumerate(((self.rated, rated), (self.unrated, unrated))):
            if table.num_rows:
                out.write(table)
                self.rows[k] += table.num_rows

    def finish(self) -> tuple[str, int, str, int]:
        names = []
        for out, rows in ((self.rated, self.rows[0]), (self.unrated, self.rows[1])):
            if rows == 0:  # nothing to keep: no file (a dataset part without rows)
                out.abort()
                names.append("")
                continue
            out.close(self.schema or pa.schema([]))
            os.replace(out.tmp, out.path)
            names.append(os.fspath(out.path))
        return names[0], self.rows[0], names[1], self.rows[1]

    def abort(self) -> None:
        self.rated.abort()
        self.unrated.abort()


def rate_partition(
    part: CdrPartition, order: tuple[int, int], token: str, directory: str
) -> PartResult:
    """Rate one partition of the CDR set into part files in ``directory`` (the run's
    temporary output directory) with the book shipped for run ``token``; ``order``
    places its parts in the output."""
    from tandem.rating.daskship import shipped as installed

    reuse_freed_memory()
    shipped = installed(token)
    rater, period = shipped.rater, shipped.period
    reader = dataclasses.replace(shipped.reader, format=part.format)
    summary = RatingSummary(period=period)
    report = RatingReport() if shipped.report else None
    out = _Parts(directory, order)
    read = done = 0
    try:
        with _local_file(part.url) as path:
            if part.row_groups is not None:
                source = _parquet_batches(path, part, reader)
            else:
                source = reader.batches(path)
            batches = read_ahead(source)
            try:
                for batch in batches:
                    n = batch.num_rows
                    read += n
                    if period is not None:
                        batch = batch.filter(_in_period(batch, period))
                        summary.outside_period += n - batch.num_rows
                    priced = rater.price(batch, shipped.port_lookup)
                    summary.add(priced)
                    if report is not None:
                        report.add(priced)
                    rated, unrated = split_rated(priced)
                    out.write(_with_source(rated, part.url), _with_source(unrated, part.url))
                    del batch, priced, rated, unrated
                    done += 1
                    if done % RELEASE_EVERY == 0:  # the C heap (see release_memory)
                        release_memory(arrow=False)
            finally:
                batches.close()
        if part.rows is not None and read != part.rows:
            raise CdrError(f"{part.url}: read {read} CDRs of row groups holding {part.rows}")
        files = out.finish()
    except BaseException:
        out.abort()
        raise
    return PartResult(parts=[(order, *files)], summary=summary, report=report, read=read)


def keep_partition(
    earlier: str, kind: str, order: tuple[int, int], token: str, directory: str
) -> PartResult:
    """Copy the rows of an earlier run's part file (``kind`` ``rated`` or ``unrated``)
    that lie outside the rerated period into a new part of this run."""
    from tandem.rating.daskship import shipped as installed

    shipped = installed(token)
    assert shipped.period is not None
    out = _Parts(directory, order)
    kept = 0
    try:
        try:
            pf = pq.ParquetFile(earlier, pre_buffer=False)
            if "start" not in pf.schema_arrow.names:
                raise CdrError(f"{earlier}: no start column: not a Tandem rating output")
            for batch in pf.iter_batches():
                table = pa.Table.from_batches([batch])
                table = table.filter(pc.invert(_in_period(table, shipped.period)))
                table = _widen_amounts(table, shipped.rater.amount_type)
                kept += table.num_rows
                empty = table.slice(0, 0)
                out.write(*((table, empty) if kind == "rated" else (empty, table)))
        except (OSError, pa.ArrowException) as exc:
            raise CdrError(f"{earlier}: cannot read the earlier results: {exc}") from None
        files = out.finish()
    except BaseException:
        out.abort()
        raise
    summary = RatingSummary(period=shipped.period, kept=kept)
    return PartResult(parts=[(order, *files)], summary=summary, earlier=kept)
