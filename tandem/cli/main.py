"""The ``tandem`` command group: global options, error handling, subcommand registry."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import click

from tandem.errors import TandemError

__all__ = ["main", "cli", "CliContext", "pass_ctx"]


@dataclass
class CliContext:
    """What every subcommand gets: the database location and output preferences."""

    db: str | None = None
    quiet: bool = False
    _store: object | None = field(default=None, repr=False)

    @property
    def store(self):  # -> tandem.store.Store (imported lazily to keep --help fast)
        """The store, opened (and migrated) on first use."""
        if self._store is None:
            from tandem.store import Store

            self._store = Store(self.db)
        return self._store

    @property
    def show_progress(self) -> bool:
        """True when a progress bar belongs on the terminal (not --quiet, stderr a TTY)."""
        return not self.quiet and sys.stderr.isatty()


pass_ctx = click.make_pass_decorator(CliContext)


class _TandemGroup(click.Group):
    """Turns every :class:`TandemError` into one clear line on stderr and exit status 2."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except TandemError as exc:
            click.echo(f"tandem: error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_TandemGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    envvar="TANDEM_DB",
    default=None,
    metavar="PATH|URL",
    help="Rate store: a SQLite file or a database URL (default: $TANDEM_DB or ./tandem.db).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or chatter (scripts).")
@click.version_option(package_name="tandem")
@click.pass_context
def cli(ctx: click.Context, db: str | None, quiet: bool) -> None:
    """Tandem: Class 4 wholesale voice routing and rating."""
    ctx.obj = CliContext(db=db, quiet=quiet)


@cli.group("db")
def db_group() -> None:
    """Database schema commands."""


@db_group.command("upgrade")
@pass_ctx
def db_upgrade(ctx: CliContext) -> None:
    """Create or upgrade the store's schema to the latest revision."""
    store = ctx.store
    click.echo(f"{store.url}: schema at revision {store.schema_revision()}")


def _register() -> None:
    """Attach the subcommand modules (each defines click commands of one area)."""
    import tandem.cli.demo  # noqa: F401 - adds `tandem demo`
    import tandem.cli.route  # noqa: F401 - adds `tandem compile` and `tandem route`
    from tandem.cli.deck import deck_group
    from tandem.cli.enum_cmd import enum_group
    from tandem.cli.rate import rate

    cli.add_command(deck_group)
    cli.add_command(rate)
    cli.add_command(enum_group)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="tandem")
