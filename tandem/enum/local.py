"""The local ENUM / number portability table: numbers and number blocks from files.

Operators that receive portability data as files (a national NP database extract, a
partner's list of on-net ranges) keep it here. An entry is a number or number block
prefix (E.164 digits) and where it lives: a routing number (the number is ported; route
and rate on that number) and/or an on-net SIP URI. The longest matching prefix wins, so
``4420`` → ``RN 44990`` with ``442071234567`` → ``RN 442071234567`` makes the single
number "ported back home" inside a ported block.

CSV format (UTF-8, a header row; other columns are ignored)::

    number_prefix,routing_number,sip_uri
    +442071234567,+449901234,
    4420799,,sip:{number}@core.example.net

Column aliases: ``number`` / ``prefix`` / ``number_block`` for ``number_prefix``; ``rn``
for ``routing_number``; ``uri`` for ``sip_uri``. Numbers may carry ``+`` and visual
separators. Each row needs a routing number or a SIP URI (``sip:`` / ``sips:``). Bad rows
are reported with their line number and reason, and then nothing is imported.

The table is checked before DNS (:class:`ChainedLookup`), answers with ``source`` =
``local``, and maps a pandas Series of numbers to routing numbers for the rater
(:meth:`LocalPortTable.routing_numbers`).
"""

from __future__ import annotations

import csv
import io
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from tandem.enum.types import LookupKind, NumberInfo, NumberLookup
from tandem.errors import PortDataError
from tandem.numbers import MAX_DIGITS

if TYPE_CHECKING:
    from tandem.store import Store

__all__ = [
    "PortEntry",
    "LocalPortTable",
    "ChainedLookup",
    "ImportSummary",
    "read_port_csv",
    "import_ports",
    "import_port_csv",
]

_SEPARATORS = re.compile(r"[ \t().-]")
_ALIASES = {
    "number_prefix": "number_prefix",
    "number": "number_prefix",
    "prefix": "number_prefix",
    "number_block": "number_prefix",
    "routing_number": "routing_number",
    "rn": "routing_number",
    "sip_uri": "sip_uri",
    "uri": "sip_uri",
}
_MAX_PROBLEMS_SHOWN = 20


@dataclass(frozen=True, slots=True)
class PortEntry:
    """One local entry: a number or number block prefix and where it lives."""

    number_prefix: str
    routing_number: str | None = None
    sip_uri: str | None = None
    line: int = 0
    source: str = ""


def _number(text: str, what: str) -> str:
    raw = text.strip()
    digits = _SEPARATORS.sub("", raw[1:] if raw.startswith("+") else raw)
    if not digits:
        raise ValueError(f"{what} is empty")
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"{what} {text!r} is not E.164 digits")
    if len(digits) > MAX_DIGITS:
        raise ValueError(f"{what} {text!r} has more than {MAX_DIGITS} digits")
    return digits


def _sip_uri(text: str) -> str:
    uri = text.strip()
    scheme, sep, rest = uri.partition(":")
    if not sep or scheme.lower() not in ("sip", "sips") or not rest:
        raise ValueError(f"sip_uri {text!r} is not a sip: or sips: URI")
    if any(c.isspace() for c in uri) or not uri.isprintable():
        raise ValueError(f"sip_uri {text!r} contains spaces or control characters")
    if len(uri) > 256:
        raise ValueError("sip_uri is longer than 256 characters")
    return uri


def read_port_csv(source: str | os.PathLike[str] | io.TextIOBase) -> list[PortEntry]:
    """Read and validate a portability CSV (a path or an open text file).

    Raises :class:`~tandem.errors.PortDataError` listing every bad row (line, reason).
    """
    if isinstance(source, io.TextIOBase):
        return _parse_csv(source, getattr(source, "name", "<stream>"))
    path = Path(source)
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return _parse_csv(fh, path.name)
    except OSError as exc:
        raise PortDataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise PortDataError(f"{path} is not UTF-8 text ({exc.reason}); save it as UTF-8") from exc


