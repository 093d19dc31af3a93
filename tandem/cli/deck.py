"""``tandem deck``: import, list, show, diff, export and delete rate decks."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

from tandem.cli.context import CliContext, global_options, pass_ctx
from tandem.cli.options import INSTANT, INSTANT_FORMS
from tandem.cli.progress import progress
from tandem.csvcells import neutralise_cell
from tandem.errors import DeckError, DeckRejectedError, UnknownCarrierError, UnknownCustomerError
from tandem.files import atomic_write
from tandem.instant import format_instant, now_instant
from tandem.money import format_money

if TYPE_CHECKING:
    import pandas as pd

    from tandem.decks.importer import DeckImport
    from tandem.store import AccountInfo, DeckDeletion

__all__ = ["deck_group", "print_deletion", "print_import_report"]

#: Files above this size get a progress bar on a terminal.
_PROGRESS_BYTES = 1 << 20


def _emit(obj: object) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2))


def _kind_of(carrier: bool, customer: bool) -> str | None:
    if carrier and customer:
        raise click.UsageError("say --carrier or --customer, not both")
    return "carrier" if carrier else "customer" if customer else None


def _resolve(ctx: CliContext, name: str, kind: str | None) -> AccountInfo:
    found = ctx.store.find_account(name, kind)
    if found is None:
        known = ", ".join(a.name for a in ctx.store.accounts(kind)) or "none yet"
        if kind == "customer":
            raise UnknownCustomerError(f"no customer {name!r} (known: {known})")
        raise UnknownCarrierError(
            f"no {'carrier' if kind else 'carrier or customer'} {name!r} (known: {known})"
        )
    return found


@click.group("deck")
def deck_group() -> None:
    """Rate decks: import vendor and customer decks, list, show, diff, export and delete them."""


_account_options = [
    click.option("--carrier", "carrier_flag", is_flag=True, help="NAME is a carrier."),
    click.option("--customer", "customer_flag", is_flag=True, help="NAME is a customer."),
]


_Command = TypeVar("_Command", bound=Callable[..., Any])


def _with_account_kind(f: _Command) -> _Command:
    for option in reversed(_account_options):
        f = option(f)
    return f


@global_options
@deck_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--carrier", metavar="NAME", help="Import as this carrier's (vendor's) buy deck.")
@click.option("--customer", metavar="NAME", help="Import as this customer's sell deck.")
@click.option(
    "--effective", type=INSTANT, metavar="DATE",
    help=f"The deck's effective date (rows may override): {INSTANT_FORMS}.",
)  # fmt: skip
@click.option(
    "--mode",
    type=click.Choice(["full", "delta"]),
    default="full",
    show_default=True,
    help="full: an A-Z deck, unlisted codes close; delta: only the listed codes change.",
)
@click.option(
    "--map",
    "mapping",
    multiple=True,
    metavar="COLUMN=FIELD",
    help="Name a column's field (prefix, destination, rate, effective_from, increment, "
    "initial_increment, next_increment, connect_fee, min_duration, change, ignore).",
)
@click.option(
    "--currency", metavar="CODE", help="ISO currency (default: from the header, else USD)."
)
@click.option("--decimal-comma", is_flag=True, help="Rates are written 0,0123.")
@click.option("--dayfirst", "day_first", flag_value=True, default=None, help="01/12/2026 is 1 Dec.")
@click.option("--monthfirst", "day_first", flag_value=False, help="01/12/2026 is 12 Jan.")
@click.option("--date-format", metavar="FMT", help="strftime format of the dates, e.g. %d%m%Y.")
@click.option(
    "--timezone", metavar="ZONE", is_eager=True,
    help="IANA zone of dates without one, in the deck and in --effective/--now (default UTC).",
)  # fmt: skip
@click.option("--sheet", metavar="NAME", help="XLSX worksheet (default: the first with a header).")
@click.option(
    "--allow-suspicious", is_flag=True, help="Accept rates over 1000x the median (warn only)."
)
@click.option(
    "--notice-days",
    type=click.IntRange(min=0),
    default=7,
    show_default=True,
    help="Notice an increase needs; sooner increases are flagged.",
)
@click.option(
    "--now", type=INSTANT, metavar="TIME",
    help=f"Pin the import instant: {INSTANT_FORMS} (default: the clock).",
)  # fmt: skip
@click.option(
    "--decimals",
    type=click.IntRange(0, 9),
    default=4,
    show_default=True,
    help="Decimals the contract rounds charges to.",
)
@click.option(
    "--rounding",
    default="half-up",
    show_default=True,
    help="Rounding mode: half-up, half-even, up, ceiling, down, floor.",
)
@click.option(
    "--max-file-bytes",
    type=click.IntRange(min=1),
    metavar="N",
    help="Largest deck file read, in bytes (default 536870912, 512 MiB); larger are refused.",
)
@click.option("--dry-run", is_flag=True, help="Validate and diff, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def deck_import(
    ctx: CliContext,
    file: Path,
    carrier: str | None,
    customer: str | None,
    effective: int | None,
    mode: str,
    mapping: tuple[str, ...],
    currency: str | None,
    decimal_comma: bool,
    day_first: bool | None,
    date_format: str | None,
    timezone: str | None,
    sheet: str | None,
    allow_suspicious: bool,
    notice_days: int,
    now: int | None,
    decimals: int,
    rounding: str,
    max_file_bytes: int | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Import FILE (CSV or XLSX) as a new deck version of a carrier or a customer.

    The whole version is stored or nothing: when any row is rejected the command lists
    every rejected row (line, column, reason) and exits with status 1.
    """
    from tandem.decks.importer import import_deck
    from tandem.decks.parse import DeckOptions
    from tandem.decks.read import MAX_DECK_BYTES
    from tandem.money import Rounding

    account = carrier or customer
    if not account or (carrier and customer):
        raise click.UsageError("give exactly one of --carrier NAME or --customer NAME")
    kind = "carrier" if carrier else "customer"
    Rounding.parse(rounding)
    options = DeckOptions(
        mapping=list(mapping),
        currency=currency,
        decimal_comma=decimal_comma,
        day_first=day_first,
        date_format=date_format,
        timezone=timezone,
        effective=effective,
        allow_suspicious=allow_suspicious,
        sheet=sheet,
        max_file_bytes=max_file_bytes or MAX_DECK_BYTES,
    )
    big = file.is_file() and file.stat().st_size > _PROGRESS_BYTES
    steps = ["reading", "comparing", "writing"]
    try:
        with progress(
            f"Importing {file.name}", len(steps), enabled=ctx.show_progress and big
        ) as bar:
            report = import_deck(
                ctx.store,
                file,
                account=account,
                kind=kind,
                mode=mode,
                options=options,
                now=now,
                notice_days=notice_days,
                dry_run=dry_run,
                decimals=decimals,
                rounding=str(Rounding.parse(rounding)),
                on_step=lambda _s: bar.advance(1),
            )
    except DeckRejectedError as exc:
        report = exc.result
        if as_json:
            _emit(report.to_dict())
        else:
            print_import_report(report)
            click.echo(f"tandem: refused: {exc}", err=True)
        sys.exit(1)
    except DeckError as exc:
        if as_json:
            _emit({"error": str(exc), "refused": True, "written": False})
            click.echo(f"tandem: error: {exc}", err=True)
            sys.exit(2)
        raise
    if as_json:
        _emit(report.to_dict())
    else:
        print_import_report(report)


