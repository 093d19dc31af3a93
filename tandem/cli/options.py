"""Click parameter types shared by the commands.

:data:`INSTANT` is the type of every ``--at``, ``--from``, ``--until``, ``--now`` and
``--effective`` option: the grammar of :func:`tandem.instant.parse_instant`, one error
message, exit status 2. Where the command has a ``--timezone`` option (declared
``is_eager=True``, so that click reads it first) a date alone is midnight in that zone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from tandem.errors import InstantError
from tandem.instant import parse_instant

__all__ = [
    "CDR_FORMATS",
    "INSTANT",
    "INSTANT_FORMS",
    "InstantType",
    "cdr_batch_size_option",
    "cdr_format_option",
    "cdr_map_column_option",
    "cdr_timezone_option",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The accepted forms, for option help texts.
INSTANT_FORMS = "2026-11-28, 2026-11-28T09:30:00Z, 2026-11-28T10:30:00+01:00 or epoch seconds"


class InstantType(click.ParamType):
    """An instant on the command line, converted to UTC epoch seconds (an ``int``)."""

    name = "instant"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        tz = ctx.params.get("timezone") if ctx is not None else None
        if not isinstance(tz, str):  # no --timezone (click may hold a sentinel for it)
            tz = None
        try:
            return parse_instant(value, tz=tz)
        except InstantError as exc:
            self.fail(str(exc), param, ctx)


#: The one instant type of the CLI.
INSTANT = InstantType()


# -- the options of every command that reads a CDR file (rate, quality, fraud scan) --------
#: The CDR file formats ``--format`` names.
CDR_FORMATS = ("auto", "parquet", "csv", "asterisk", "freeswitch", "kamailio")


def cdr_format_option() -> Callable[[F], F]:
    """``--format``: the CDR file format (``fmt``)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(CDR_FORMATS),
        default="auto",
        show_default=True,
        help="CDR file format (auto: from the name and first records).",
    )


def cdr_timezone_option(also: str = "") -> Callable[[F], F]:
    """``--timezone``, read before the instant options (``is_eager``) so that a date alone
    is midnight in it; ``also`` continues the help text (what else the zone applies to)."""
    return click.option(
        "--timezone",
        default="UTC",
        show_default=True,
        is_eager=True,
        help=f"IANA zone of CDR times written without one{also}.",
    )


def cdr_map_column_option(fields: str) -> Callable[[F], F]:
    """``--map-column FIELD=COLUMN`` (repeatable); ``fields`` lists the fields the command
    reads."""
    return click.option(
        "--map-column",
        multiple=True,
        metavar="FIELD=COLUMN",
        help=f"Name the CDR column of a field ({fields}). Repeatable.",
    )


def cdr_account_map_option() -> Callable[[F], F]:
    """``--map FILE``: a TOML mapping CDR account names to Tandem names ([customer] and
    [carrier] tables, as :func:`tandem.rating.cdr.load_account_map` reads)."""
    return click.option(
        "--map",
        "map_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="TOML mapping CDR account names to Tandem names ([customer] and [carrier] tables).",
    )


def cdr_batch_size_option(what: str = "CDRs read per batch.") -> Callable[[F], F]:
    """``--batch-size``: CDRs per batch read (memory is proportional to it)."""
    return click.option(
        "--batch-size",
        type=click.IntRange(min=1),
        default=262_144,
        show_default=True,
        help=what,
    )
