"""``tandem compile`` and ``tandem route``: compiled routing tables and routing decisions."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tandem.cli.context import CliContext, global_options, pass_ctx
from tandem.cli.options import INSTANT, INSTANT_FORMS
from tandem.cli.progress import progress
from tandem.instant import format_instant, now_instant

if TYPE_CHECKING:
    from tandem.calls import CallDecision, Calls
    from tandem.enum.types import NumberLookup
    from tandem.lcr.policy import RoutingConfig
    from tandem.lcr.router import Decision
    from tandem.lcr.table import RoutingTable

__all__ = ["compile_command", "lookup_options", "number_lookup", "print_decision", "route_command"]


@global_options
@click.command("compile")
@click.option(
    "--at", "at", type=INSTANT, metavar="TIME",
    help=f"Instant to compile for: {INSTANT_FORMS} (default: now).",
)  # fmt: skip
@click.option(
    "-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="Snapshot file to write (e.g. routes.tdm).",
)  # fmt: skip
@click.option(
    "--sign-key", "sign_key", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
    help="Sign the snapshot (HMAC-SHA256) with the key in FILE; a proxy given the same key "
    "(`tandem route --verify-key FILE`, `RoutingTable.load(path, key=...)`) loads no other.",
)  # fmt: skip
@pass_ctx
def compile_command(ctx: CliContext, at: int | None, output: Path, sign_key: Path | None) -> None:
    """Compile the rates and the routing plan in force at TIME into a routing-table
    snapshot file."""
    from tandem.lcr.snapshot import load_key
    from tandem.lcr.table import compile_table

    key = load_key(sign_key) if sign_key is not None else None  # before any work
    t = now_instant() if at is None else at  # the edge's default, printed below
    started = time.perf_counter()
    with progress("compiling routing table", 2, enabled=ctx.show_progress) as bar:
        table = compile_table(ctx.store, t)
        bar.advance()
        table.save(output, key=key)
        bar.advance()
    if not ctx.quiet:
        click.echo(
            f"{output}: {table.prefix_count} prefixes, {len(table.carriers)} carriers, "
            f"{len(table.customers)} customers, {table.route_count} routes, "
            f"{_plan_text(table)}; compiled at {format_instant(t)}, "
            f"{'signed, ' if key is not None else ''}"
            f"valid {table.validity_text()} "
            f"({time.perf_counter() - started:.2f} s)"
        )


def _plan_text(table: RoutingTable) -> str:
    plan = table.routing_plan
    if plan is None:
        return "no routing plan"
    return f"routing plan version {plan.version} ({plan.source_name or 'no file name'})"


#: The number-lookup options of `tandem route` (a local portability table, then DNS ENUM),
#: for every command that routes calls (`tandem serve sip|http` too): :func:`lookup_options`
#: declares them, :func:`number_lookup` builds what they ask for.
_LOOKUP_OPTIONS = [
    click.option(
        "--local-ports", "local_ports", is_flag=True,
        help="Look the number up in the store's local portability / ENUM table first.",
    ),
    click.option(
        "--local-ports-csv", "local_ports_csv", type=click.Path(dir_okay=False, path_type=Path),
        help="Look the number up in this portability CSV first (instead of the store's table).",
    ),
    click.option(
        "--enum-server", "enum_servers", multiple=True, metavar="HOST:PORT",
        help="Ask this DNS server for ENUM / portability NAPTRs (repeatable, asked in turn).",
    ),
    click.option(
        "--enum-suffix", "enum_suffixes", multiple=True, metavar="S",
        help="ENUM tree for --enum-server, tried in order (repeatable; default e164.arpa).",
    ),
    click.option(
        "--enum-budget-ms", "enum_budget_ms", type=float, default=50.0, show_default=True,
        metavar="N", help="Time budget of one ENUM lookup; past it the dialed number is used.",
    ),
]  # fmt: skip


def lookup_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add the number-lookup options (``--local-ports``, ``--local-ports-csv``,
    ``--enum-server``, ``--enum-suffix``, ``--enum-budget-ms``) to a command; its function
    takes them as ``local_ports``, ``local_ports_csv``, ``enum_servers``,
    ``enum_suffixes``, ``enum_budget_ms`` (give them to :func:`number_lookup`)."""
    for option in reversed(_LOOKUP_OPTIONS):
        f = option(f)
    return f