def _echo_codes(name: str, codes: list[str], limit: int = 30) -> None:
    """One line of codes, the first ``limit`` of them (--json has them all)."""
    if not codes:
        return
    more = f" ... (+{len(codes) - limit}; --json lists all)" if len(codes) > limit else ""
    click.echo(f"  {name}: {' '.join(codes[:limit])}{more}")


def print_import_report(report: DeckImport) -> None:
    """What one deck import read, changed, flagged, rejected and stored, for a person."""
    p = report.parsed
    where = f"{p.format}, header on line {p.header_line}"
    click.echo(
        f"{report.kind} {report.account}: {p.source_name} ({where}), {p.currency}, "
        f"effective {format_instant(p.effective_from)}, mode {report.mode}"
    )
    click.echo(
        f"  rows read {p.rows_read}, codes accepted {p.accepted}, rejected {len(p.rejected)}"
    )
    counts = report.diff.counts()
    click.echo("  diff: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()))
    for name in ("new", "increased", "decreased", "closed"):
        _echo_codes(name, getattr(report.diff, name))
    for flag in report.diff.short_notice:
        click.echo(
            f"  SHORT NOTICE: {flag.prefix} {format_money(flag.old_rate)} -> "
            f"{format_money(flag.new_rate)} from {format_instant(flag.effective_from)} "
            f"({flag.notice_seconds / 86400:.1f} days < {report.diff.notice_days})"
        )
    for warning in p.warnings:
        click.echo(f"  warning: {warning}")
    for rejection in p.rejected:
        click.echo(f"  REJECTED {rejection}")
    if report.version is not None:  # written
        v = report.version
        click.echo(f"  stored as version {v.version} (deck id {v.id})")
    elif report.dry_run and not report.refused:
        click.echo("  dry run: nothing written")


@global_options
@deck_group.command("list")
@_with_account_kind
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def deck_list(ctx: CliContext, carrier_flag: bool, customer_flag: bool, as_json: bool) -> None:
    """List every stored deck version (oldest first per account)."""
    kind = _kind_of(carrier_flag, customer_flag)
    decks = ctx.store.decks(kind=kind)
    rows = [
        {
            "account": d.account,
            "kind": d.kind,
            "version": d.version,
            "mode": d.mode,
            "currency": d.currency,
            "effective_from": format_instant(d.effective_from),
            "imported_at": format_instant(d.imported_at),
            "codes": d.row_count,
            "decimals": d.decimals,
            "rounding": d.rounding,
            "timezone": d.timezone,
            "source": d.source_name,
            "sha256": d.source_sha256,
            "deck_id": d.id,
        }
        for d in decks
    ]
    if as_json:
        _emit({"decks": rows})
        return
    if not rows:
        click.echo("no decks yet: import one with 'tandem deck import FILE --carrier NAME'")
        return
    click.echo(
        f"{'ACCOUNT':<16} {'KIND':<8} {'VER':>3} {'MODE':<5} {'CUR':<3} "
        f"{'EFFECTIVE':<20} {'CODES':>8}  SOURCE"
    )
    for r in rows:
        click.echo(
            f"{r['account']:<16} {r['kind']:<8} {r['version']:>3} {r['mode']:<5} "
            f"{r['currency']:<3} {r['effective_from']:<20} {r['codes']:>8}  {r['source']}"
        )


def _rate_rows(frame: pd.DataFrame) -> list[dict[str, object]]:
    from tandem.store import OPEN_END

    out = []
    for r in frame.itertuples(index=False):
        out.append(
            {
                "prefix": r.prefix,
                "destination": r.destination,
                "rate": format_money(int(r.rate)),
                "connect_fee": format_money(int(r.connect_fee)),
                "initial_increment": int(r.initial_increment),
                "next_increment": int(r.next_increment),
                "min_duration": int(r.min_duration),
                "effective_from": format_instant(int(r.effective_from)),
                "effective_until": None
                if int(r.effective_until) == OPEN_END
                else format_instant(int(r.effective_until)),
                "version": int(r.version),
            }
        )
    return out


@global_options
@deck_group.command("show")
@click.argument("name")
@_with_account_kind
@click.option(
    "--at", "at", type=INSTANT, metavar="TIME",
    help=f"Rates in force at TIME: {INSTANT_FORMS} (default: now).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def deck_show(
    ctx: CliContext,
    name: str,
    carrier_flag: bool,
    customer_flag: bool,
    at: int | None,
    as_json: bool,
) -> None:
    """Show NAME's rates in force at an instant."""
    account = _resolve(ctx, name, _kind_of(carrier_flag, customer_flag))
    at_s = now_instant() if at is None else at  # the edge's default, printed below
    frame = ctx.store.rates(kind=account.kind, accounts=[account.name], at=at_s)
    rows = _rate_rows(frame)
    currency = frame["currency"].iloc[0] if len(frame) else None
    if as_json:
        _emit(
            {
                "account": account.name,
                "kind": account.kind,
                "at": format_instant(at_s),
                "currency": currency,
                "rates": rows,
            }
        )
        return
    click.echo(
        f"{account.kind} {account.name}: {len(rows)} codes in force at {format_instant(at_s)}"
        + (f" ({currency})" if currency else "")
    )
    for r in rows:
        click.echo(
            f"  {r['prefix']:<12} {r['rate']:>12} {r['initial_increment']}/{r['next_increment']:<5}"
            f" fee {r['connect_fee']:<8} {r['destination']}"
        )


@global_options
@deck_group.command("diff")
@click.argument("name")
@_with_account_kind
@click.option(
    "--notice-days",
    type=click.IntRange(min=0),
    default=7,
    show_default=True,
    help="Notice an increase needs; sooner increases are flagged.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def deck_diff(
    ctx: CliContext,
    name: str,
    carrier_flag: bool,
    customer_flag: bool,
    notice_days: int,
    as_json: bool,
) -> None:
    """Compare NAME's latest deck version with the versions before it."""
    from tandem.decks.importer import diff_versions

    account = _resolve(ctx, name, _kind_of(carrier_flag, customer_flag))
    diff, latest, previous = diff_versions(
        ctx.store, account.name, account.kind, notice_days=notice_days
    )
    if as_json:
        _emit(
            {
                "account": account.name,
                "kind": account.kind,
                "version": latest.version,
                "previous_version": None if previous is None else previous.version,
                "diff": diff.to_dict(),
            }
        )
        return
    against = f"version {previous.version}" if previous else "nothing (first version)"
    click.echo(f"{account.kind} {account.name}: version {latest.version} against {against}")
    click.echo("  " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in diff.counts().items()))
    for field_name in ("new", "increased", "decreased", "closed"):
        _echo_codes(field_name, getattr(diff, field_name))
    for flag in diff.short_notice:
        click.echo(
            f"  SHORT NOTICE: {flag.prefix} {format_money(flag.old_rate)} -> "
            f"{format_money(flag.new_rate)} from {format_instant(flag.effective_from)}"
        )


