"""Rate decks: vendor (carrier) and customer price lists in, stored versions out.

Reading (:mod:`tandem.decks.read`: CSV in any delimiter and encoding, XLSX), header
detection (:mod:`tandem.decks.header`), cell values (:mod:`tandem.decks.values`: prefixes,
rates, increments, effective dates), parsing and validating a whole deck
(:mod:`tandem.decks.parse`: :func:`parse_deck`), comparing it with the rates in force
(:mod:`tandem.decks.diff`) and importing it into the store as a new version, all or
nothing (:mod:`tandem.decks.importer`: :func:`import_deck`); deleting a wrong version
(:mod:`tandem.decks.delete`: :func:`delete_deck`).
"""

from tandem.decks.delete import delete_deck
from tandem.decks.diff import DeckDiff, NoticeFlag
from tandem.decks.importer import DeckImport, diff_versions, import_deck
from tandem.decks.parse import DeckOptions, ParsedDeck, Rejection, parse_deck

__all__ = [
    "DeckDiff",
    "DeckImport",
    "DeckOptions",
    "NoticeFlag",
    "ParsedDeck",
    "Rejection",
    "delete_deck",
    "diff_versions",
    "import_deck",
    "parse_deck",
]
