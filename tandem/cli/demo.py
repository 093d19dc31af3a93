"""``tandem demo``: the main job on the bundled sample data, end to end.

Imports the sample decks into the store (SQLite ``./tandem.db`` unless ``--db``), routes
the sample calls and prices the sample CDRs, buy and sell side, as listed in a TOML
manifest (``data/demo.toml``). Each step calls the library (:func:`tandem.decks.import_deck`,
:class:`tandem.lcr.Router`, :func:`tandem.rating.rate_file`) and prints what the matching
command (``deck import``, ``route``, ``rate``) prints.
"""

from __future__ import annotations

import hashlib
import sys
import tomllib
from pathlib import Path
from typing import Any

import click

from tandem.cli.context import CliContext, global_options, pass_ctx
from tandem.cli.deck import print_import_report
from tandem.cli.options import INSTANT, INSTANT_FORMS
from tandem.cli.plan import print_plan_import
from tandem.cli.progress import progress
from tandem.cli.rate import cdr_count, print_summary
from tandem.cli.route import print_decision
from tandem.errors import CdrError, ConfigError, DeckRejectedError
from tandem.instant import now_instant

__all__ = ["demo_command", "bundled_data_dir"]


def bundled_data_dir() -> Path:
    """The ``data/`` directory beside the package (a source checkout or editable install)."""
    return Path(__file__).resolve().parents[2] / "data"


def _manifest(path: Path | None) -> tuple[Path, dict[str, Any]]:
    path = path or bundled_data_dir() / "demo.toml"
    if not path.is_file():
        raise ConfigError(
            f"demo manifest {path} not found: run from a Tandem checkout "
            "(pip install -e .) or pass --manifest FILE"
        )
    try:
        return path, tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _field(table: dict[str, Any], key: str, where: str) -> Any:
    """A required manifest field, or a ConfigError that names it."""
    if key not in table:
        raise ConfigError(f"demo manifest: {where} needs {key!r}")
    return table[key]


def _already_stored(ctx: CliContext, file: Path, account: str, kind: str) -> bool:
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    versions = ctx.store.decks(account=account, kind=kind)
    return bool(versions) and versions[-1].source_sha256 == digest


def _heading(text: str) -> None:
    click.echo()
    click.secho(f"== {text}", bold=True)


def _import_decks(ctx: CliContext, base: Path, decks: list[dict[str, Any]]) -> None:
    """Step 1: each deck as a new version of its carrier or customer, unless already stored.

    A refused deck prints its report and ends the demo with status 1, as ``deck import`` does.
    """
    from tandem.decks import DeckOptions, import_deck

    for entry in decks:
        file = base / _field(entry, "file", "[[decks]]")
        if not file.is_file():
            raise ConfigError(f"demo manifest: deck file {file} not found")
        if "carrier" not in entry and "customer" not in entry:
            raise ConfigError("demo manifest: [[decks]] needs 'carrier' or 'customer'")
        kind = "carrier" if "carrier" in entry else "customer"
        account = entry[kind]
        click.echo(f"-- {file.name} as {kind} {account}")
        if _already_stored(ctx, file, account, kind):
            click.echo("   already imported (same SHA-256 as the latest version); skipped")
            continue
        options = DeckOptions(decimal_comma=bool(entry.get("decimal_comma", False)))
        try:
            report = import_deck(ctx.store, file, account=account, kind=kind, options=options)
        except DeckRejectedError as exc:
            print_import_report(exc.result)
            click.echo(f"tandem: refused: {exc}", err=True)
            sys.exit(1)
        print_import_report(report)


def _import_plan(ctx: CliContext, file: Path, effective: str | int | None) -> None:
    """Step 1b: the routing plan as a new version in force from ``effective`` (default: now),
    unless the version in force then is the same file (same SHA-256)."""
    from tandem.lcr.plans import import_plan

    if not file.is_file():
        raise ConfigError(f"demo manifest: routing plan {file} not found")
    click.echo(f"-- {file.name} as the routing plan")
    print_plan_import(import_plan(ctx.store, file, kind="routing", effective=effective))


def _route_calls(ctx: CliContext, routing: dict[str, Any], at: int | None) -> None:
    """Step 2: route each sample number for the customer, on the rates and the routing plan
    in force at ``at``."""
    from tandem.lcr import Router, compile_table

    numbers = routing.get("numbers", [])
    if not numbers:
        return
    customer = _field(routing, "customer", "[route]")
    t = now_instant() if at is None else at  # the edge's default, printed in each decision
    table = compile_table(ctx.store, t)
    router = Router(table)  # with the routing plan compiled into the table
    for number in numbers:
        click.echo()
        print_decision(router.route(number, customer=customer, at=t))


def _rate_cdrs(ctx: CliContext, base: Path, rating: dict[str, Any], out_dir: Path) -> None:
    """Step 3: price the sample CDRs, buy and sell side, into ``out_dir``."""
    from tandem.rating import CdrReader, Rater, RatingReport, rate_file
    from tandem.rating.cdr import load_account_map

    cdrs = base / _field(rating, "cdrs", "[rate]")
    if not cdrs.exists():
        raise CdrError(f"no such CDR file: {cdrs}")
    customer_map, carrier_map = (
        load_account_map(base / rating["map"]) if "map" in rating else (None, None)
    )
    reader = CdrReader(
        format=rating.get("format", "auto"), customer_map=customer_map, carrier_map=carrier_map
    )
    rater = Rater.from_store(ctx.store)
    report = RatingReport()
    out_dir.mkdir(parents=True, exist_ok=True)
    with progress("rating CDRs", cdr_count(reader, cdrs), enabled=ctx.show_progress) as bar:
        summary = rate_file(
            cdrs, out_dir / "rated.parquet", rater, reader=reader, report=report,
            on_batch=bar.advance,
        )  # fmt: skip
    report.write(out_dir / "report")
    if not ctx.quiet:
        print_summary(summary, report)


@global_options
@click.command("demo")
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Demo manifest TOML (default: the bundled data/demo.toml).",
)
@click.option(
    "--at", "at", type=INSTANT, metavar="TIME",
    help=f"Route at this instant: {INSTANT_FORMS} (default: now).",
)  # fmt: skip
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("tandem-demo"),
    show_default=True,
    help="Directory for the rated CDRs and reports.",
)
@pass_ctx
def demo_command(ctx: CliContext, manifest: Path | None, at: int | None, out_dir: Path) -> None:
    """Import the sample decks, route sample calls and rate sample CDRs."""
    path, spec = _manifest(manifest)
    base = path.parent
    click.echo(f"store: {ctx.store.url}")

    _heading("1. import rate decks and the routing plan")
    _import_decks(ctx, base, spec.get("decks", []))
    if "config" in spec:
        _import_plan(ctx, base / spec["config"], spec.get("plan_effective"))

    routing = spec.get("route", {})
    _heading(f"2. route calls for {routing.get('customer')}")
    _route_calls(ctx, routing, at)

    rating = spec.get("rate")
    if rating:
        _heading(f"3. rate CDRs from {_field(rating, 'cdrs', '[rate]')}")
        _rate_cdrs(ctx, base, rating, out_dir)
        click.echo(f"\nrated CDRs, unrated CDRs and reports are in {out_dir}/")
