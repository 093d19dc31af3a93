"""``tandem serve sip`` and ``tandem serve http``: Tandem as a SIP redirect server or an HTTP
route API for SIP proxies (see :mod:`tandem.serve`)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tandem.cli.context import CliContext, global_options, pass_ctx
from tandem.cli.route import lookup_options

if TYPE_CHECKING:
    from tandem.serve.metrics import Metrics
    from tandem.serve.service import RouteService

__all__ = ["serve_group"]


def _common(f: Any) -> Any:
    """The options both servers take (those of ``tandem route`` that apply to a server,
    its number-lookup options included: the same declarations)."""
    options = [
        click.option(
            "--table", "table_path", required=True,
            type=click.Path(dir_okay=False, path_type=Path),
            help="Snapshot from `tandem compile` (reloaded on SIGHUP and when the file changes).",
        ),
        click.option(
            "--verify-key", "verify_key", type=click.Path(dir_okay=False, path_type=Path),
            metavar="FILE", help="Load only snapshots signed with the key in FILE.",
        ),
        click.option(
            "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
            help="Routing config TOML (default: the routing plan compiled into the table); "
            "reloaded on SIGHUP and when the file changes.",
        ),
        click.option(
            "--fraud", "fraud_path", type=click.Path(dir_okay=False, path_type=Path),
            metavar="FILE", help="Run the fraud rules of FILE (fraud.toml) on every call.",
        ),
        click.option(
            "--redis", "redis_url", metavar="URL",
            help="Shared state of the proxies (redis://HOST:PORT/DB); local counters when "
            "it cannot be reached.",
        ),
        click.option(
            "--redis-prefix", "redis_prefix", default="tandem:", show_default=True,
            metavar="P", help="Key prefix of the shared state in --redis.",
        ),
        click.option(
            "--credit", is_flag=True,
            help="Apply the customers' credit accounts in the store (--db).",
        ),
        click.option(
            "--watch", "watch", type=float, default=1.0, show_default=True, metavar="S",
            help="Check the snapshot and config files for a change every S seconds "
            "(0: only on SIGHUP).",
        ),
        click.option(
            "--log-level", "log_level", default="info", show_default=True,
            type=click.Choice(["debug", "info", "warning", "error"]),
            help="debug: one line per decision.",
        ),
    ]  # fmt: skip
    f = lookup_options(f)
    for option in reversed(options):
        f = option(f)
    return f


@click.group("serve")
def serve_group() -> None:
    """Serve routing decisions to SIP proxies: a SIP redirect server or an HTTP API."""


@global_options
@serve_group.command("sip")
@_common
@click.option(
    "--listen", "listen", default="127.0.0.1:5070", show_default=True, metavar="HOST:PORT",
    help="UDP and TCP address (port 0: a free port, printed at start).",
)  # fmt: skip
@click.option(
    "--trusted", "trusted", multiple=True, metavar="CIDR",
    help="Sources whose X-Tandem-Customer / X-Tandem-Source-IP headers are believed "
    "(repeatable; default: loopback).",
)  # fmt: skip
@click.option("--no-tcp", "no_tcp", is_flag=True, help="UDP only.")
@click.option(
    "--metrics", "metrics_listen", metavar="HOST:PORT",
    help="Also serve GET /metrics (Prometheus) and /healthz over HTTP on HOST:PORT.",
)  # fmt: skip
@pass_ctx
def serve_sip(ctx: CliContext, /, listen: str, trusted: tuple[str, ...], no_tcp: bool,
              metrics_listen: str | None, **options: Any) -> None:  # fmt: skip
    """Answer SIP INVITEs with a 302 whose Contacts are the routes in order (or the
    blocked code with a Reason header); OPTIONS with 200."""
    from tandem.errors import ConfigError
    from tandem.serve.runner import parse_listen, run
    from tandem.serve.sip import SipServer, TrustedSources, start_sip

    where = parse_listen(listen)
    metrics_at = parse_listen(metrics_listen) if metrics_listen is not None else None
    try:
        sources = TrustedSources(trusted) if trusted else TrustedSources()
    except ValueError as exc:
        raise ConfigError(f"--trusted: {exc}") from None
    service = _service(ctx, "sip", keep_calls=False, **options)
    server = SipServer(service, sources)

    async def start() -> Any:
        closables, connections, port = await start_sip(
            server, where.host, where.port, tcp=not no_tcp
        )
        bound = type(where)(where.host, port)
        transports = "udp" if no_tcp else "udp+tcp"
        line = f"tandem serve sip listening on {transports} {bound}"
        if metrics_at is not None:
            from tandem.serve.http import MetricsApi, start_http

            more, _conns, mport = await start_http(
                MetricsApi(service), metrics_at.host, metrics_at.port
            )
            closables = [*closables, *more]
            line += f", metrics on http://{type(where)(metrics_at.host, mport)}/metrics"
        return closables, connections, line

    run(start, service, watch=options["watch"])


@global_options
@serve_group.command("http")
@_common
@click.option(
    "--listen", "listen", default="127.0.0.1:8080", show_default=True, metavar="HOST:PORT",
    help="TCP address (port 0: a free port, printed at start).",
)  # fmt: skip
@click.option(
    "--token-file", "token_file", type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE", help="Require `Authorization: Bearer TOKEN` (TOKEN: the file's first "
    "line) on every request but /healthz; required when --listen is not a loopback address.",
)  # fmt: skip
@pass_ctx
def serve_http(ctx: CliContext, /, listen: str, token_file: Path | None,
               **options: Any) -> None:  # fmt: skip
    """Answer GET /route?number=&customer=|source_ip= with the decision JSON of `tandem
    route --json` (or Kamailio rtjson), POST /calls/{id}/end, /healthz, /metrics and
    /openapi.json."""
    from tandem.errors import ConfigError
    from tandem.serve.http import HttpApi, start_http
    from tandem.serve.runner import parse_listen, run

    where = parse_listen(listen)
    token = None
    if token_file is not None:
        try:
            lines = token_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--token-file {token_file}: cannot read it: {exc}") from None
        token = lines[0].strip() if lines else ""
        if len(token) < 16 or not token.isprintable() or " " in token:
            raise ConfigError(
                f"--token-file {token_file}: its first line must be a token of at least 16 "
                "printable characters without spaces"
            )
    elif not where.loopback:
        raise ConfigError(
            f"--listen {listen}: not a loopback address; give --token-file FILE so that only "
            "holders of the bearer token are answered"
        )
    service = _service(ctx, "http", keep_calls=True, **options)
    api = HttpApi(service, token)

    async def start() -> Any:
        closables, connections, port = await start_http(api, where.host, where.port)
        bound = type(where)(where.host, port)
        auth = "bearer token required" if token else "no token"
        return closables, connections, f"tandem serve http listening on http://{bound} ({auth})"

    run(start, service, watch=options["watch"])


def _service(
    ctx: CliContext,
    server: str,
    *,
    keep_calls: bool,
    table_path: Path,
    verify_key: Path | None,
    config_path: Path | None,
    fraud_path: Path | None,
    redis_url: str | None,
    redis_prefix: str,
    credit: bool,
    watch: float,
    log_level: str,
    local_ports: bool,
    local_ports_csv: Path | None,
    enum_servers: tuple[str, ...],
    enum_suffixes: tuple[str, ...],
    enum_budget_ms: float,
) -> RouteService:
    """The routing service the options ask for: the router of ``tandem route``, or its
    call lifecycle with --fraud / --redis / --credit (built by the same code), looking
    numbers up first as ``tandem route`` does with the same lookup options."""
    from tandem.cli.route import _calls, number_lookup
    from tandem.lcr.policy import load_config
    from tandem.lcr.router import Router
    from tandem.lcr.snapshot import load_key
    from tandem.lcr.table import RoutingTable
    from tandem.serve.metrics import Metrics
    from tandem.serve.service import RouteService

    _logging(log_level)
    key = load_key(verify_key) if verify_key is not None else None
    table = RoutingTable.load(table_path, key=key)
    config = load_config(config_path) if config_path else None
    lookup = number_lookup(
        ctx, local_ports, local_ports_csv, enum_servers, enum_suffixes, enum_budget_ms
    )
    metrics: Metrics = Metrics(server)
    if fraud_path is None and redis_url is None and not credit and server == "sip":
        return RouteService(
            Router(table, plan=config, lookup=lookup), table_path, metrics=metrics, key=key,
            keep_calls=keep_calls, config_path=config_path,
        )  # fmt: skip
    if fraud_path is None and redis_url is None and not credit:
        # The HTTP API ends calls (POST /calls/{id}/end): the lifecycle on in-process
        # counters around the very router `tandem route` uses; the JSON stays the router's.
        from tandem.calls import Calls
        from tandem.state import MemoryCounters

        router = Router(table, plan=config, lookup=lookup)
        calls = Calls(router, counters=MemoryCounters())
        return RouteService(router, table_path, metrics=metrics, calls=calls, key=key,
                            keep_calls=keep_calls, lifecycle_json=False,
                            config_path=config_path)  # fmt: skip
    calls = _calls(ctx, table, config, lookup, fraud_path, redis_url, redis_prefix, credit)
    return RouteService(calls.router, table_path, metrics=metrics, calls=calls, key=key,
                        keep_calls=keep_calls, config_path=config_path)  # fmt: skip


def _logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    log = logging.getLogger("tandem.serve")
    log.handlers[:] = [handler]
    log.setLevel(level.upper())
    log.propagate = False
