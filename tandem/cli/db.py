"""``tandem db``: the store's schema."""

from __future__ import annotations

import click

from tandem.cli.context import CliContext, global_options, pass_ctx

__all__ = ["db_group"]


@click.group("db")
def db_group() -> None:
    """Database schema commands."""


@global_options
@db_group.command("upgrade")
@pass_ctx
def db_upgrade(ctx: CliContext) -> None:
    """Create or upgrade the store's schema to the latest revision."""
    store = ctx.store
    click.echo(f"{store.url}: schema at revision {store.schema_revision()}")
