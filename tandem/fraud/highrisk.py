"""High-risk destination prefixes: which one a number falls in, for one customer.

A customer's ``high_risk_allow`` and ``high_risk_deny`` prefixes are matched together with
the shared list, longest prefix first: the longest matching prefix decides. So allowing
``882`` for a customer while the list has ``88216`` still catches ``88216...``, and denying
``4470`` catches ``4470...`` even where ``44`` is allowed.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

from tandem.errors import ConfigError

__all__ = ["HighRiskMatcher", "read_prefix_file"]


class HighRiskMatcher:
    """The longest high-risk prefix of a number for one customer (None when the number is
    not high risk, or the customer's allow list is the longest match)."""

    __slots__ = ("_risky", "_lengths", "prefixes", "allow", "deny")

    def __init__(
        self, prefixes: Iterable[str], *, allow: Iterable[str] = (), deny: Iterable[str] = ()
    ) -> None:
        self.prefixes = frozenset(prefixes)
        self.allow = frozenset(allow)
        self.deny = frozenset(deny)
        risky: dict[str, bool] = {p: True for p in self.prefixes}
        for p in self.allow:
            risky[p] = False
        for p in self.deny:
            risky[p] = True
        self._risky = risky
        self._lengths = tuple(sorted({len(p) for p in risky}, reverse=True))

    def match(self, number: str) -> str | None:
        """The high-risk prefix ``number`` falls in, or None."""
        risky = self._risky
        for n in self._lengths:
            hit = risky.get(number[:n])
            if hit is not None and len(number) >= n:
                return number[:n] if hit else None
        return None

    @property
    def table(self) -> dict[str, bool]:
        """Every prefix this matcher knows and whether it is high risk (allow: False)."""
        return dict(self._risky)


def read_prefix_file(path: str | os.PathLike[str]) -> list[str]:
    """Prefixes from a CSV file whose header names a ``prefix`` column (other columns, such
    as the type and source of each range, are kept for people); ``#`` lines are comments."""
    p = Path(path)
    try:
        with open(p, encoding="utf-8", newline="") as fh:
            rows = [line for line in fh if line.strip() and not line.lstrip().startswith("#")]
    except OSError as exc:
        raise ConfigError(f"cannot read high-risk list {str(p)!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"high-risk list {str(p)!r} is not UTF-8 text") from None
    reader = csv.DictReader(rows)
    if not reader.fieldnames or "prefix" not in reader.fieldnames:
        raise ConfigError(f"high-risk list {str(p)!r} has no 'prefix' column in its header")
    out = []
    for line, row in enumerate(reader, start=2):
        prefix = (row.get("prefix") or "").strip().lstrip("+")
        if not (prefix.isascii() and prefix.isdigit() and 1 <= len(prefix) <= 15):
            raise ConfigError(f"high-risk list {p.name}, record {line}: bad prefix {prefix!r}")
        out.append(prefix)
    return out
