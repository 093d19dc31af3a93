"""``tandem compile`` and ``tandem route``: compiled routing tables and routing decisions."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import click

from tandem.cli.main import CliContext, cli, pass_ctx
from tandem.cli.progress import progress

__all__ = ["compile_command", "route_command"]


def _instant(at: str | None) -> int:
    """The CLI's edge default: no --at means now (UTC), said out loud in the output."""
    from tandem.lcr.table import epoch

    if at is None:
        return int(time.time())
    return epoch(at)


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@click.command("compile")
@click.option(
    "--at", "at", metavar="TIME", help="Instant to compile for: ISO 8601 with zone or epoch "
    "seconds (default: now, UTC)."
)  # fmt: skip
@click.option(
    "-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="Snapshot file to write (e.g. routes.tdm).",
)  # fmt: skip
@pass_ctx
def compile_command(ctx: CliContext, at: str | None, output: Path) -> None:
    """Compile the rates in force at TIME into a routing-table snapshot file."""
    t = _instant(at)
    started = time.perf_counter()
    with progress("compiling routing table", 2, enabled=ctx.show_progress) as bar:
        table = ctx.store.compile(at=t)
        bar.advance()
        table.save(output)
        bar.advance()
    if not ctx.quiet:
        click.echo(
            f"{output}: {table.prefix_count} prefixes, {len(table.carriers)} carriers, "
            f"{len(table.customers)} customers, {table.route_count} routes; compiled at "
            f"{_iso(t)}, valid {table.validity_text()} "
            f"({time.perf_counter() - started:.2f} s)"
        )


@click.command("route")
@click.argument("number")
@click.option("--customer", metavar="NAME", help="Customer (account name).")
@click.option("--source-ip", "source_ip", metavar="IP", help="Identify the customer's trunk.")
@click.option("--at", "at", metavar="TIME", help="Call start instant (default: now, UTC).")
@click.option(
    "--table", "table_path", type=click.Path(dir_okay=False, path_type=Path),
    help="Snapshot from `tandem compile` (default: compile from the store at TIME).",
)  # fmt: skip
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
    help="Routing config TOML: plans, carriers, translation, trunks.",
)  # fmt: skip
@click.option("--call-id", "call_id", metavar="ID", help="Call id (stable weighted splits).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--explain", is_flag=True, help="Say why each carrier is where it is.")
@pass_ctx
def route_command(
    ctx: CliContext,
    number: str,
    customer: str | None,
    source_ip: str | None,
    at: str | None,
    table_path: Path | None,
    config_path: Path | None,
    call_id: str | None,
    as_json: bool,
    explain: bool,
) -> None:
    """Decide the routes for one call to NUMBER."""
    from tandem.errors import ConfigError
    from tandem.lcr.policy import RoutingConfig, load_config
    from tandem.lcr.router import Router
    from tandem.lcr.table import RoutingTable

    if customer is None and source_ip is None:
        raise ConfigError("say who is calling: --customer NAME or --source-ip IP")
    t = _instant(at)
    table = RoutingTable.load(table_path) if table_path else ctx.store.compile(at=t)
    config = load_config(config_path) if config_path else RoutingConfig()
    decision = Router(table, plan=config).route(
        number, customer=customer, source_ip=source_ip, at=t, call_id=call_id
    )
    if as_json:
        click.echo(decision.to_json())
        return
    if explain:
        click.echo(decision.explain())
        return
    _print_table(decision)


def _print_table(decision) -> None:  # type: ignore[no-untyped-def]
    from tandem.money import format_money

    head = f"{decision.number} -> {decision.normalized}"
    if decision.routing_number:
        head += f" (routing number {decision.routing_number})"
    click.echo(f"{head}   customer {decision.customer}   at {_iso(decision.at)}")
    if decision.sell_rate_scaled is not None:
        click.echo(
            f"sell {format_money(decision.sell_rate_scaled)}/min (prefix {decision.sell_prefix})"
        )
    if decision.blocked:
        click.echo(f"BLOCKED: {decision.reason}")
    rows = [("#", "carrier", "trunk", "prefix", "rate", "connect_fee", "margin")]
    for i, r in enumerate(decision.routes, 1):
        margin = "" if r.margin is None else format_money(r.margin)
        rows.append(
            (
                str(i), r.carrier, r.trunk, r.prefix or "-", format_money(r.rate),
                format_money(r.connect_fee), margin,
            )
        )  # fmt: skip
    if len(rows) > 1:
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    for d in decision.dropped:
        click.echo(f"dropped {d.carrier}: {d.reason}")


cli.add_command(compile_command)
cli.add_command(route_command)
