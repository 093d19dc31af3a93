"""``tandem rate``: price a CDR file on both sides, exactly, streaming."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tandem.cli.context import CliContext, global_options, pass_ctx, skip_teardown
from tandem.cli.options import (
    INSTANT,
    INSTANT_FORMS,
    cdr_account_map_option,
    cdr_batch_size_option,
    cdr_format_option,
    cdr_map_column_option,
    cdr_timezone_option,
)
from tandem.errors import CdrError, ConfigError
from tandem.instant import format_instant

if TYPE_CHECKING:
    from tandem.rating.bookfile import BookPrefetch
    from tandem.rating.cdr import CdrReader
    from tandem.rating.parquetprefetch import ParquetPrefetch
    from tandem.rating.price import PortLookup, Rater, RatingSummary
    from tandem.rating.report import RatingReport

__all__ = ["cdr_count", "print_summary", "rate", "tune_native_libraries"]


def _column_map(pairs: tuple[str, ...]) -> dict[str, str] | None:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--map-column takes FIELD=COLUMN (e.g. number=called), got {pair!r}")
        k, v = pair.split("=", 1)
        out[k.strip()] = v.strip()
    return out or None


def _period(start: int | None, until: int | None) -> tuple[int, int] | None:
    """The rerated period from --from/--until (both or neither), as UTC epoch seconds."""
    if start is None and until is None:
        return None
    if start is None or until is None:
        raise click.UsageError("a rerated period needs both --from and --until")
    if start >= until:
        raise CdrError(
            f"--until {format_instant(until)} must be after --from {format_instant(start)}"
        )
    return start, until


def cdr_count(reader: CdrReader, cdrs: Path) -> int | None:
    """How many CDRs a Parquet file holds (from its footer), for the progress bar; None for
    the text formats, which are not counted before they are read."""
    if reader.resolve_format(cdrs) != "parquet":
        return None
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(cdrs).metadata.num_rows)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a CdrError
        raise CdrError(f"{cdrs.name}: not a readable Parquet file: {exc}") from None


def tune_native_libraries() -> list[str]:
    """Settings of the native libraries ``tandem rate`` loads, made through their
    environment variables before they load (a variable already set is kept); the names of
    those that took effect.

    * ``OPENBLAS_NUM_THREADS=1`` (before numpy): at import OpenBLAS starts a thread per
      further core, which spins for a while waiting for work: about 25 ms of the other
      core at the start of a run, just when it reads the first CDRs and the rating book.
      Rating does no linear algebra (nor do the Dask workers it starts, which inherit it).
    * ``MIMALLOC_ALLOW_THP=0`` (before pyarrow): Arrow's allocator, mimalloc, otherwise
      asks for transparent huge pages, and the kernel zeroes 2 MB for each one it first
      touches; a run re-touches memory freed batch after batch, and zeroing took 15-26 %
      of the CPU samples of a 2,000,000-CDR run (``perf``), the run's CPU time varying by
      a third from run to run. Without: 2.02 s of CPU against 1.94-2.72 s (4 runs each,
      load 4).
    * ``MIMALLOC_PURGE_DELAY=10000`` (before pyarrow): mimalloc otherwise hands the pages
      of freed blocks back to the kernel 10 ms later (``madvise``), and the next batch's
      buffers fault them in and have them zeroed again. Kept, they are reused: the
      process holds its peak, which does not grow with the number of CDRs. Not -1
      (never): after the last batch :func:`tandem.rating.stream.release_memory` then
      hands them back at once, on a thread while the commit waits for the disk, and the
      process's exit has that much less to free (a 2,000,000-CDR run ended holding 385
      MB instead of 157, some 25 ms more of exit, which the caller waits for).
    """
    done = []
    for module, name, value in (
        ("numpy", "OPENBLAS_NUM_THREADS", "1"),
        ("pyarrow", "MIMALLOC_ALLOW_THP", "0"),
        ("pyarrow", "MIMALLOC_PURGE_DELAY", "10000"),
    ):
        if module not in sys.modules and name not in os.environ:
            os.environ[name] = value
            done.append(name)
    return done


@dataclass(frozen=True)
class RatingOptions:
    """What ``tandem rate`` was told about reading and pricing the CDRs, on one machine or
    on a Dask cluster alike."""

    fmt: str
    timezone: str
    map_file: Path | None
    column_map: dict[str, str] | None
    customer: str | None
    carrier: str | None
    plan: Path | None
    grace: int
    batch_size: int
    local_ports: bool
    local_ports_csv: Path | None

    def reader(self) -> CdrReader:
        """The CDR reader these options describe."""
        from tandem.rating.cdr import CdrReader, load_account_map

        customer_map, carrier_map = (
            load_account_map(self.map_file) if self.map_file else (None, None)
        )
        return CdrReader(
            format=self.fmt,
            timezone=self.timezone,
            column_map=self.column_map,
            customer=self.customer,
            carrier=self.carrier,
            customer_map=customer_map,
            carrier_map=carrier_map,
            batch_size=self.batch_size,
        )

    def prepare(
        self,
        ctx: CliContext,
        reader: CdrReader | None = None,
        prefetched: BookPrefetch | None = None,
        workers: int = 2,
    ) -> PreparedRating:
        """The CDR reader (``reader``, or :meth:`reader`'s), the port lookup and the
        compiled rating book (from the cache beside a SQLite store while the store is
        unchanged: the store is then not even opened; ``prefetched``: that cache already
        being read), and the tariff plans the run prices with; ``workers``: the threads
        a batch is priced on (:attr:`tandem.rating.price.Rater.workers`)."""
        from tandem.rating.bookcache import load_rater
        from tandem.rating.plan import load_plan

        reader = reader if reader is not None else self.reader()
        port_lookup = None
        if self.local_ports_csv is not None or self.local_ports:
            from tandem.enum.local import LocalPortTable

            table = (
                LocalPortTable.from_csv(self.local_ports_csv)
                if self.local_ports_csv is not None
                else LocalPortTable.from_store(ctx.store)
            )
            port_lookup = table.routing_numbers
        plan = load_plan(self.plan) if self.plan else None
        rater, stored_schedule = load_rater(
            ctx.db,
            lambda: ctx.store,
            plan=plan,
            grace=self.grace,
            workers=workers,
            prefetched=prefetched,
        )
        schedule = None if self.plan else stored_schedule
        versions = None if schedule is None else sorted({v for v in schedule.versions if v})
        return PreparedRating(reader, port_lookup, rater, self.plan, versions)


@dataclass(frozen=True)
class PreparedRating:
    """:meth:`RatingOptions.prepare`'s answer."""

    reader: CdrReader
    port_lookup: PortLookup | None
    rater: Rater
    plan_file: Path | None  # --plan
    stored_versions: list[int] | None  # the store's tariff plan versions (None: none stored)

    @property
    def tariff_plan(self) -> dict[str, object] | None:
        """The tariff_plan field of --json: {"file"}, {"versions"} or None."""
        if self.plan_file is not None:
            return {"file": os.fspath(self.plan_file)}
        return None if self.stored_versions is None else {"versions": self.stored_versions}

    def echo_plans(self) -> None:
        """The line naming the stored tariff plans the CDRs were priced with, if any."""
        if self.plan_file is None and self.stored_versions is not None:
            versions = ", ".join(str(v) for v in self.stored_versions)
            click.echo(f"tariff plans: stored versions {versions}, each CDR by its start")


def print_summary(summary: RatingSummary, report: RatingReport | None) -> None:
    """The rating summary for a person: CDRs rated and unrated (by reason), the sell and
    buy totals and the margin, then the report's per-carrier table when there is one."""
    result = summary.as_json()
    unrated_text = ", ".join(f"{k} {v}" for k, v in result["unrated"].items()) or "none"
    click.echo(
        f"{result['rows_in']} CDRs: {result['rated']} rated, "
        f"{summary.unrated_count} unrated ({unrated_text})"
    )
    if result["currency"]:
        click.echo(
            f"sell {result['sell_total']} {result['currency']}, buy {result['buy_total']}, "
            f"margin {result['margin']}"
        )
    for count, text in (
        (
            summary.ambiguous_times,
            "started in the repeated hour of a DST change that their end time could not "
            "decide: read as its first occurrence (time_note ambiguous_local_time)",
        ),
        (
            summary.ambiguous_times_resolved,
            "started in the repeated hour of a DST change: decided by their end time "
            "(time_note ambiguous_local_time_resolved)",
        ),
        (
            summary.nonexistent_times,
            "started at a local time the DST change skipped: unrated bad_time "
            "(time_note nonexistent_local_time)",
        ),
    ):
        if count:
            click.echo(f"warning: {count} CDRs {text}")
    if report is not None:
        report.render()


@global_options
@click.command("rate")
@click.argument("cdrs_arg", metavar="CDRS", required=False)
@cdr_format_option()
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Parquet file for the rated CDRs (replaced whole on success); with --dask, a "
    "directory of Parquet parts: rated/, unrated/ and the summary _tandem.json.",
)
@click.option(
    "--unrated",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Parquet file for unrated CDRs, each with a reason (default: OUTPUT.unrated.parquet).",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for report tables by customer, carrier, destination, day (CSV + Parquet).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object.")