@global_options
@click.command("route")
@click.argument("number")
@click.option("--customer", metavar="NAME", help="Customer (account name).")
@click.option("--source-ip", "source_ip", metavar="IP", help="Identify the customer's trunk.")
@click.option(
    "--at", "at", type=INSTANT, metavar="TIME",
    help=f"Call start instant: {INSTANT_FORMS} (default: now).",
)  # fmt: skip
@click.option(
    "--table", "table_path", type=click.Path(dir_okay=False, path_type=Path),
    help="Snapshot from `tandem compile` (default: compile from the store at TIME).",
)  # fmt: skip
@click.option(
    "--verify-key", "verify_key", type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE", help="Load --table only if it was signed with the key in FILE "
    "(`tandem compile --sign-key FILE`).",
)  # fmt: skip
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
    help="Routing config TOML: plans, carriers, translation, trunks (default: the routing "
    "plan in force at TIME in the store, or the one compiled into --table).",
)  # fmt: skip
@click.option("--call-id", "call_id", metavar="ID", help="Call id (stable weighted splits).")
@lookup_options
@click.option(
    "--fraud", "fraud_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
    help="Run the fraud rules of FILE (fraud.toml) on the call: a block leaves no route, a "
    "flag is listed (counts as one attempt in the shared state of --redis).",
)  # fmt: skip
@click.option(
    "--redis", "redis_url", metavar="URL",
    help="Shared state of the proxies (redis://HOST:PORT/DB): the fraud rules' counters and "
    "the carriers' live quality scores; local counters when it cannot be reached.",
)  # fmt: skip
@click.option(
    "--redis-prefix", "redis_prefix", default="tandem:", show_default=True, metavar="P",
    help="Key prefix of the shared state in --redis.",
)  # fmt: skip
@click.option(
    "--credit", is_flag=True,
    help="Apply the customer's credit account in the store: max_duration, blocked at its limit.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--explain", is_flag=True,
    help="Say why each carrier is where it is (with --fraud / --redis: which rule and which "
    "quality score moved or blocked it).",
)  # fmt: skip
@pass_ctx
def route_command(
    ctx: CliContext,
    number: str,
    customer: str | None,
    source_ip: str | None,
    at: int | None,
    table_path: Path | None,
    verify_key: Path | None,
    config_path: Path | None,
    call_id: str | None,
    local_ports: bool,
    local_ports_csv: Path | None,
    enum_servers: tuple[str, ...],
    enum_suffixes: tuple[str, ...],
    enum_budget_ms: float,
    fraud_path: Path | None,
    redis_url: str | None,
    redis_prefix: str,
    credit: bool,
    as_json: bool,
    explain: bool,
) -> None:
    """Decide the routes for one call to NUMBER.

    With --local-ports / --local-ports-csv and/or --enum-server the number is first looked
    up (local table, then DNS): a ported number is routed on its routing number, an
    on-net SIP URI becomes a zero-cost route, and a failed lookup falls back to the
    dialed number, said in the decision's notes.
    """
    from tandem.errors import ConfigError
    from tandem.lcr.policy import load_config
    from tandem.lcr.router import Router
    from tandem.lcr.snapshot import load_key
    from tandem.lcr.table import RoutingTable, compile_table

    if customer is None and source_ip is None:
        raise ConfigError("say who is calling: --customer NAME or --source-ip IP")
    if verify_key is not None and table_path is None:
        raise ConfigError("--verify-key checks a snapshot: give it with --table FILE")
    t = now_instant() if at is None else at  # the edge's default, printed in the decision
    if table_path is not None:
        key = load_key(verify_key) if verify_key is not None else None
        table = RoutingTable.load(table_path, key=key)
    else:
        table = compile_table(ctx.store, t)
    config = load_config(config_path) if config_path else None  # None: the table's plan
    lookup = number_lookup(
        ctx, local_ports, local_ports_csv, enum_servers, enum_suffixes, enum_budget_ms
    )
    decision: Decision | CallDecision
    if fraud_path is None and redis_url is None and not credit:
        decision = Router(table, plan=config, lookup=lookup).route(
            number, customer=customer, source_ip=source_ip, at=t, call_id=call_id
        )
    else:
        calls = _calls(ctx, table, config, lookup, fraud_path, redis_url, redis_prefix, credit)
        decision = calls.route(
            number, customer=customer, source_ip=source_ip, at=t, call_id=call_id
        ).decision
    if as_json:
        click.echo(decision.to_json())
        return
    if explain:
        click.echo(decision.explain())
        return
    print_decision(decision)


