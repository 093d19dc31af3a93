"""``tandem demo``: the main job on the bundled sample data, end to end.

Imports the sample decks into the store (SQLite ``./tandem.db`` unless ``--db``), routes
the sample calls and prices the sample CDRs, buy and sell side, by driving the same
commands a user would type (``deck import``, ``route``, ``rate``), as listed in a TOML
manifest (``data/demo.toml``).
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

import click

from tandem.cli.main import CliContext, cli, pass_ctx
from tandem.cli.options import INSTANT, INSTANT_FORMS
from tandem.errors import ConfigError

__all__ = ["demo_command", "bundled_data_dir"]


def bundled_data_dir() -> Path:
    """The ``data/`` directory beside the package (a source checkout or editable install)."""
    return Path(__file__).resolve().parents[2] / "data"


def _manifest(path: Path | None) -> tuple[Path, dict]:
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


def _already_stored(ctx: CliContext, file: Path, account: str, kind: str) -> bool:
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    versions = ctx.store.decks(account=account, kind=kind)
    return bool(versions) and versions[-1].source_sha256 == digest


def _heading(text: str) -> None:
    click.echo()
    click.secho(f"== {text}", bold=True)


@cli.command("demo")
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
@click.pass_context
@pass_ctx
def demo_command(
    ctx: CliContext, click_ctx: click.Context, manifest: Path | None, at: int | None, out_dir: Path
) -> None:
    """Import the sample decks, route sample calls and rate sample CDRs."""
    from tandem.cli.deck import deck_import
    from tandem.cli.rate import rate
    from tandem.cli.route import route_command

    path, spec = _manifest(manifest)
    base = path.parent
    click.echo(f"store: {ctx.store.url}")

    _heading("1. import rate decks")
    for entry in spec.get("decks", []):
        file = base / entry["file"]
        kind, account = (
            ("carrier", entry["carrier"]) if "carrier" in entry else ("customer", entry["customer"])
        )
        click.echo(f"-- {file.name} as {kind} {account}")
        if _already_stored(ctx, file, account, kind):
            click.echo("   already imported (same SHA-256 as the latest version); skipped")
            continue
        click_ctx.invoke(
            deck_import,
            file=file,
            carrier=account if kind == "carrier" else None,
            customer=account if kind == "customer" else None,
            decimal_comma=bool(entry.get("decimal_comma", False)),
        )

    config = base / spec["config"] if "config" in spec else None
    routing = spec.get("route", {})
    _heading(f"2. route calls for {routing.get('customer')}")
    for number in routing.get("numbers", []):
        click.echo()
        click_ctx.invoke(
            route_command,
            number=number,
            customer=routing.get("customer"),
            at=at,
            config_path=config,
        )

    rating = spec.get("rate")
    if rating:
        out_dir.mkdir(parents=True, exist_ok=True)
        _heading(f"3. rate CDRs from {rating['cdrs']}")
        click_ctx.invoke(
            rate,
            cdrs=base / rating["cdrs"],
            fmt=rating.get("format", "auto"),
            output=out_dir / "rated.parquet",
            report_dir=out_dir / "report",
            map_file=base / rating["map"] if "map" in rating else None,
        )
        click.echo(f"\nrated CDRs, unrated CDRs and reports are in {out_dir}/")