@cdr_timezone_option(" (Asterisk/FreeSWITCH local time), and of a date alone in --from/--until")
@cdr_account_map_option()
@cdr_map_column_option(
    "start, duration, number, customer, carrier, routing_number, call_id, disposition"
)
@click.option("--customer", help="Customer for CDRs that name none (e.g. FreeSWITCH, plain CSV).")
@click.option("--carrier", help="Carrier for CDRs that name none (e.g. FreeSWITCH, plain CSV).")
@click.option(
    "--plan",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Tariff plan TOML: grace periods, tiered intervals, peak/off-peak periods (default: "
    "each CDR with the store's tariff plan in force at its start; see 'tandem plan').",
)
@click.option(
    "--grace",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Calls this many seconds long or shorter are free (accounts the plan does not set).",
)
@cdr_batch_size_option("CDRs per batch (memory use is proportional to it, not to the file).")
@click.option(
    "--local-ports",
    "local_ports",
    is_flag=True,
    help="Rate ported numbers on their routing number from the store's local portability table.",
)
@click.option(
    "--local-ports-csv",
    "local_ports_csv",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Like --local-ports, from this portability CSV instead of the store.",
)
@click.option(
    "--from",
    "period_from",
    type=INSTANT,
    metavar="TIME",
    help=f"Rerate a period: only CDRs that started at or after TIME ({INSTANT_FORMS}); "
    "the outputs keep their earlier rows from outside the period.",
)
@click.option(
    "--until",
    "period_until",
    type=INSTANT,
    metavar="TIME",
    help="End of the rerated period (excluded); with --from.",
)
@click.option(
    "--query",
    "query",
    metavar="SQL",
    help="Read the CDRs from this SQL query instead of a file (e.g. Kamailio's acc_cdrs "
    "table; map its columns with --map-column).",
)
@click.option(
    "--query-db",
    "query_db",
    metavar="URL",
    help="Database the --query runs on: a URL or a SQLite file (default: the store's, --db).",
)
@click.option(
    "--to-db",
    "to_db",
    is_flag=True,
    help="Also load the rated CDRs into the store's table rated_cdrs (one transaction; the "
    "same CDRs loaded again, or a rerated period, replace their rows).",
)
@click.option(
    "--dask",
    "dask_address",
    metavar="ADDRESS",
    help="Rate on a Dask cluster: the scheduler's address (tcp://HOST:8786), or local[:N] "
    "for a local cluster of N worker processes. CDRS may then be a glob, a directory or "
    "an fsspec URL.",
)
@click.option(
    "--dask-partition-rows",
    type=click.IntRange(min=1),
    default=1 << 20,
    show_default=True,
    help="With --dask: CDRs per task (Parquet files are cut at row groups, text files "
    "are one task each).",
)
@pass_ctx
def rate(
    ctx: CliContext,
    cdrs_arg: str | None,
    fmt: str,
    output: Path,
    unrated: Path | None,
    report_dir: Path | None,
    as_json: bool,
    timezone: str,
    map_file: Path | None,
    map_column: tuple[str, ...],
    customer: str | None,
    carrier: str | None,
    plan: Path | None,
    grace: int,
    batch_size: int,
    local_ports: bool,
    local_ports_csv: Path | None,
    period_from: int | None,
    period_until: int | None,
    query: str | None,
    query_db: str | None,
    to_db: bool,
    dask_address: str | None,
    dask_partition_rows: int,
) -> None:
    """Price the CDRS file (buy and sell side) into Parquet; every CDR comes out rated or
    unrated with a reason. With --query instead of CDRS, the CDRs are a SQL query's rows.

    Each CDR is priced with the tariff plan in force at its start (the versions stored
    with 'tandem plan import FILE --kind tariff'), unless --plan names one file for all.

    A CDR with a routing number (column ``routing_number``) is rated on it; with
    --local-ports or --local-ports-csv the other numbers are looked up in the local
    portability table, and ported ones are rated on their routing number.

    With --dask ADDRESS (a scheduler, or local[:N]) the CDRS may be a glob, a directory or
    an fsspec URL, rated on the cluster into the directory -o of Parquet parts.
    """
    from tandem.cli.heap import one_malloc_arena

    tune_native_libraries()
    one_malloc_arena()  # before the reading threads start
    options = RatingOptions(
        fmt, timezone, map_file, _column_map(map_column), customer, carrier, plan, grace,
        batch_size, local_ports, local_ports_csv,
    )  # fmt: skip
    if dask_address is not None:
        if cdrs_arg is None or query is not None or to_db:
            raise click.UsageError("--dask rates CDR files (CDRS), without --query or --to-db")
        from tandem.cli.ratedask import rate_dask

        rate_dask(
            ctx, options, address=dask_address, cdrs=cdrs_arg, output=output, unrated=unrated,
            report_dir=report_dir, as_json=as_json, period=_period(period_from, period_until),
            partition_rows=dask_partition_rows,
        )  # fmt: skip
        return
    cdrs = Path(cdrs_arg) if cdrs_arg is not None else None
    if cdrs is not None and cdrs.is_dir():
        raise CdrError(f"{os.fspath(cdrs)} is a directory: rate a set of files with --dask")
    if (cdrs is None) == (query is None):
        raise click.UsageError("give a CDR file or --query SQL (one of them)")
    if query_db is not None and query is None:
        raise click.UsageError("--query-db goes with --query")
    if cdrs is not None and not cdrs.exists():
        raise CdrError(f"no such CDR file: {os.fspath(cdrs)}")
    with _query_file(ctx, query, query_db, batch_size) as queried:
        source = queried if queried is not None else cdrs
        assert source is not None  # one of the two, checked above
        label = "query" if queried is not None else os.fspath(source)
        _rate(
            ctx, options, source, output, unrated, report_dir, as_json,
            _period(period_from, period_until), to_db, label,
        )  # fmt: skip


@contextlib.contextmanager
def _query_file(
    ctx: CliContext, query: str | None, query_db: str | None, batch_size: int
) -> Iterator[Path | None]:
    """The rows of ``--query`` in a temporary Parquet file (None without --query)."""
    if query is None:
        yield None
        return
    from tandem.cli.progress import progress
    from tandem.rating.sqlsource import query_cdrs
    from tandem.store import default_db_url

    with tempfile.TemporaryDirectory(prefix="tandem-query-") as tmp:
        path = Path(tmp) / "query.parquet"
        with progress("reading the query", None, enabled=ctx.show_progress) as bar:
            query_cdrs(
                query_db or ctx.db or default_db_url(),
                query,
                path,
                batch_size=batch_size,
                on_batch=bar.advance,
            )
        yield path


def _rate(
    ctx: CliContext,
    options: RatingOptions,
    cdrs: Path,
    output: Path,
    unrated: Path | None,
    report_dir: Path | None,
    as_json: bool,
    period: tuple[int, int] | None,
    to_db: bool,
    source: str,
) -> None:
    from tandem.rating.bookfile import BookPrefetch
    from tandem.rating.parquetprefetch import ParquetPrefetch

    # The rating-book cache is read and checked, and the first CDR batches of a Parquet
    # file decoded, on threads while the imports below run.
    prefetched = BookPrefetch(ctx.db)
    first_batches = (
        ParquetPrefetch(cdrs, options.batch_size) if _parquet_named(cdrs, options.fmt) else None
    )
    try:
        _rate_prefetched(
            ctx, options, cdrs, output, unrated, report_dir, as_json, period, to_db, source,
            prefetched, first_batches,
        )  # fmt: skip
    finally:
        if first_batches is not None:
            first_batches.close()


def _parquet_named(cdrs: Path, fmt: str) -> bool:
    """Whether ``cdrs`` is read as Parquet by its format option or its name alone (no
    need to open it, nor to import the reader)."""
    return fmt == "parquet" or (fmt == "auto" and cdrs.suffix.lower() in (".parquet", ".pq"))


def _rate_prefetched(
    ctx: CliContext,
    options: RatingOptions,
    cdrs: Path,
    output: Path,
    unrated: Path | None,
    report_dir: Path | None,
    as_json: bool,
    period: tuple[int, int] | None,
    to_db: bool,
    source: str,
    prefetched: BookPrefetch,
    first_batches: ParquetPrefetch | None,
) -> None:
    from tandem.cli.progress import progress
    from tandem.rating.report import RatingReport
    from tandem.rating.stream import (
        ReadAhead,
        check_outputs,
        default_unrated_path,
        rate_file,
        recover_outputs,
        reuse_freed_memory,
    )

    reuse_freed_memory()  # this process rates one file: batch after batch, same sizes
    check_outputs(cdrs, output, unrated, report_dir)  # before anything is written
    recover_outputs(output)  # an earlier run's interrupted commit, before anything is read
    reader = options.reader()
    reader.prefetch = first_batches
    # The first batch is read on its thread while the rating book loads.
    batches = ReadAhead(reader.batches(cdrs))
    with contextlib.closing(batches):  # rate_file closes them too; this on an error before
        # Each batch is priced on this thread alone: the file's pipeline keeps both cores
        # busy already (decoding on Arrow's threads, encoding on the writer's two), and
        # two pricing threads more per batch only added threads and memory in flight
        # (4 % more CPU at 2,000,000 and 5,000,000 CDRs).
        prepared = options.prepare(ctx, reader, prefetched, workers=1)
        # The per-carrier table is printed only without --json and --quiet; the report
        # tables are kept only for --report: otherwise no aggregation is paid for.
        report = RatingReport() if report_dir is not None or not (as_json or ctx.quiet) else None
        total = cdr_count(reader, cdrs) if ctx.show_progress else None  # for the bar only
        with progress("rating CDRs", total, enabled=ctx.show_progress) as bar:
            summary = rate_file(
                cdrs,
                output,
                prepared.rater,
                reader=reader,
                unrated=unrated,
                report=report,
                port_lookup=prepared.port_lookup,
                on_batch=bar.advance,
                period=period,
                report_dir=report_dir,
                batches=batches,
                direct_io=not to_db,  # --to-db reads the rated file back at once
            )
    result = summary.as_json()
    if to_db:
        result["warehouse"] = _load_warehouse(ctx, output, source, period)
    result["output"] = os.fspath(output)
    result["unrated_output"] = os.fspath(unrated or default_unrated_path(output))
    result["tariff_plan"] = prepared.tariff_plan
    if ctx._store is not None:  # opened to compile the book: closed before a quick exit
        ctx._store.close()
        ctx._store = None
    # the outputs are committed: nothing left to flush but stdout; the rating book is
    # kept for the operating system to free with the rest (unmapping it took ~10 ms)
    skip_teardown(prepared)
    if as_json:
        click.echo(json.dumps(result))
        return
    if not ctx.quiet:
        prepared.echo_plans()
        print_summary(summary, report)
        if to_db:
            w = result["warehouse"]
            click.echo(f"warehouse: {w['rows']} rated CDRs loaded, {w['replaced']} rows replaced")


def _load_warehouse(
    ctx: CliContext, output: Path, source: str, period: tuple[int, int] | None
) -> dict[str, int]:
    """Load the rated file just written into the store's rated_cdrs (its rows within
    ``period`` only, for a rerate): one transaction."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def batches() -> Iterator[pa.Table]:
        with pq.ParquetFile(output) as f:
            for batch in f.iter_batches(batch_size=500_000):
                yield pa.Table.from_batches([batch])

    load = ctx.store.load_rated(batches(), source=source, period=period)
    return {"rows": load.rows, "replaced": load.replaced}