#: Columns of ``tandem deck export`` (spellings ``tandem deck import`` reads back).
EXPORT_HEADER = [
    "Code",
    "Destination",
    "Rate",
    "Connection Fee",
    "Initial Increment",
    "Next Increment",
    "Minimum Duration",
    "Effective Date",
]


def _write_csv(fh: IO[str], header: list[str], rows: list[list[Any]]) -> None:
    """The export's CSV: ``\\n`` line ends; a row whose text holds a carriage return is
    quoted whole (the csv module quotes only the line terminator's characters)."""
    plain = csv.writer(fh, lineterminator="\n")
    quoted = csv.writer(fh, lineterminator="\n", quoting=csv.QUOTE_ALL)
    plain.writerow(header)
    for row in rows:
        (quoted if "\r" in row[1] else plain).writerow(row)


@global_options
@deck_group.command("export")
@click.argument("name")
@_with_account_kind
@click.option(
    "--at", "at", type=INSTANT, required=True, metavar="TIME",
    help=f"Rates in force at TIME: {INSTANT_FORMS}.",
)  # fmt: skip
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV file to write ('-' for stdout).",
)
@pass_ctx
def deck_export(
    ctx: CliContext, name: str, carrier_flag: bool, customer_flag: bool, at: int, output: Path
) -> None:
    """Write NAME's rates in force at TIME as a CSV deck (re-importable)."""
    account = _resolve(ctx, name, _kind_of(carrier_flag, customer_flag))
    frame = ctx.store.rates(kind=account.kind, accounts=[account.name], at=at)
    rows = [
        [
            r.prefix,
            neutralise_cell(r.destination),  # a text cell: never a spreadsheet formula
            format_money(int(r.rate)),
            format_money(int(r.connect_fee)),
            int(r.initial_increment),
            int(r.next_increment),
            int(r.min_duration),
            format_instant(int(r.effective_from)),
        ]
        for r in frame.itertuples(index=False)
    ]
    currency = frame["currency"].iloc[0] if len(frame) else None
    header = list(EXPORT_HEADER)
    if currency:
        header[2] = f"Rate ({currency})"
    if str(output) == "-":
        _write_csv(sys.stdout, header, rows)
        return
    try:
        # Whole or not at all: a full disk or a kill leaves the previous file as it was.
        with atomic_write(output, newline="") as fh:
            _write_csv(fh, header, rows)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise DeckError(
            f"cannot write {os.fspath(output)!r}: {reason} (nothing written; "
            "a file already there is unchanged)"
        ) from None
    click.echo(
        f"{output}: {len(rows)} codes of {account.kind} {account.name} ({currency}) "
        f"in force at {format_instant(at)}",
        err=True,
    )