def _parse_csv(fh: Iterable[str], name: str) -> list[PortEntry]:
    reader = csv.reader(fh)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise PortDataError(f"{name}: not a CSV file ({exc})") from exc
    if header is None:
        raise PortDataError(f"{name} is empty: expected a header number_prefix,routing_number,...")
    columns: dict[str, int] = {}
    for i, title in enumerate(header):
        key = _ALIASES.get(title.strip().lower())
        if key is not None:
            if key in columns:
                raise PortDataError(f"{name}: two columns mean {key} ({title!r})")
            columns[key] = i
    if "number_prefix" not in columns or len(columns) < 2:
        raise PortDataError(
            f"{name}: the header must name number_prefix and routing_number and/or sip_uri "
            f"(found {', '.join(header) or 'nothing'})"
        )
    entries: list[PortEntry] = []
    problems: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue

            def cell(key: str, row: list[str] = row) -> str:
                i = columns.get(key)
                return row[i].strip() if i is not None and i < len(row) else ""

            try:
                prefix = _number(cell("number_prefix"), "number_prefix")
                rn_text, uri_text = cell("routing_number"), cell("sip_uri")
                rn = _number(rn_text, "routing_number") if rn_text else None
                uri = _sip_uri(uri_text) if uri_text else None
                if rn is None and uri is None:
                    raise ValueError("give a routing_number or a sip_uri")
                if prefix in seen:
                    raise ValueError(f"number_prefix {prefix} already on line {seen[prefix]}")
            except ValueError as exc:
                problems.append((line, str(exc)))
                continue
            seen[prefix] = line
            entries.append(PortEntry(prefix, rn, uri, line, name))
    except csv.Error as exc:
        problems.append((reader.line_num, f"CSV syntax: {exc}"))
    if problems:
        shown = "; ".join(f"line {n}: {why}" for n, why in problems[:_MAX_PROBLEMS_SHOWN])
        more = len(problems) - _MAX_PROBLEMS_SHOWN
        tail = f"; and {more} more" if more > 0 else ""
        raise PortDataError(
            f"{name}: {len(problems)} bad row(s), nothing imported: {shown}{tail}", problems
        )
    if not entries:
        raise PortDataError(f"{name} has a header but no rows; nothing imported")
    return entries


