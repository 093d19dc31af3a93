"""``tandem reconcile``: match a vendor's CDRs with ours, classify every one, dispute."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import click

from tandem.cli.context import CliContext, global_options, pass_ctx
from tandem.cli.options import (
    CDR_FORMATS,
    cdr_batch_size_option,
    cdr_format_option,
    cdr_map_column_option,
    cdr_timezone_option,
)
from tandem.cli.rate import _column_map, cdr_count
from tandem.errors import ConfigError, MoneyError, OutputError

__all__ = ["reconcile_command"]


def _amount(text: str) -> int:
    from tandem.money import parse_decimal, to_scaled

    try:
        value = parse_decimal(text, field="--amount-tolerance")
        if value < 0:
            raise ConfigError(f"--amount-tolerance must not be negative, got {text}")
        return to_scaled(value, field="--amount-tolerance")
    except MoneyError as exc:
        raise ConfigError(str(exc)) from None


def _print_table(recon: object) -> None:
    from rich.console import Console
    from rich.table import Table

    from tandem.money import format_money
    from tandem.recon import Reconciliation

    assert isinstance(recon, Reconciliation)
    counts, amounts = recon.counts(), recon.disputed_scaled()
    table = Table(title=f"reconciliation with {recon.carrier}")
    table.add_column("class")
    table.add_column("lines", justify="right")
    table.add_column("disputed", justify="right")
    for name, count in counts.items():
        table.add_row(name, str(count), format_money(amounts[name]))
    table.add_row("total", str(sum(counts.values())), format_money(sum(amounts.values())))
    Console().print(table)


@global_options
@click.command("reconcile")
@click.argument("ours", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("theirs", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--carrier", required=True, help="The vendor: the carrier whose buy deck prices the calls."
)
@cdr_format_option()
@click.option(
    "--our-format",
    type=click.Choice(CDR_FORMATS),
    default="auto",
    show_default=True,
    help="Format of our CDR file (--format is the vendor's).",
)
@cdr_timezone_option(" in the vendor's file")
@click.option(
    "--our-timezone",
    default="UTC",
    show_default=True,
    help="IANA zone of times written without one in our CDR file.",
)
@cdr_map_column_option("start, duration, number, call_id, rate, amount... of the vendor's file")
@click.option(
    "--our-map-column",
    multiple=True,
    metavar="FIELD=COLUMN",
    help="Name a column of our CDR file (start, duration, number, carrier, call_id). Repeatable.",
)
@click.option(
    "--country-code",
    metavar="CC",
    help="Read the vendor's numbers in national format (a leading 0, e.g. 020 7946 0000) "
    "as this country's (e.g. 44); + and 00 stay international.",
)
@click.option(
    "--decimal-comma",
    is_flag=True,
    help="The vendor writes rates and amounts with a decimal comma (0,0123).",
)
@click.option(
    "--start-window",
    type=click.IntRange(min=0, max=86_400),
    default=60,
    show_default=True,
    help="Seconds the two sides' starts of one call may differ by (clock skew, answer vs "
    "setup time) when records are matched by number and start.",
)
@click.option(
    "--duration-tolerance",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Billable seconds the two sides may differ by and still agree (rounding of "
    "fractional seconds); beyond it: duration_mismatch.",
)
@click.option(
    "--amount-tolerance",
    default="0.01",
    show_default=True,
    help="Money per call the vendor's amount may differ from our deck's price of the "
    "duration it billed (rounding); beyond it: rate_mismatch.",
)
@click.option(
    "--dispute",
    "dispute_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the dispute file here: .csv or .xlsx by the suffix. Repeatable.",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the report: the classes (CSV + Parquet), every line (Parquet), "
    "the dispute file (CSV + XLSX) and an HTML page with the classes charts.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object.")
@cdr_batch_size_option()
@pass_ctx
def reconcile_command(
    ctx: CliContext,
    ours: Path,
    theirs: Path,
    carrier: str,
    fmt: str,
    our_format: str,
    timezone: str,
    our_timezone: str,
    map_column: tuple[str, ...],
    our_map_column: tuple[str, ...],
    country_code: str | None,
    decimal_comma: bool,
    start_window: int,
    duration_tolerance: int,
    amount_tolerance: str,
    dispute_files: tuple[Path, ...],
    report_dir: Path | None,
    as_json: bool,
    batch_size: int,
) -> None:
    """Reconcile the vendor's CDRs (THEIRS) with ours (OURS) for one carrier.

    Records are matched by call id where both sides give one, else by number and start
    time (within --start-window); every record is classified exact, within_tolerance,
    duration_mismatch, rate_mismatch (against our buy deck in force at the call's
    start), missing_ours, missing_theirs or duplicate, with the amount in dispute
    (what the vendor bills minus what our records and deck say).
    """
    from tandem.cli.progress import progress
    from tandem.rating.bookcache import load_rater
    from tandem.recon import Tolerances, read_side, reconcile, write_dispute
    from tandem.recon.numbers import check_country_code

    tolerances = Tolerances(start_window, duration_tolerance, _amount(amount_tolerance))
    cc = check_country_code(country_code)
    for path in dispute_files:  # refused before an hour's work, not after
        if path.suffix.lower() not in (".csv", ".xlsx"):
            raise ConfigError(f"--dispute {os.fspath(path)!r}: name it .csv or .xlsx")
        if not path.resolve().parent.is_dir():
            raise OutputError(f"--dispute {os.fspath(path)!r}: no such directory")
    sides = []
    for name, path, form, zone, pairs, code, comma in (
        ("ours", ours, our_format, our_timezone, our_map_column, None, False),
        ("theirs", theirs, fmt, timezone, map_column, cc, decimal_comma),
    ):
        from tandem.rating.cdr import CdrReader

        total = cdr_count(CdrReader(format=form, timezone=zone), path) if path.exists() else None
        label = "reading our CDRs" if name == "ours" else "reading the vendor's CDRs"
        with progress(label, total, enabled=ctx.show_progress) as bar:
            sides.append(
                read_side(
                    path,
                    name=name,
                    format=form,
                    timezone=zone,
                    column_map=_column_map(pairs),
                    country_code=code,
                    decimal_comma=comma,
                    batch_size=batch_size,
                    on_batch=bar.advance,
                )
            )
    rater, _schedule = load_rater(ctx.db, lambda: ctx.store)
    with progress("matching and pricing", None, enabled=ctx.show_progress):
        recon = reconcile(sides[0], sides[1], carrier, rater, tolerances)
    for path in dispute_files:
        write_dispute(recon, path)
    if report_dir is not None:
        from tandem.recon.report import write_report

        write_report(recon, report_dir)
    if as_json:
        click.echo(json.dumps(recon.as_json()))
        return
    if not ctx.quiet:
        _print_table(recon)
        left = []
        if recon.other_carriers:
            left.append(f"{recon.other_carriers} to other carriers")
        if recon.unanswered:
            left.append(f"{recon.unanswered} with 0 billable seconds")
        click.echo(
            f"our CDRs: {recon.ours} to {carrier}"
            + (f" (left out: {', '.join(left)})" if left else "")
            + f"; vendor CDRs: {recon.theirs}"
        )
        click.echo(
            "disputed = what the vendor bills minus what our records and deck say "
            f"(tolerances: start {tolerances.window} s, duration {tolerances.duration} s, "
            f"amount {Decimal(tolerances.amount).scaleb(-9).normalize():f})"
        )
        for path in dispute_files:
            click.echo(f"dispute file: {os.fspath(path)}")