def print_deletion(deletion: DeckDeletion) -> None:
    """What deleting one deck version removed, gave back and left, for a person."""
    d = deletion
    click.echo(
        f"{d.kind} {d.account}: version {d.version} ({d.source_name or 'no source'}, "
        f"effective {format_instant(d.effective_from)}, mode {d.mode})"
    )
    click.echo(
        f"  rates deleted {d.rates_deleted}, closed codes deleted {d.closes_deleted}, "
        f"earlier rates given back their end {d.rates_restored}"
    )
    later = ", ".join(str(v) for v in d.later_versions) or "none"
    since = "never" if d.in_force_from is None else format_instant(d.in_force_from)
    click.echo(f"  later versions: {later}; in force from: {since}")
    if d.forced:
        click.echo("  forced: deleted although something depends on it (--force)")
    if d.account_deleted:
        click.echo(f"  no version left: {d.kind} {d.account} is removed too")
    click.echo("  dry run: nothing written" if d.dry_run else "  deleted")


def _deletion_dict(d: DeckDeletion) -> dict[str, object]:
    return {
        "account": d.account,
        "kind": d.kind,
        "version": d.version,
        "deck_id": d.deck_id,
        "source": d.source_name,
        "mode": d.mode,
        "effective_from": format_instant(d.effective_from),
        "rates_deleted": d.rates_deleted,
        "closes_deleted": d.closes_deleted,
        "rates_restored": d.rates_restored,
        "later_versions": d.later_versions,
        "in_force_from": None if d.in_force_from is None else format_instant(d.in_force_from),
        "account_deleted": d.account_deleted,
        "forced": d.forced,
        "dry_run": d.dry_run,
        "written": d.written,
        "refused": False,
    }


