"""``tandem enum``: ENUM / number portability lookups and the local portability table."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tandem.cli.context import CliContext, global_options, pass_ctx
from tandem.cli.progress import progress
from tandem.errors import EnumLookupError

if TYPE_CHECKING:
    from tandem.enum import EnumResult

__all__ = ["enum_group"]


@click.group("enum")
def enum_group() -> None:
    """ENUM (RFC 6116) and number portability lookups."""


@global_options
@enum_group.command("lookup")
@click.argument("number")
@click.option(
    "--server",
    "servers",
    multiple=True,
    metavar="HOST:PORT",
    help="DNS server to ask (repeatable, asked in turn; default: the system resolvers).",
)
@click.option(
    "--suffix",
    "suffixes",
    multiple=True,
    metavar="S",
    help="ENUM tree, tried in order (repeatable; default e164.arpa).",
)
@click.option(
    "--budget-ms",
    type=float,
    default=50.0,
    show_default=True,
    metavar="N",
    help="Total time budget of the lookup in milliseconds (all tries, servers, suffixes; "
    "above 0, at most 60000).",
)
@click.option("--local", "use_store", is_flag=True, help="Check the store's local table first.")
@click.option(
    "--local-csv",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Check this portability CSV first (instead of the store's table).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def lookup_cmd(
    ctx: CliContext,
    number: str,
    servers: tuple[str, ...],
    suffixes: tuple[str, ...],
    budget_ms: float,
    use_store: bool,
    local_csv: Path | None,
    as_json: bool,
) -> None:
    """Look NUMBER up: the ordered NAPTR records, the chosen URI, the routing number,
    the cache state and the time taken."""
    from tandem.enum.local import LocalPortTable
    from tandem.enum.resolver import DEFAULT_SUFFIXES, MAX_BUDGET_MS, EnumResolver, EnumResult
    from tandem.numbers import e164_digits

    if not (math.isfinite(budget_ms) and 0 < budget_ms <= MAX_BUDGET_MS):
        raise EnumLookupError(
            f"--budget-ms {budget_ms:g}: give a number of milliseconds above 0 and at most "
            f"{MAX_BUDGET_MS:.0f} (default 50)"
        )
    digits = e164_digits(number)
    resolver = EnumResolver(servers or None, suffixes or DEFAULT_SUFFIXES, budget_ms=budget_ms)
    result: EnumResult | None = None
    local = None
    if local_csv is not None:
        local = LocalPortTable.from_csv(local_csv)
    elif use_store:
        local = LocalPortTable.from_store(ctx.store)
    if local is not None:
        info = local.lookup(digits)
        if info.kind.value != "not-found":
            result = EnumResult(info, cache="none", uri=info.sip_uri)
    if result is None:
        result = resolver.resolve(digits)
    if as_json:
        click.echo(json.dumps(_as_json(result), indent=2))
    else:
        _print(result)


def _as_json(result: EnumResult) -> dict[str, Any]:
    info = result.info
    return {
        "number": info.number,
        "kind": info.kind.value,
        "failed": info.failed,
        "routing_number": info.routing_number,
        "route_number": info.route_number,
        "sip_uri": info.sip_uri,
        "npdi": info.npdi,
        "uri": result.uri,
        "source": info.source,
        "cache": result.cache,
        "elapsed_ms": round(info.elapsed_ms, 3),
        "domain": result.domain,
        "server": result.server,
        "naptr": [
            {
                "order": c.record.order,
                "preference": c.record.preference,
                "flags": c.record.flags,
                "services": c.record.services,
                "regexp": c.record.regexp,
                "replacement": c.record.replacement,
                "ttl": c.record.ttl,
                "status": c.status,
                "reason": c.reason,
                "uri": c.uri,
            }
            for c in result.candidates
        ],
        "attempts": list(result.attempts),
        "detail": info.detail,
    }


def _print(result: EnumResult) -> None:
    info = result.info
    click.echo(f"+{info.number}  {info.kind.value}")
    if result.domain:
        server = f" (server {result.server})" if result.server else ""
        click.echo(f"  domain          {result.domain}{server}")
    if result.candidates:
        click.echo("  NAPTR records (order, preference):")
        for c in result.candidates:
            note = f"  -> {c.uri}" if c.uri and c.status == "chosen" else ""
            why = f"  ({c.reason})" if c.reason else ""
            click.echo(f"    {c.status:<15} {c.record.to_text()}{note}{why}")
    click.echo(f"  uri             {result.uri or '-'}")
    click.echo(f"  routing number  {('+' + info.routing_number) if info.routing_number else '-'}")
    click.echo(f"  route on        +{info.route_number}")
    click.echo(f"  npdi            {'yes' if info.npdi else 'no'}")
    click.echo(f"  source          {info.source}")
    click.echo(f"  cache           {result.cache}")
    click.echo(f"  time            {info.elapsed_ms:.2f} ms")
    if info.detail:
        click.echo(f"  detail          {info.detail}")
    for attempt in result.attempts:
        click.echo(f"  try             {attempt}")


@global_options
@enum_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--replace",
    is_flag=True,
    help="The file is the whole table: deactivate every earlier entry (default: merge).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def import_cmd(ctx: CliContext, file: Path, replace: bool, as_json: bool) -> None:
    """Import a portability / local ENUM CSV (number_prefix, routing_number, sip_uri)
    into the store: every row or none, bad rows reported with their line."""
    from tandem.enum.local import import_ports, read_port_csv

    entries = read_port_csv(file)
    with progress("importing", len(entries), enabled=ctx.show_progress) as bar:
        summary = import_ports(
            ctx.store, entries, source=file.name, replace=replace, on_progress=bar.advance
        )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "source": summary.source,
                    "imported": summary.imported,
                    "deactivated": summary.deactivated,
                    "active": summary.active,
                    "replace": summary.replace,
                }
            )
        )
        return
    if not ctx.quiet:
        click.echo(
            f"{summary.source}: imported {summary.imported} entr"
            f"{'y' if summary.imported == 1 else 'ies'}, deactivated {summary.deactivated} "
            f"earlier, {summary.active} active"
        )
