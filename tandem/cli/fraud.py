"""``tandem fraud scan``: the live fraud rules replayed over a CDR file, and a backtest of
them against labelled CDRs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tandem.cli.context import CliContext, global_options, pass_ctx, skip_teardown
from tandem.cli.options import (
    INSTANT,
    INSTANT_FORMS,
    cdr_batch_size_option,
    cdr_format_option,
    cdr_map_column_option,
    cdr_timezone_option,
)
from tandem.errors import CdrError, ConfigError
from tandem.instant import format_instant

if TYPE_CHECKING:
    from tandem.fraud.backtesting import RuleScore
    from tandem.fraud.scanner import ScanResult
    from tandem.rating.parquetprefetch import ParquetPrefetch

__all__ = ["DEFAULT_RULES", "fraud_group"]

#: The rules shipped with Tandem (``data/fraud.toml``), used without ``--rules``.
DEFAULT_RULES = Path(__file__).resolve().parents[2] / "data" / "fraud.toml"


@click.group("fraud")
def fraud_group() -> None:
    """Fraud rules over CDRs: replay them (scan) and backtest them on labelled files."""


@global_options
@fraud_group.command("scan")
@click.argument("cdrs", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Fraud rules TOML (default: the shipped data/fraud.toml).",
)
@click.option(
    "--labels",
    "label_column",
    metavar="COLUMN",
    help="Backtest: the CDR column naming each call's planted pattern ('' for normal "
    "traffic); prints precision and recall per rule.",
)
@click.option(
    "--from",
    "report_from",
    type=INSTANT,
    metavar="TIME",
    help=f"Report only alerts of calls from TIME on ({INSTANT_FORMS}); the CDRs before it "
    "still count (they warm the windows and baselines up).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@cdr_format_option()
@cdr_timezone_option(", and of a date alone in --from")
@cdr_map_column_option("start, duration, number, customer, ...")
@click.option("--customer", help="Customer for CDRs that name none.")
@cdr_batch_size_option()
@pass_ctx
def scan_command(
    ctx: CliContext,
    cdrs: Path,
    rules_path: Path | None,
    label_column: str | None,
    report_from: int | None,
    as_json: bool,
    fmt: str,
    timezone: str,
    map_column: tuple[str, ...],
    customer: str | None,
    batch_size: int,
) -> None:
    """Replay the CDRS file through the fraud rules, in time order, and print the alerts
    merged into episodes (any CDR format `tandem rate` reads).

    Each CDR is a call attempt at its start that ended `duration` seconds later; spend is
    counted from a cost column (sell_amount, cost; else sell_rate x duration), first
    calls from sell_rate. A CDR that cannot be read is counted (unreadable, by reason),
    never dropped silently.
    """
    from tandem.cli.rate import _column_map, _parquet_named, tune_native_libraries
    from tandem.fraud.columns import SCAN_COLUMNS, SCAN_DICTIONARY
    from tandem.rating.parquetprefetch import ParquetPrefetch

    if not cdrs.exists():
        raise CdrError(f"no such CDR file: {os.fspath(cdrs)}")
    tune_native_libraries()  # before numpy and pyarrow load
    # a Parquet file is read with only the columns the scan (and --labels) reads, its name
    # columns as dictionaries; decoded on a thread from here on, while the scan's code
    # (numpy, pyarrow, the rules) is imported
    wanted = SCAN_COLUMNS | ({label_column.lower()} if label_column is not None else set())
    prefetch = None
    if _parquet_named(cdrs, fmt):
        try:
            column_map = _column_map(map_column)
        except ConfigError:
            column_map = None  # said by the reader below, in its turn
        else:
            prefetch = ParquetPrefetch(
                cdrs,
                batch_size,
                depth=0,  # the scan keeps every batch: the whole file is read ahead
                wanted=wanted,
                column_map=column_map,
                dictionary=SCAN_DICTIONARY,
            )
    try:
        _scan(
            ctx, cdrs, rules_path, label_column, report_from, as_json, fmt, timezone,
            map_column, customer, batch_size, wanted, prefetch,
        )  # fmt: skip
    finally:
        if prefetch is not None:
            prefetch.close()


def _scan(
    ctx: CliContext,
    cdrs: Path,
    rules_path: Path | None,
    label_column: str | None,
    report_from: int | None,
    as_json: bool,
    fmt: str,
    timezone: str,
    map_column: tuple[str, ...],
    customer: str | None,
    batch_size: int,
    wanted: frozenset[str],
    prefetch: ParquetPrefetch | None,
) -> None:
    import pyarrow as pa

    from tandem.cli.heap import keep_freed_memory
    from tandem.cli.progress import progress
    from tandem.cli.rate import _column_map, cdr_count
    from tandem.fraud import load_fraud_config
    from tandem.fraud.columns import SCAN_DICTIONARY
    from tandem.fraud.scanner import scan
    from tandem.rating.cdr import CdrReader

    if keep_freed_memory():  # the scan allocates and frees column-sized arrays many times
        # Arrow's buffers from the same heap: its own allocator hands freed pages back to
        # the kernel, to be faulted and zeroed again (2 of 4 s of system time at 5 M CDRs)
        pa.set_memory_pool(pa.system_memory_pool())
    config = load_fraud_config(rules_path or DEFAULT_RULES)
    reader = CdrReader(
        format=fmt,
        timezone=timezone,
        column_map=_column_map(map_column),
        customer=customer,
        batch_size=batch_size,
        columns=wanted,
        dictionary=SCAN_DICTIONARY,
        prefetch=prefetch,
    )
    batches: list[pa.Table] = []
    with progress("reading CDRs", cdr_count(reader, cdrs), enabled=ctx.show_progress) as bar:
        for batch in reader.batches(cdrs):
            if label_column is not None and label_column not in batch.column_names:
                raise ConfigError(
                    f"--labels {label_column}: the CDRs have no such column "
                    f"(they have: {', '.join(batch.column_names)})"
                )
            batches.append(batch)
            bar.advance(batch.num_rows)
    table = _concat(batches)
    with progress("scanning", None, enabled=ctx.show_progress):
        result = scan(table, config, report_from=report_from)
    scores = None
    if label_column is not None:
        from tandem.fraud.backtesting import backtest

        labels = table.column(label_column).cast(pa.string()).to_pylist()
        scores = backtest(result, table.column("record").to_numpy(), labels)
    out = result.to_json()
    out["report_from"] = format_instant(report_from) if report_from is not None else None
    if scores is not None:
        out["backtest"] = {rule: s.to_dict() for rule, s in scores.items()}
    if as_json:
        click.echo(json.dumps(out))
    else:
        _print(result, scores, quiet=ctx.quiet)
    # nothing is left to write but stdout: the process ends without freeing the columns
    # of every CDR object by object
    skip_teardown()


def _concat(batches: list[Any]) -> Any:
    import pyarrow as pa

    if not batches:
        return pa.table({})
    try:
        return pa.concat_tables(batches, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise CdrError(f"the CDR batches do not share one schema: {exc}") from None


def _print(result: ScanResult, scores: dict[str, RuleScore] | None, *, quiet: bool) -> None:
    """The scan for a person: one line per episode, then counts."""
    for e in result.alerts:
        d = e.to_dict()
        evidence = ", ".join(f"{k}={v}" for k, v in e.evidence.items())
        click.echo(
            f"{d['from']} .. {d['until']}  {e.action:5}  {e.rule:10}  {e.customer}"
            f"{' ' + e.prefix if e.prefix else ''}  {e.calls} call(s)  [{evidence}]"
        )
    if quiet:
        return
    rules = ", ".join(f"{rule} {n}" for rule, n in result.by_rule.items() if n) or "none"
    click.echo(f"{result.rows_in} CDRs, {len(result.alerts)} alert episodes ({rules})")
    if result.unreadable:
        reasons = ", ".join(f"{k} {v}" for k, v in result.unreadable_reasons.items())
        click.echo(f"warning: {result.unreadable} CDRs could not be read ({reasons})")
    for rule, why in result.skipped.items():
        click.echo(f"note: {rule}: {why}")
    if scores is not None:
        click.echo(f"{'rule':12} {'alerted':>8} {'labelled':>9} {'precision':>10} {'recall':>8}")
        for rule, s in scores.items():
            p = "-" if s.precision is None else str(s.precision)
            r = "-" if s.recall is None else str(s.recall)
            click.echo(f"{rule:12} {s.alerted:>8} {s.labelled:>9} {p:>10} {r:>8}")
