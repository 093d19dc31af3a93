"""The ``tandem`` command group: global options, error handling and the list of commands.

Every command module defines its command or group and imports :mod:`tandem.cli.context`,
never this module; :data:`COMMANDS` below is the one place a command is registered.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from collections.abc import Iterator, Mapping

import click

from tandem.cli.context import DB_HELP, DB_METAVAR, QUIET_HELP, CliContext, teardown_skipped
from tandem.errors import TandemError

__all__ = ["COMMANDS", "cli", "describe_os_error", "main"]

#: Every ``tandem`` subcommand, in the order a new user meets them: its name, and the
#: module and attribute that define it. A command's module is imported only when the
#: command is looked up (:class:`_LazyCommands`): ``tandem rate`` does not pay for
#: importing the other commands' modules (some 30-60 ms of a run's start).
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("demo", "tandem.cli.demo", "demo_command"),
    ("deck", "tandem.cli.deck", "deck_group"),
    ("plan", "tandem.cli.plan", "plan_group"),
    ("compile", "tandem.cli.route", "compile_command"),
    ("route", "tandem.cli.route", "route_command"),
    ("serve", "tandem.cli.serve", "serve_group"),
    ("rate", "tandem.cli.rate", "rate"),
    ("reconcile", "tandem.cli.reconcile", "reconcile_command"),
    ("quality", "tandem.cli.quality", "quality_command"),
    ("simulate", "tandem.cli.simulate", "simulate_command"),
    ("fraud", "tandem.cli.fraud", "fraud_group"),
    ("account", "tandem.cli.account", "account_group"),
    ("enum", "tandem.cli.enum_cmd", "enum_group"),
    ("db", "tandem.cli.db", "db_group"),
)


class _LazyCommands(Mapping[str, click.Command]):
    """The ``tandem`` group's commands by name (:data:`COMMANDS`): iterating gives the
    names without importing anything; looking a command up imports its module once."""

    def __init__(self, specs: tuple[tuple[str, str, str], ...]) -> None:
        self._specs = {name: (module, attr) for name, module, attr in specs}
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        command = self._loaded.get(name)
        if command is None:
            module, attr = self._specs[name]
            command = getattr(importlib.import_module(module), attr)
            if not isinstance(command, click.Command) or command.name != name:
                raise TypeError(f"{module}.{attr} is not the command {name!r}")
            self._loaded[name] = command
        return command

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


class _TandemGroup(click.Group):
    """Turns every :class:`TandemError` into one clear line on stderr and exit status 2.

    An :class:`OSError` the commands did not turn into a :class:`TandemError` themselves
    (a full or read-only disk, a file that vanished) is reported the same way: the file
    and the system's reason, on one line.
    """

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except TandemError as exc:
            click.echo(f"tandem: error: {exc}", err=True)
            ctx.exit(2)
        except OSError as exc:
            click.echo(f"tandem: error: {describe_os_error(exc)}", err=True)
            ctx.exit(2)


def describe_os_error(exc: OSError) -> str:
    """One line for an operating-system error: the file(s) involved and the reason."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
    return f"{' -> '.join(names)}: {reason}" if names else reason


@click.group(
    cls=_TandemGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--db", envvar="TANDEM_DB", default=None, metavar=DB_METAVAR, help=DB_HELP)
@click.option("--quiet", "-q", is_flag=True, help=QUIET_HELP)
@click.version_option(package_name="tandem")
@click.pass_context
def cli(ctx: click.Context, db: str | None, quiet: bool) -> None:
    """Tandem: Class 4 wholesale voice routing and rating.

    --db and --quiet may also follow the subcommand (tandem deck list --db x.db -q).
    """
    ctx.obj = CliContext(db=db, quiet=quiet)


cli.commands = _LazyCommands(COMMANDS)  # type: ignore[assignment]


def main() -> None:
    """Console-script entry point (``tandem`` and ``python -m tandem``).

    The cyclic garbage collector runs every 50,000 new objects instead of 700: a command
    imports pandas and pyarrow and builds a few large arrays, and the default spends about
    a tenth of a second of ``tandem rate`` collecting nothing."""
    gc.set_threshold(50_000, 20, 20)
    teardown_skipped()  # a request left by an earlier in-process invocation is not ours
    try:
        cli(prog_name="tandem")
    except SystemExit as exc:
        if teardown_skipped() and isinstance(exc.code, int | None):
            _exit_now(exc.code or 0)
        raise


def _exit_now(status: int) -> None:
    """End the process at once (:func:`tandem.cli.context.skip_teardown`), stdout and
    stderr flushed; when they cannot be flushed, the usual exit reports it."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(status)