def _calls(
    ctx: CliContext,
    table: RoutingTable,
    config: RoutingConfig | None,
    lookup: NumberLookup | None,
    fraud_path: Path | None,
    redis_url: str | None,
    redis_prefix: str,
    credit: bool,
) -> Calls:
    """The call lifecycle the options ask for: shared state (Redis with local fallback, or
    in-process counters), the fraud rules, live quality and the store's credit accounts."""
    from tandem.calls import Calls
    from tandem.errors import ConfigError
    from tandem.fraud import FraudEngine, load_fraud_config
    from tandem.lcr.plans import table_routing_config
    from tandem.lcr.router import Router
    from tandem.quality import QualityBoard
    from tandem.state import Counters, FallbackCounters, MemoryCounters, RedisCounters

    counters: Counters
    if redis_url is not None:
        try:
            shared = RedisCounters(redis_url, prefix=redis_prefix)
        except ValueError as exc:  # a malformed URL (redis-py's words)
            raise ConfigError(f"--redis {redis_url!r}: {exc}") from None
        counters = FallbackCounters(shared)
    else:
        counters = MemoryCounters()
    fraud = FraudEngine(load_fraud_config(fraud_path), counters) if fraud_path else None
    routing = config if config is not None else table_routing_config(table)
    board = QualityBoard(counters, routing.quality) if redis_url is not None else None
    router = Router(table, plan=config, lookup=lookup, counters=counters, scores=board)
    return Calls(
        router,
        counters=counters,
        fraud=fraud,
        quality=board,
        store=ctx.store if credit else None,
        credit_refresh=0,
    )


def number_lookup(
    ctx: CliContext,
    local_ports: bool,
    local_ports_csv: Path | None,
    enum_servers: tuple[str, ...],
    enum_suffixes: tuple[str, ...],
    enum_budget_ms: float,
) -> NumberLookup | None:
    """The lookup chain the route options ask for: local table first, then DNS ENUM."""
    from tandem.enum.local import ChainedLookup, LocalPortTable
    from tandem.enum.resolver import DEFAULT_SUFFIXES, EnumResolver

    chain: list[NumberLookup] = []
    if local_ports_csv is not None:
        chain.append(LocalPortTable.from_csv(local_ports_csv))
    elif local_ports:
        chain.append(LocalPortTable.from_store(ctx.store))
    if enum_servers or enum_suffixes:
        chain.append(
            EnumResolver(
                enum_servers or None, enum_suffixes or DEFAULT_SUFFIXES, budget_ms=enum_budget_ms
            )
        )
    if not chain:
        return None
    return chain[0] if len(chain) == 1 else ChainedLookup(*chain)


def print_decision(decision: Decision | CallDecision) -> None:
    """One routing decision as a table: the ordered routes, then drops and notes."""
    from tandem.money import format_money

    head = f"{decision.number} -> {decision.normalized}"
    if decision.routing_number:
        head += f" (routing number {decision.routing_number})"
    click.echo(f"{head}   customer {decision.customer}   at {format_instant(decision.at)}")
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
    for v in getattr(decision, "verdicts", ()):
        evidence = ", ".join(f"{k}={val}" for k, val in v.evidence.items())
        click.echo(f"fraud {v.rule}: {v.action} ({evidence})")
    seconds = getattr(decision, "max_duration", None)
    if seconds is not None:
        click.echo(f"max duration {seconds} s (the customer's remaining credit)")
    for note in decision.notes:
        click.echo(f"note: {note}")
