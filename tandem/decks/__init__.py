"""Rate decks: vendor (carrier) and customer price lists in, stored versions out.

Reading (:mod:`tandem.decks.read`: CSV in any delimiter and encoding, XLSX), header
detection (:mod:`tandem.decks.header`), cell values (:mod:`tandem.decks.values`: prefixes,
rates, increments, effective dates), parsing a whole deck (:func:`parse_deck`), comparing
it with the rates in force (:mod:`tandem.decks.diff`) and importing it into the store as a
new version, all or nothing (:func:`import_deck`).
"""

from tandem.decks.deck import (
    DeckImport,
    DeckOptions,
    ParsedDeck,
    Rejection,
    diff_versions,
    import_deck,
    parse_deck,
)
from tandem.decks.diff import DeckDiff, NoticeFlag

__all__ = [
    "DeckDiff",
    "DeckImport",
    "DeckOptions",
    "NoticeFlag",
    "ParsedDeck",
    "Rejection",
    "diff_versions",
    "import_deck",
    "parse_deck",
]
