"""One exception hierarchy for Tandem.

Catch :class:`TandemError` for anything Tandem raises on purpose, or one precise
subclass. Every message says what was wrong and what to do about it; the CLI prints
the message (never a traceback) and exits with status 2.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "TandemError",
    "MoneyError",
    "InstantError",
    "DeckError",
    "DeckRejectedError",
    "StoreError",
    "ConcurrentWriteError",
    "NumberError",
    "UnknownCustomerError",
    "UnknownCarrierError",
    "SnapshotError",
    "EnumLookupError",
    "RegexpRefusedError",
    "PortDataError",
    "CdrError",
    "ConfigError",
    "OutputError",
    "StateError",
    "StateUnavailableError",
]


class TandemError(Exception):
    """Base class of every error Tandem raises deliberately."""


class MoneyError(TandemError, ValueError):
    """A rate or amount could not be read exactly (not a number, too many decimals...)."""


class InstantError(TandemError, ValueError):
    """A time is not an instant Tandem accepts (see :mod:`tandem.instant` for the grammar:
    an ISO 8601 date, a date-time with a zone, or epoch seconds)."""


class DeckError(TandemError):
    """A rate deck could not be imported (not a deck, no rows accepted, bad mapping...)."""


class StoreError(TandemError):
    """The rate store cannot be opened, migrated or written."""


class ConcurrentWriteError(StoreError):
    """Another import wrote the same account while this one ran: nothing was stored;
    run the import again when the other one has finished."""


class NumberError(TandemError, ValueError):
    """A dialed number is malformed or cannot be normalised to E.164."""


class UnknownCustomerError(TandemError, LookupError):
    """No customer of that name, trunk or source IP is known."""


class UnknownCarrierError(TandemError, LookupError):
    """No carrier (vendor) of that name is known."""


class SnapshotError(TandemError):
    """A compiled routing table file is corrupt, foreign or from another format version."""


class EnumLookupError(TandemError):
    """An ENUM / number portability lookup failed (timeout, SERVFAIL, malformed answer)."""


class RegexpRefusedError(EnumLookupError):
    """A NAPTR regexp from a DNS answer was refused: its ERE uses a construct the
    linear-time engine (RE2) does not run (a back-reference or look-around in the
    pattern, a repetition count above 1000...), so the record is skipped."""


class PortDataError(TandemError, ValueError):
    """A number portability / local ENUM file cannot be imported; ``problems`` lists every
    rejected row as ``(line, reason)``."""

    def __init__(self, message: str, problems: list[tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.problems: list[tuple[int, str]] = list(problems or [])


class CdrError(TandemError):
    """A CDR file cannot be read at all (unknown format, missing required columns)."""


class ConfigError(TandemError):
    """A configuration file (routing plan, translation rules, trunks) is invalid."""


class DeckRejectedError(DeckError):
    """A deck had rejected rows, so nothing was imported (the import is all or nothing).

    ``result`` is the :class:`tandem.decks.importer.DeckImport` report: every rejected row
    with its line, column and reason, and what the import would have changed.
    """

    # ``Any``, not ``DeckImport``: errors is the lowest floor and imports nothing of Tandem.
    def __init__(self, message: str, result: Any) -> None:
        super().__init__(message)
        self.result = result


class OutputError(TandemError):
    """A rating output cannot be written: it would replace the input or another output,
    or its disk or directory refused it (nothing of the run is left behind)."""


class StateError(TandemError):
    """Shared state (the counters behind capacity, fraud limits and quality scores) refused
    an operation: a Redis error other than an unreachable server, a wrongly typed key..."""


class StateUnavailableError(StateError, ConnectionError):
    """The shared state server (Redis) cannot be reached or did not answer in time.
    :class:`~tandem.state.FallbackCounters` catches it and carries on with local counters."""