class LocalPortTable:
    """Longest-prefix lookups in local portability / on-net entries (a NumberLookup)."""

    def __init__(self, entries: Iterable[PortEntry]) -> None:
        by_len: dict[int, dict[str, PortEntry]] = {}
        for entry in entries:
            by_len.setdefault(len(entry.number_prefix), {})[entry.number_prefix] = entry
        self._by_len = by_len
        self._lengths = tuple(sorted(by_len, reverse=True))

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> LocalPortTable:
        """Load straight from a CSV file (see the module docstring for the format)."""
        return cls(read_port_csv(path))

    @classmethod
    def from_store(cls, store: Store) -> LocalPortTable:
        """Load the active entries of the store's local portability table."""
        return cls(
            PortEntry(e.number_prefix, e.routing_number, e.sip_uri, 0, e.source)
            for e in store.ported_numbers()
        )

    def __len__(self) -> int:
        return sum(len(d) for d in self._by_len.values())

    def entries(self) -> list[PortEntry]:
        """Every entry, by prefix."""
        return sorted(
            (e for d in self._by_len.values() for e in d.values()), key=lambda e: e.number_prefix
        )

    def match(self, number: str) -> PortEntry | None:
        """The entry with the longest prefix of ``number`` (digits, ``+`` optional)."""
        digits = number[1:] if number.startswith("+") else number
        n = len(digits)
        for length in self._lengths:
            if length <= n:
                entry = self._by_len[length].get(digits[:length])
                if entry is not None:
                    return entry
        return None

    def lookup(self, number: str) -> NumberInfo:
        """Where ``number`` lives according to the local table (``source`` = ``local``)."""
        start = time.perf_counter()
        digits = number[1:] if number.startswith("+") else number
        entry = self.match(digits)
        if entry is None:
            return NumberInfo(
                digits,
                LookupKind.NOT_FOUND,
                source="local",
                elapsed_ms=(time.perf_counter() - start) * 1000.0,
                detail="no local entry",
            )
        where = f"local entry {entry.number_prefix}"
        if entry.source:
            where += f" ({entry.source}{f' line {entry.line}' if entry.line else ''})"
        if entry.sip_uri:
            return NumberInfo(
                digits,
                LookupKind.ON_NET,
                routing_number=entry.routing_number or None,
                sip_uri=entry.sip_uri,
                source="local",
                elapsed_ms=(time.perf_counter() - start) * 1000.0,
                detail=where,
            )
        if entry.routing_number and entry.routing_number != digits:
            return NumberInfo(
                digits,
                LookupKind.PORTED,
                routing_number=entry.routing_number,
                source="local",
                elapsed_ms=(time.perf_counter() - start) * 1000.0,
                detail=where,
            )
        return NumberInfo(
            digits,
            LookupKind.NOT_PORTED,
            source="local",
            elapsed_ms=(time.perf_counter() - start) * 1000.0,
            detail=where,
        )

    def routing_numbers(self, numbers: pd.Series) -> pd.Series:
        """Vectorised: each number's routing number, ``<NA>`` when not ported.

        ``numbers`` holds E.164 numbers (digits, ``+`` optional); the result has the same
        index and the ``string`` dtype. The longest matching entry decides: an entry
        without a routing number (on-net only), or whose routing number is the number
        itself, gives ``<NA>``. Missing or non-digit inputs give ``<NA>``.
        """
        text = numbers.astype("string").str.strip().str.removeprefix("+")
        valid = text.str.fullmatch(f"[0-9]{{1,{MAX_DIGITS}}}").fillna(False).astype(bool)
        lengths = text.str.len()
        result = pd.Series(pd.NA, index=numbers.index, dtype="string")
        open_ = valid.copy()
        for length in self._lengths:
            if not open_.any():
                break
            table = {p: (e.routing_number or "") for p, e in self._by_len[length].items()}
            eligible = open_ & (lengths >= length).fillna(False).astype(bool)
            if not eligible.any():
                continue
            mapped = text[eligible].str.slice(0, length).map(table)
            hit = mapped.notna()
            hit_index = mapped.index[hit.to_numpy()]
            result.loc[hit_index] = mapped[hit].astype("string")
            open_.loc[hit_index] = False
        not_ported = (result == "") | (result == text)
        result[not_ported.fillna(False).astype(bool)] = pd.NA
        return result


class ChainedLookup:
    """Ask several NumberLookups in turn (e.g. the local table, then DNS): the first
    answer other than ``not-found`` wins; otherwise the last one's answer."""

    def __init__(self, *lookups: NumberLookup) -> None:
        if not lookups:
            raise ValueError("ChainedLookup needs at least one lookup")
        self.lookups = lookups

    def lookup(self, number: str) -> NumberInfo:
        """The first conclusive answer of the chain."""
        info: NumberInfo | None = None
        for lookup in self.lookups:
            info = lookup.lookup(number)
            if info.kind is not LookupKind.NOT_FOUND:
                return info
        assert info is not None
        return info


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did: rows written, earlier rows deactivated, active rows now."""

    source: str
    imported: int
    deactivated: int
    active: int
    replace: bool


def import_ports(
    store: Store,
    entries: list[PortEntry],
    *,
    source: str,
    replace: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Write ``entries`` into the store's local portability table atomically.

    Without ``replace`` an entry supersedes the active row of the same prefix (kept,
    marked inactive); with ``replace`` every active row is deactivated first (the file is
    the whole table). All or nothing: one transaction. ``on_progress(n)`` is called as
    rows are written (for a progress bar).
    """
    if not entries:
        raise PortDataError(f"{source}: no rows to import")
    done = store.write_ported_numbers(
        entries, source=source, replace=replace, on_progress=on_progress
    )
    return ImportSummary(source, done.imported, done.deactivated, done.active, replace)


def import_port_csv(
    store: Store,
    path: str | os.PathLike[str],
    *,
    replace: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Validate a portability CSV and import it into the store (all rows or none)."""
    entries = read_port_csv(path)
    return import_ports(
        store, entries, source=Path(path).name, replace=replace, on_progress=on_progress
    )
