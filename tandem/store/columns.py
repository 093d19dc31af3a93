"""The columns of a rate row, written once: every list here is derived from the ``rates`` model.

:class:`tandem.store.models.Rate` declares the table; its ``info`` marks which columns a
deck frame carries and which of those are rate terms (with the default a frame that leaves
them out gets). The deck writer, the readers, the deck parser and the LCR compiler take
their column lists from here, so a column added to the model reaches each of them. An
open-ended rate (NULL ``effective_until`` in the table) reads as
:data:`tandem.instant.OPEN_END` in every frame the store returns.
"""

from __future__ import annotations

from tandem.instant import OPEN_END
from tandem.store.models import Rate

__all__ = [
    "OPEN_END",
    "RATE_COLUMNS",
    "TERMS",
    "TERM_DEFAULTS",
    "DECK_COLUMNS",
    "STORED_COLUMNS",
    "TEXT_COLUMNS",
]

_TABLE = Rate.__table__

#: Columns of the frame :meth:`tandem.store.Store.write_deck` takes (``destination`` and
#: the :data:`TERMS` are optional there): ``prefix, destination, rate, connect_fee,
#: initial_increment, next_increment, min_duration, effective_from``.
RATE_COLUMNS: tuple[str, ...] = tuple(c.name for c in _TABLE.columns if c.info.get("deck"))

#: The rate terms besides the per-minute rate: connection fee (scaled money), first and
#: next billing increment, minimum duration (seconds).
TERMS: tuple[str, ...] = tuple(c.name for c in _TABLE.columns if c.info.get("term"))

#: The value each term takes when a deck frame leaves it out.
TERM_DEFAULTS: dict[str, int] = {
    c.name: int(c.default.arg) for c in _TABLE.columns if c.info.get("term")
}

#: A parsed deck's frame: :data:`RATE_COLUMNS` plus its source ``line``, the ``change``
#: word and ``closed`` (the row closes its prefix and adds no rate).
DECK_COLUMNS: tuple[str, ...] = (*RATE_COLUMNS, "line", "change", "closed")

#: Every column a stored rate row is written with (all but its id), in table order.
STORED_COLUMNS: tuple[str, ...] = tuple(c.name for c in _TABLE.columns if not c.primary_key)

#: The rate columns that hold text (the others hold integers).
TEXT_COLUMNS: tuple[str, ...] = tuple(c.name for c in _TABLE.columns if c.type.python_type is str)
