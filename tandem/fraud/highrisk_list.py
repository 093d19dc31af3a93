"""The high-risk destination list: number ranges where fraud turns calls into money.

``data/high_risk.csv`` (built by ``scripts/build_high_risk.py``, never edited by hand)
lists E.164 prefixes (digits, no ``+``) with the kind of range they are:

==========================  ==============================================================
``premium_rate``            the called party is paid per minute (premium-rate services):
                            from the ``phonenumbers`` package's metadata (Apache-2.0), and
                            the universal international premium rate code 979 (Tandem policy)
``shared_cost``             the cost is shared with the called party; revenue-share fraud
                            uses them too (``phonenumbers`` metadata)
``international_network``   the ITU international network codes 881 (satellite), 882 and
                            883: no country, little oversight, the classic International
                            Revenue Share Fraud ranges (Tandem policy)
==========================  ==============================================================

Columns: ``prefix, kind, country, length, source``. ``country`` is an ISO 3166 region
code (``001`` for the non-geographic codes), ``length`` one valid length of a full number
in the range (E.164 digits, country code included) and ``source`` where the row comes
from. Lines starting with ``#`` are comments (the file's header names its sources and
their licence).

Loading needs no third-party package: only the build script reads ``phonenumbers``.
A number is high-risk when one of the listed prefixes is a prefix of it; the longest
listed prefix answers (:meth:`HighRiskList.lookup`), and a whole column of numbers is
matched at once with Arrow (:meth:`HighRiskList.match`).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tandem.errors import ConfigError

__all__ = [
    "DEFAULT_HIGH_RISK_PATH",
    "HIGH_RISK_KINDS",
    "HighRiskRange",
    "HighRiskList",
    "load_high_risk",
]

#: The list shipped with Tandem (``data/high_risk.csv`` beside the package).
DEFAULT_HIGH_RISK_PATH = Path(__file__).resolve().parents[2] / "data" / "high_risk.csv"

#: The kinds of range a list may name.
HIGH_RISK_KINDS = ("premium_rate", "shared_cost", "international_network")

_COLUMNS = ("prefix", "kind", "country", "length", "source")


@dataclass(frozen=True, slots=True)
class HighRiskRange:
    """One listed range: numbers starting with ``prefix`` (E.164 digits, no ``+``)."""

    prefix: str
    kind: str
    country: str
    length: int
    source: str


class HighRiskList:
    """High-risk ranges, looked up by longest prefix."""

    def __init__(self, ranges: Iterable[HighRiskRange]) -> None:
        by_prefix: dict[str, HighRiskRange] = {}
        for r in ranges:
            if not r.prefix.isdigit() or not r.prefix.isascii():
                raise ConfigError(f"high-risk list: prefix {r.prefix!r} is not all digits")
            if r.kind not in HIGH_RISK_KINDS:
                raise ConfigError(
                    f"high-risk list: prefix {r.prefix}: unknown kind {r.kind!r} "
                    f"(one of {', '.join(HIGH_RISK_KINDS)})"
                )
            if not len(r.prefix) <= r.length <= 15:
                raise ConfigError(
                    f"high-risk list: prefix {r.prefix}: length {r.length} must be between "
                    f"the prefix's {len(r.prefix)} digits and 15"
                )
            if r.prefix in by_prefix:
                raise ConfigError(f"high-risk list: prefix {r.prefix} is listed twice")
            by_prefix[r.prefix] = r
        self._by_prefix = by_prefix
        self._lengths = sorted({len(p) for p in by_prefix}, reverse=True)

    def __len__(self) -> int:
        return len(self._by_prefix)

    def __iter__(self) -> Iterator[HighRiskRange]:
        return iter(sorted(self._by_prefix.values(), key=lambda r: r.prefix))

    def __contains__(self, number: object) -> bool:
        return isinstance(number, str) and self.lookup(number) is not None

    @property
    def prefixes(self) -> frozenset[str]:
        """Every listed prefix."""
        return frozenset(self._by_prefix)

    def lookup(self, number: str) -> HighRiskRange | None:
        """The range with the longest listed prefix of ``number`` (E.164 digits), or None."""
        for k in self._lengths:
            if k <= len(number):
                hit = self._by_prefix.get(number[:k])
                if hit is not None:
                    return hit
        return None

    def match(self, numbers: pa.Array | pa.ChunkedArray | Sequence[str]) -> pa.Array:
        """For each number, the longest listed prefix it starts with, or null (vectorised)."""
        arr = numbers if isinstance(numbers, pa.Array | pa.ChunkedArray) else pa.array(numbers)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if not pa.types.is_string(arr.type):
            arr = pc.cast(arr, pa.string())
        out = pa.nulls(len(arr), pa.string())
        lengths = pc.utf8_length(arr)
        for k in self._lengths:  # longest first: a match already found is kept
            values = pa.array(sorted(p for p in self._by_prefix if len(p) == k), pa.string())
            head = pc.utf8_slice_codeunits(arr, 0, k)
            hit = pc.and_(pc.greater_equal(lengths, k), pc.is_in(head, value_set=values))
            out = pc.if_else(pc.and_(pc.fill_null(hit, False), pc.is_null(out)), head, out)
        return out

    def is_high_risk(self, numbers: pa.Array | pa.ChunkedArray | Sequence[str]) -> np.ndarray:
        """A boolean array: which numbers fall in a listed range (vectorised)."""
        return np.asarray(self.match(numbers).is_valid().to_numpy(zero_copy_only=False))

    def of_kind(self, *kinds: str) -> HighRiskList:
        """The ranges of the given kinds only."""
        return HighRiskList(r for r in self._by_prefix.values() if r.kind in kinds)


def load_high_risk(path: str | os.PathLike[str] | None = None) -> HighRiskList:
    """Read a high-risk list CSV (default: the list shipped in ``data/high_risk.csv``)."""
    p = Path(path) if path is not None else DEFAULT_HIGH_RISK_PATH
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read high-risk list {os.fspath(p)!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"high-risk list {os.fspath(p)!r} is not UTF-8 text") from None
    lines = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    lines = [(i, line) for i, line in lines if not line.lstrip().startswith("#")]
    if not lines:
        raise ConfigError(f"high-risk list {p.name}: no header line")
    header = next(csv.reader([lines[0][1]]))
    if tuple(h.strip() for h in header) != _COLUMNS:
        raise ConfigError(
            f"high-risk list {p.name} line {lines[0][0]}: the header must be "
            f"{','.join(_COLUMNS)}, not {lines[0][1]!r}"
        )
    ranges = []
    for lineno, line in lines[1:]:
        row = next(csv.reader([line]))
        if len(row) != len(_COLUMNS):
            raise ConfigError(
                f"high-risk list {p.name} line {lineno}: {len(row)} fields, "
                f"expected {len(_COLUMNS)}"
            )
        prefix, kind, country, length, source = (c.strip() for c in row)
        if not length.isdigit():
            raise ConfigError(f"high-risk list {p.name} line {lineno}: length {length!r}")
        ranges.append(HighRiskRange(prefix, kind, country, int(length), source))
    try:
        return HighRiskList(ranges)
    except ConfigError as exc:
        raise ConfigError(f"{p.name}: {exc}") from None
