"""CSV text cells that a spreadsheet will not run as a formula (CSV injection).

A spreadsheet that opens a CSV file treats a cell starting with ``=``, ``+``, ``-`` or
``@`` as a formula (``=cmd|' /C calc'!A0``, ``+HYPERLINK(...)``), and some also one
starting with a tab or a carriage return. Tandem writes destination, customer and
carrier names it read from other people's files, so every *text* cell it writes to a CSV
goes through :func:`neutralise_cell`, which puts a single quote in front of such a cell,
as the OWASP "CSV Injection" page advises; a spreadsheet shows the quote-prefixed cell as
plain text. Number cells (a negative margin ``-0.5``) are never changed.

The quote is escaping, not data: :func:`restore_cell` takes it off again, and ``tandem
deck import`` does so on destination names, so an export imported back gives the same
names. To keep that exact for every name, a name that already starts with quotes followed
by a formula character (``'=x``) gets one more quote too; :func:`restore_cell` removes
exactly one quote from a cell that starts with one or more quotes and then a formula
character, and leaves every other cell alone.
"""

from __future__ import annotations

import re

__all__ = [
    "FORMULA_STARTS",
    "NEUTRALISED_PATTERN",
    "RESTORE_PATTERN",
    "RESTORE_REPLACEMENT",
    "is_neutralised",
    "neutralise_cell",
    "restore_cell",
]

#: The first characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_CLASS = "[=+\\-@\\t\\r]"
#: A neutralised cell: one or more quotes, then a formula character (RE2 and ``re`` alike).
NEUTRALISED_PATTERN = f"^'+{_CLASS}"
#: :func:`restore_cell` as a regular expression replacement (RE2, e.g. for
#: ``pyarrow.compute.replace_substring_regex``): the first quote off a neutralised cell.
RESTORE_PATTERN = f"^'('*{_CLASS})"
RESTORE_REPLACEMENT = "\\1"
_NEEDS_QUOTE = re.compile(f"^'*{_CLASS}")
_NEUTRALISED = re.compile(NEUTRALISED_PATTERN)


def neutralise_cell(text: str) -> str:
    """``text`` safe for a CSV text cell: ``'`` in front when it would start a formula.

    ``"=1+1"`` becomes ``"'=1+1"``, ``"'=x"`` becomes ``"''=x"``, ``"Mobile"`` and
    ``"'quoted"`` stay as they are.
    """
    return "'" + text if _NEEDS_QUOTE.match(text) else text


def is_neutralised(text: str) -> bool:
    """True when ``text`` is a cell :func:`neutralise_cell` changed (quotes, then a
    formula character)."""
    return _NEUTRALISED.match(text) is not None


def restore_cell(text: str) -> str:
    """The text a neutralised cell stood for: one leading quote off when quotes are
    followed by a formula character; any other cell unchanged.

    ``restore_cell(neutralise_cell(t)) == t`` for every string ``t``.
    """
    return text[1:] if _NEUTRALISED.match(text) else text
