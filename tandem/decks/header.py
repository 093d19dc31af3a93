"""Rate-deck header detection: which column holds the prefix, the rate, the date...

Vendors spell their headers in many ways (``Code``, ``Dial Code``, ``Dialcode``,
``Prefix``; ``Rate``, ``Price``, ``Rate per min``, ``USD/min``...). This module maps a
header row to Tandem's deck fields and finds the header row among a file's first lines
(title and logo lines often come first). An explicit mapping (``--map column=field``)
always wins over the built-in spellings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tandem.errors import DeckError

__all__ = [
    "FIELDS",
    "HEADER_SEARCH_LINES",
    "ColumnMap",
    "field_for_header",
    "map_header",
    "find_header",
    "parse_mapping",
]

#: Deck fields a column can hold, and what each means.
FIELDS: dict[str, str] = {
    "prefix": "dialled-number prefix (code), digits; ranges 4420-4425 and lists 44 20; 44 21",
    "destination": "destination name (country, description)",
    "rate": "price per minute",
    "effective_from": "date the rate takes effect",
    "increment": "billing increments written as initial/next, e.g. 60/60, 1/1, 30/6",
    "initial_increment": "first billing increment in seconds",
    "next_increment": "subsequent billing increment in seconds",
    "connect_fee": "connection (setup) fee per call",
    "min_duration": "minimum billed duration in seconds",
    "change": "vendor's change status: New, Increase, Decrease, Unchanged, Closed",
    "ignore": "a column Tandem should not read",
}

#: The header row is looked for in this many first lines (or spreadsheet rows).
HEADER_SEARCH_LINES = 20

_CURRENCIES = (
    "usd|eur|gbp|chf|cad|aud|jpy|cny|inr|brl|mxn|zar|sek|nok|dkk|pln|try|rub|aed|sar|ngn|"
    "kes|php|idr|sgd|hkd|nzd|czk|huf|ron|bgn|ils|egp|pkr|bdt|thb|myr|krw|twd|uah"
)
_CURRENCY_TOKEN = re.compile(rf"\b({_CURRENCIES})\b")
_PER_MINUTE = re.compile(r"(/|\bper\b)\s*(min|minute|mins|minutes)\b|\bpm\b|\bppm\b")

_SPELLINGS: dict[str, tuple[str, ...]] = {
    "prefix": (
        "code",
        "codes",
        "prefix",
        "prefixes",
        "dial code",
        "dial codes",
        "dialcode",
        "dialcodes",
        "dialing code",
        "dialling code",
        "destination code",
        "dest code",
        "e164 prefix",
        "country code prefix",
        "area code",
        "breakout code",
        "number prefix",
    ),
    "destination": (
        "destination",
        "destination name",
        "dest",
        "country",
        "country name",
        "description",
        "desc",
        "name",
        "zone",
        "breakout",
        "network",
        "region",
    ),
    "rate": (
        "rate",
        "rates",
        "price",
        "cost",
        "rate per min",
        "rate per minute",
        "price per min",
        "price per minute",
        "new rate",
        "rate/min",
        "price/min",
        "per minute",
        "tariff",
    ),
    "effective_from": (
        "effective date",
        "eff date",
        "effective",
        "effective from",
        "effective since",
        "valid from",
        "valid since",
        "start date",
        "date",
        "activation date",
        "eff from",
    ),
    "increment": (
        "increment",
        "increments",
        "billing increment",
        "billing increments",
        "interval",
        "billing interval",
        "billing",
        "billing unit",
        "billing cycle",
        "pulse",
    ),
    "initial_increment": (
        "initial increment",
        "initial interval",
        "first increment",
        "first interval",
        "initial",
        "initial pulse",
        "init increment",
        "minimum increment",
        "increment 1",
        "interval 1",
    ),
    "next_increment": (
        "next increment",
        "next interval",
        "subsequent increment",
        "additional increment",
        "next",
        "next pulse",
        "succeeding increment",
        "increment 2",
        "interval 2",
    ),
    "connect_fee": (
        "connection",
        "connection fee",
        "connection charge",
        "connect fee",
        "connect charge",
        "conn fee",
        "setup",
        "setup fee",
        "set up fee",
        "setup charge",
    ),
    "min_duration": (
        "minimum duration",
        "min duration",
        "minimum",
        "min time",
        "minimum time",
        "min call duration",
        "minimum call duration",
        "min sec",
        "minimum seconds",
    ),
    "change": (
        "change",
        "changes",
        "status",
        "change type",
        "rate change",
        "change status",
        "rate status",
        "action",
    ),
}
_BY_SPELLING: dict[str, str] = {
    spelling: name for name, spellings in _SPELLINGS.items() for spelling in spellings
}


def _normalise(header: str) -> str:
    h = str(header).strip().lower().replace("\ufeff", "")
    h = re.sub(r"[_\-]+", " ", h)
    h = re.sub(r"[.:#*()\[\]]", " ", h)
    h = re.sub(r"\s*/\s*", "/", h)
    h = re.sub(r"\s+", " ", h).strip()
    h = re.sub(r"\s*\b(sec|secs|seconds|s)\b$", "", h).strip()  # "Increment (sec)"
    return h


def field_for_header(header: str) -> tuple[str | None, str | None]:
    """The deck field a header names and the currency it declares, if any.

    ``field_for_header("USD/min")`` is ``("rate", "USD")``; ``("Dial Code")`` is
    ``("prefix", None)``; an unknown header gives ``(None, None)``.
    """
    h = _normalise(header)
    if not h:
        return None, None
    if h in _BY_SPELLING:
        return _BY_SPELLING[h], None
    # Rate headers that carry a currency or a per-minute unit: "USD/min", "Rate (EUR)".
    currency_match = _CURRENCY_TOKEN.search(h)
    currency = currency_match.group(1).upper() if currency_match else None
    rest = _CURRENCY_TOKEN.sub(" ", h)
    rest = _PER_MINUTE.sub(" ", rest)
    rest = re.sub(r"[/\s]+", " ", rest).strip()
    stripped_something = rest != h
    if stripped_something and rest in ("", "rate", "rates", "price", "cost", "new rate", "tariff"):
        return "rate", currency
    if currency and rest in _BY_SPELLING and _BY_SPELLING[rest] == "connect_fee":
        return "connect_fee", None
    return None, None


def parse_mapping(items: Sequence[str] | Mapping[str, str] | None) -> dict[str, str]:
    """Read ``--map column=field`` items into ``{normalised column: field}``.

    ``column`` is a header as written in the deck (case and spacing do not matter);
    ``field`` one of :data:`FIELDS`. Raises :class:`DeckError` on a malformed item.
    """
    if not items:
        return {}
    pairs = items.items() if isinstance(items, Mapping) else []
    if not isinstance(items, Mapping):
        parsed = []
        for item in items:
            if "=" not in item:
                raise DeckError(
                    f"--map {item!r}: write it as COLUMN=FIELD, e.g. --map 'Dst Code=prefix'"
                )
            column, _, name = item.rpartition("=")
            parsed.append((column, name))
        pairs = parsed
    result: dict[str, str] = {}
    for column, name in pairs:
        name = name.strip().lower().replace("-", "_").replace(" ", "_")
        name = {
            "code": "prefix",
            "effective": "effective_from",
            "effective_date": "effective_from",
            "connection_fee": "connect_fee",
            "setup_fee": "connect_fee",
        }.get(name, name)
        if name not in FIELDS:
            raise DeckError(
                f"--map {column}={name}: unknown field {name!r}; fields are " + ", ".join(FIELDS)
            )
        if not _normalise(column):
            raise DeckError(f"--map ={name}: the column name is empty")
        result[_normalise(column)] = name
    return result


@dataclass(frozen=True)
class ColumnMap:
    """Where each deck field is: ``fields[name]`` is a 0-based column index.

    ``headers`` are the header cells as written; ``currency`` the currency a header
    declared (``USD/min``), if any.
    """

    fields: dict[str, int]
    headers: list[str]
    currency: str | None = None
    unknown: list[str] = field(default_factory=list)

    def header_of(self, name: str) -> str:
        """The header text of field ``name`` as the deck wrote it."""
        return self.headers[self.fields[name]].strip() or name


def map_header(cells: Sequence[object], mapping: Mapping[str, str] | None = None) -> ColumnMap:
    """Map one header row's cells to deck fields (explicit ``mapping`` first).

    The first column that names a field gets it; later duplicates are ignored.
    """
    mapping = mapping or {}
    headers = ["" if c is None else str(c) for c in cells]
    fields: dict[str, int] = {}
    currency = None
    unknown: list[str] = []
    for i, header in enumerate(headers):
        key = _normalise(header)
        name: str | None
        cur: str | None
        if key in mapping:
            name, cur = mapping[key], None
            if name == "rate":
                _, cur = field_for_header(header)
        else:
            name, cur = field_for_header(header)
        if name is None:
            if key:
                unknown.append(header.strip())
            continue
        if name == "ignore" or name in fields:
            continue
        fields[name] = i
        if cur and name == "rate":
            currency = cur
    return ColumnMap(fields=fields, headers=headers, currency=currency, unknown=unknown)


def _is_header(cmap: ColumnMap) -> bool:
    return "prefix" in cmap.fields and "rate" in cmap.fields


def find_header(
    rows: Sequence[Sequence[object]], mapping: Mapping[str, str] | None = None
) -> tuple[int, ColumnMap] | None:
    """The index of the header among the first :data:`HEADER_SEARCH_LINES` rows, and its map.

    A header row names at least a prefix column and a rate column. Returns None when
    no row qualifies.
    """
    for index, row in enumerate(rows[:HEADER_SEARCH_LINES]):
        cmap = map_header(row, mapping)
        if _is_header(cmap):
            return index, cmap
    return None