@global_options
@deck_group.command("delete")
@click.argument("name")
@_with_account_kind
@click.option(
    "--version", "version", type=click.IntRange(min=1), required=True, metavar="N",
    help="The stored version to delete (tandem deck list shows them).",
)  # fmt: skip
@click.option(
    "--force",
    is_flag=True,
    help="Delete even when later versions or possibly rated CDRs depend on it.",
)
@click.option(
    "--now", type=INSTANT, metavar="TIME",
    help=f"Judge 'in force before now' at TIME: {INSTANT_FORMS} (default: the clock).",
)  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Show what would change, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def deck_delete(
    ctx: CliContext,
    name: str,
    carrier_flag: bool,
    customer_flag: bool,
    version: int,
    force: bool,
    now: int | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Delete version N of NAME's deck, as if it had never been imported.

    The account's other rates get back the windows the version cut (deleting the latest
    version restores the store exactly as it was before that import). Refused, nothing
    changed, when later versions were imported over it or when its rates have been in
    force before now (CDRs may have been rated with them), unless --force.
    """
    from tandem.decks.delete import delete_deck

    account = _resolve(ctx, name, _kind_of(carrier_flag, customer_flag))
    now_s = now_instant() if now is None else now  # the edge's default, in --json
    try:
        deletion = delete_deck(
            ctx.store,
            account.name,
            account.kind,
            version,
            force=force,
            dry_run=dry_run,
            now=now_s,
        )
    except DeckError as exc:
        if as_json:
            _emit({"error": str(exc), "refused": True, "written": False})
            click.echo(f"tandem: error: {exc}", err=True)
            sys.exit(2)
        raise
    if as_json:
        _emit(dict(_deletion_dict(deletion), now=format_instant(now_s)))
    elif not ctx.quiet:
        print_deletion(deletion)
