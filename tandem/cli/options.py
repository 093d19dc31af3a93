"""Click parameter types shared by the commands.

:data:`INSTANT` is the type of every ``--at``, ``--from``, ``--until``, ``--now`` and
``--effective`` option: the grammar of :func:`tandem.instant.parse_instant`, one error
message, exit status 2. Where the command has a ``--timezone`` option (declared
``is_eager=True``, so that click reads it first) a date alone is midnight in that zone.
"""

from __future__ import annotations

import click

from tandem.errors import InstantError
from tandem.instant import parse_instant

__all__ = ["INSTANT", "INSTANT_FORMS", "InstantType"]

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
