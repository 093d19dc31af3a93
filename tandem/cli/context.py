"""What every ``tandem`` command shares: the :class:`CliContext` it is handed
(``pass_ctx``) and the global options ``--db`` and ``--quiet``.

The global options are read twice: by the ``tandem`` group, before the subcommand
(``tandem --db x.db deck list``), and by every leaf command, after it
(``tandem deck list --db x.db``), where :func:`global_options` puts them. A value given
after the subcommand wins over one given before it; ``$TANDEM_DB`` is the group's default.

This module imports no command module and nothing heavy (the store is opened on first use),
so that the commands can import it and ``tandem --help`` stays fast.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from tandem.store import Store

__all__ = [
    "DB_HELP",
    "DB_METAVAR",
    "QUIET_HELP",
    "CliContext",
    "global_options",
    "pass_ctx",
    "skip_teardown",
    "teardown_skipped",
]

DB_METAVAR = "PATH|URL"
DB_HELP = "Rate store: a SQLite file or a database URL (default: $TANDEM_DB or ./tandem.db)."
QUIET_HELP = "No progress bars or chatter (scripts)."


@dataclass
class CliContext:
    """What every subcommand gets: the database location and output preferences."""

    db: str | None = None
    quiet: bool = False
    _store: Store | None = field(default=None, repr=False)

    @property
    def store(self) -> Store:
        """The store, opened (and migrated) on first use."""
        if self._store is None:
            from tandem.store import Store

            self._store = Store(self.db)
        return self._store

    @property
    def show_progress(self) -> bool:
        """True when a progress bar belongs on the terminal (not --quiet, stderr a TTY)."""
        return not self.quiet and sys.stderr.isatty()


_TEARDOWN: dict[str, Any] = {"skip": False, "keep": ()}


def skip_teardown(*keep: object) -> None:
    """Let the ``tandem`` process end without Python's interpreter teardown once the
    command returns: a command calls it when everything it wrote is complete and closed
    (``tandem rate`` after its commit). :func:`tandem.cli.main.main` then flushes stdout
    and stderr and ends the process with :func:`os._exit`: collecting and freeing every
    object of numpy, pyarrow and the rating book one by one would take a tenth of a
    second of a run that the operating system does at once. Only the console entry
    point acts on it (a command invoked in-process, by a test, returns as usual).

    ``keep``: objects the command holds that would be freed when it returns, before the
    process ends, and are slow to free (``tandem rate``'s rating book: unmapping its
    50 MB took some 10 ms at the end of a run): they stay referenced until the process
    ends, or until the next command's request (one command's objects at most)."""
    _TEARDOWN["skip"] = True
    _TEARDOWN["keep"] = keep


def teardown_skipped() -> bool:
    """Whether a command asked for :func:`skip_teardown` (and resets the request; the
    objects it keeps are let go when it had not asked)."""
    skip, _TEARDOWN["skip"] = _TEARDOWN["skip"], False
    if not skip:
        _TEARDOWN["keep"] = ()
    return skip


#: Passes the :class:`CliContext` (made by the ``tandem`` group) as a command's first argument.
pass_ctx = click.make_pass_decorator(CliContext, ensure=True)


def _db_after(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None and not ctx.resilient_parsing:
        ctx.ensure_object(CliContext).db = value


def _quiet_after(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        ctx.ensure_object(CliContext).quiet = True


CommandT = TypeVar("CommandT", bound=click.Command)


def global_options(command: CommandT) -> CommandT:
    """Let a leaf command take ``--db`` and ``--quiet``/``-q`` after its name.

    Put it above the command's ``@group.command(...)`` line. The values go into the
    :class:`CliContext` (over the ones given before the subcommand), not to the function.
    """
    command.params.extend(
        [
            click.Option(
                ["--db"],
                metavar=DB_METAVAR,
                expose_value=False,
                callback=_db_after,
                help=f"{DB_HELP} Wins over a --db before the command.",
            ),
            click.Option(
                ["--quiet", "-q"],
                is_flag=True,
                expose_value=False,
                callback=_quiet_after,
                help=QUIET_HELP,
            ),
        ]
    )
    return command
