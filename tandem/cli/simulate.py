"""``tandem simulate``: replay a CDR history (or generated traffic) through the routing,
with scripted events, and price it; what-if against a candidate table or deck."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from tandem.cli.context import CliContext, global_options, pass_ctx
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

__all__ = ["simulate_command"]

_PATH = click.Path(dir_okay=False, path_type=Path)


def _column_map(pairs: tuple[str, ...]) -> dict[str, str] | None:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--map-column takes FIELD=COLUMN (e.g. number=called), got {pair!r}")
        k, v = pair.split("=", 1)
        out[k.strip()] = v.strip()
    return out or None


@global_options
@click.command("simulate")
@click.argument("cdrs", required=False, type=_PATH)
@cdr_format_option()
@cdr_timezone_option(" (Asterisk/FreeSWITCH local time)")
@cdr_map_column_option("start, duration, number, customer, call_id")
@cdr_account_map_option()
@click.option("--customer", help="Customer for CDRs that name none (e.g. FreeSWITCH, plain CSV).")
@cdr_batch_size_option()
@click.option(
    "--generate", "generate", type=click.IntRange(min=1), metavar="N",
    help="Replay N generated calls (tandem.sim.generate_traffic, seeded) instead of CDRS.",
)  # fmt: skip
@click.option("--days", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --generate: days of traffic.")  # fmt: skip
@click.option("--customers", type=click.IntRange(min=1), default=50, show_default=True,
              help="With --generate: customers.")  # fmt: skip
@click.option("--destinations", type=click.IntRange(min=1), default=200, show_default=True,
              help="With --generate: destinations.")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of generated traffic and of quality-collapse draws.")  # fmt: skip
@click.option(
    "--scenario",
    type=_PATH,
    metavar="FILE",
    help="Scenario TOML: [[events]] outages, quality collapses, deck changes.",
)
@click.option(
    "--table",
    "table_path",
    type=_PATH,
    metavar="FILE",
    help="Route every call with this compiled table (tandem compile).",
)
@click.option("--at", type=INSTANT, metavar="TIME",
              help=f"Route every call with the table in force at TIME ({INSTANT_FORMS}) "
              "(default: each call with the one in force at its start).")  # fmt: skip
@click.option(
    "--config",
    "config_path",
    type=_PATH,
    metavar="FILE",
    help="Routing config TOML (default: the store's routing plan in force).",
)
@click.option(
    "--vs",
    "vs_table",
    type=_PATH,
    metavar="FILE",
    help="What-if: replay again with this candidate table and compare.",
)
@click.option(
    "--vs-deck",
    "vs_deck",
    type=_PATH,
    metavar="FILE",
    help="What-if: replay again with this deck (not imported) as --carrier's rates.",
)
@click.option("--carrier", metavar="NAME", help="The carrier of --vs-deck.")
@click.option("--interval", type=click.IntRange(min=1), default=3600, show_default=True,
              help="Seconds per time bucket of the over-time table.")  # fmt: skip
@click.option(
    "--top",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Destinations listed in the what-if (largest margin change first).",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for CSV/Parquet tables and simulation.html.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--to-db",
    "to_db",
    is_flag=True,
    help="Load the replay's priced calls into the store's rated_cdrs (ids prefixed sim:, "
    "source 'simulation: ...'; the same simulation again replaces its rows).",
)
@pass_ctx
def simulate_command(
    ctx: CliContext,
    cdrs: Path | None,
    fmt: str,
    timezone: str,
    map_column: tuple[str, ...],
    map_file: Path | None,
    customer: str | None,
    batch_size: int,
    generate: int | None,
    days: int,
    customers: int,
    destinations: int,
    seed: int,
    scenario: Path | None,
    table_path: Path | None,
    at: int | None,
    config_path: Path | None,
    vs_table: Path | None,
    vs_deck: Path | None,
    carrier: str | None,
    interval: int,
    top: int,
    report_dir: Path | None,
    as_json: bool,
    to_db: bool,
) -> None:
    """Replay the CDRS history (any format `tandem rate` reads) or --generate N calls:
    every call routed at its own instant, worked through its routes like a proxy
    (failover codes, carrier capacity over time, scripted outages and quality collapses),
    answered calls priced buy and sell. With --vs / --vs-deck the same traffic is priced
    under a candidate too, and the destinations that change most are listed.
    """
    from tandem.cli.progress import progress
    from tandem.lcr.policy import load_config
    from tandem.rating.cdr import CdrReader, load_account_map
    from tandem.sim.run import read_cdrs, simulate
    from tandem.sim.scenario import load_scenario

    if (cdrs is None) == (generate is None):
        raise click.UsageError("give a CDR file (CDRS) or --generate N, one of them")
    if table_path is not None and at is not None:
        raise click.UsageError("--table and --at exclude each other")
    if vs_table is not None and vs_deck is not None:
        raise click.UsageError("--vs and --vs-deck exclude each other")
    if (vs_deck is None) != (carrier is None):
        raise click.UsageError("--vs-deck FILE needs --carrier NAME, and --carrier goes with it")
    loaded = load_scenario(scenario) if scenario is not None else None  # before any work
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
    config = load_config(config_path) if config_path is not None else None
    customer_map, carrier_map = load_account_map(map_file) if map_file else (None, None)
    reader = CdrReader(
        format=fmt,
        timezone=timezone,
        column_map=_column_map(map_column),
        customer=customer,
        customer_map=customer_map,
        carrier_map=carrier_map,
        batch_size=batch_size,
    )
    if cdrs is not None:
        if not cdrs.exists():
            raise CdrError(f"no such CDR file: {os.fspath(cdrs)}")
        traffic = read_cdrs(cdrs, reader)
    else:
        from tandem.sim.generate import generate_traffic

        assert generate is not None
        traffic = read_cdrs(
            generate_traffic(
                seed, calls=generate, days=days, customers=customers, destinations=destinations
            ),
            reader,
        )
    from tandem.rating.bookcache import load_rater

    rater, _schedule = load_rater(ctx.db, lambda: ctx.store)  # cached beside a SQLite store
    runs = 2 if (vs_table or vs_deck) else 1
    with progress("simulating", traffic.num_rows * runs, enabled=ctx.show_progress) as bar:
        result = simulate(
            traffic,
            ctx.store,
            scenario=loaded,
            table=table_path,
            at=at,
            config=config,
            vs_table=vs_table,
            vs_deck=vs_deck,
            carrier=carrier,
            seed=seed,
            interval=interval,
            rater=rater,
            on_progress=bar.advance,
        )
    out = result.as_json(top)
    if to_db:
        label = os.fspath(cdrs) if cdrs is not None else f"generated seed {seed}"
        load = ctx.store.load_rated([result.warehouse_table()], source=f"simulation: {label}")
        out["warehouse"] = {"rows": load.rows, "replaced": load.replaced}
    if report_dir is not None:
        from tandem.sim.report import write_report

        write_report(report_dir, result.as_json(None))
    if as_json:
        click.echo(json.dumps(out))
        return
    if not ctx.quiet:
        _print(out)
        if to_db:
            w = out["warehouse"]
            click.echo(f"warehouse: {w['rows']} priced calls loaded, {w['replaced']} rows replaced")


def _print(out: dict[str, Any]) -> None:
    """The result for a person: totals, per carrier, blocked, what-if."""
    t = out["totals"]
    click.echo(
        f"{out['calls']} calls: {out['carried']} carried, {out['unanswered']} unanswered; "
        f"{t['minutes']} min, cost {t['cost']}, revenue {t['revenue']}, margin {t['margin']}"
        f" {'/'.join(out['currency'])}"
    )
    _table(
        out["by_carrier"],
        ["carrier", "offered", "carried", "failovers", "minutes", "cost", "revenue", "margin"],
    )
    for reason, count in out["blocked"].items():
        click.echo(f"not carried: {reason} {count}")
    for reason, count in out["unrated"].items():
        click.echo(f"carried but not priced: {reason} {count}")
    w = out.get("whatif")
    if w is not None:
        click.echo(
            f"what-if: cost {w['base']['cost']} -> {w['candidate']['cost']} "
            f"({w['delta']['cost']}), margin {w['base']['margin']} -> "
            f"{w['candidate']['margin']} ({w['delta']['margin']}); "
            f"{w['changed_destinations']} destination(s) change"
        )
        _table(
            w["destinations"],
            ["destination", "name", "calls", "base_carrier", "candidate_carrier",
             "cost_delta", "margin_delta"],
        )  # fmt: skip


def _table(rows: list[dict[str, Any]], cols: list[str]) -> None:
    if not rows:
        return
    cells = [cols] + [[str(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
