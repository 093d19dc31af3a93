"""CDR text files record by record, each with the line of the file it starts on.

A CDR CSV is read one of two ways, and both give every record its source line:

* :func:`one_record_per_line` scans the bytes first (vectorised, in blocks): when every
  line after the header is one well-formed record (the header's number of fields, no
  blank line, no quoted line break, no lone carriage return), record ``k`` is on line
  ``k + 1`` and the fast Arrow reader can be used;
* otherwise :func:`text_records` reads the file with Python's :mod:`csv` and tracks the
  lines each record spans: a record with the wrong number of fields, or an unbalanced
  quote that runs to the end of the file, comes back with its raw text and the line it
  starts on, in its place among the others.

:func:`binary_problem` refuses what is no text file at all (a NUL byte, a gzip, zip, xz,
bzip2 or Parquet file given as CSV) before either reader sees it.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

__all__ = ["BOM", "binary_problem", "one_record_per_line", "text_records"]

#: The UTF-8 byte order mark some tools (Excel) write at the start of a CSV file.
BOM = b"\xef\xbb\xbf"

_MAGIC = (
    (b"\x1f\x8b", "a gzip file: decompress it first (gunzip)"),
    (b"PK\x03\x04", "a zip archive (or an XLSX workbook): extract or export the CSV first"),
    (b"\xfd7zXZ\x00", "an xz file: decompress it first (unxz)"),
    (b"BZh", "a bzip2 file: decompress it first (bunzip2)"),
    (b"\x28\xb5\x2f\xfd", "a zstd file: decompress it first (unzstd)"),
    (b"PAR1", "a Parquet file: give it a .parquet name or --format parquet"),
)
_BLOCK = 1 << 22


def binary_problem(head: bytes) -> str | None:
    """Why the first bytes of a file say it is not CSV text, or None."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    nul = head.find(b"\x00")
    if nul >= 0:
        return f"binary data, not CSV text (a NUL byte at offset {nul})"
    return None


def one_record_per_line(path: str | os.PathLike[str], width: int) -> bool:
    """Whether the header of ``path`` is its first line and every line after it is one
    record of ``width`` fields: no quoted line break, no blank line, no lone carriage
    return, and ``width - 1`` unquoted commas on every line. Reads the file in blocks;
    memory does not grow with it."""
    quotes = 0  # quote characters so far (their parity says "inside a quoted field")
    commas = 0  # unquoted commas on the current line so far
    line_len = 0  # bytes on the current line so far
    prev = b"\n"  # the byte before the block
    first_line = True
    with open(path, "rb") as fh:
        block = fh.read(_BLOCK)
        if block.startswith(BOM):
            block = block[len(BOM) :]
        while block:
            b = np.frombuffer(block, dtype=np.uint8)
            nl = np.flatnonzero(b == 10)
            cr = np.flatnonzero(b == 13)
            if len(cr):  # every carriage return ends a line with a line feed after it
                after = cr + 1
                inside = after < len(b)
                if not (b[after[inside]] == 10).all():
                    return False
                if not inside.all():  # the block ends on a CR: the next must start with LF
                    nxt = fh.peek(1)[:1] if hasattr(fh, "peek") else b""
                    if nxt != b"\n":
                        return False
            q = np.flatnonzero(b == 34)
            if len(q):
                before_nl = quotes + np.searchsorted(q, nl)
                if (before_nl & 1).any():  # a line break inside quotes
                    return False
            c = np.flatnonzero(b == 44)
            if len(q) and len(c):
                c = c[((quotes + np.searchsorted(q, c)) & 1) == 0]
            per_line = np.bincount(np.searchsorted(nl, c), minlength=len(nl) + 1)
            per_line[0] += commas
            # length of each complete line (without its CR LF), to find blank lines
            starts = np.concatenate(([0], nl[:-1] + 1)) if len(nl) else np.zeros(0, np.int64)
            lengths = nl - starts
            if len(nl):
                lengths[0] += line_len
                ends_cr = np.zeros(len(nl), dtype=bool)
                has_prev = nl > 0
                ends_cr[has_prev] = b[nl[has_prev] - 1] == 13
                if not has_prev[0] and prev == b"\r":
                    ends_cr[0] = True
                text_len = lengths - ends_cr
                counts = per_line[: len(nl)]
                check = slice(1, None) if first_line else slice(None)
                if (text_len == 0).any() or (counts[check] != width - 1).any():
                    return False
                first_line = False
                line_len = len(b) - int(nl[-1]) - 1
                commas = int(per_line[len(nl)])
            else:
                line_len += len(b)
                commas = int(per_line[0])
            quotes += len(q)
            prev = block[-1:]
            block = fh.read(_BLOCK)
    if quotes & 1:
        return False
    if line_len and not first_line:  # a last line without a line break
        return commas == width - 1
    return True


def text_records(
    path: str | os.PathLike[str],
    *,
    skip_lines: int = 0,
    good: Callable[[list[str]], bool] | None = None,
) -> Iterator[tuple[int, list[str] | None, str]]:
    """``(line, fields, raw)`` for each record of a CSV text file, in file order, after
    the first ``skip_lines`` lines: the 1-based line the record starts on, its fields, and
    its text (line breaks inside it kept, the final one removed; "" for the records
    ``good`` accepts, whose text nobody needs). Blank lines are no records. Undecodable
    bytes read as U+FFFD. ``fields`` is None only when Python's csv reader refused the
    record; it is then kept whole in ``raw``."""
    p = Path(path)
    with open(p, encoding="utf-8-sig", errors="replace", newline="") as fh:
        consumed = 0
        taken: list[str] = []

        def lines() -> Iterator[str]:
            nonlocal consumed
            for text in fh:
                consumed += 1
                if consumed <= skip_lines:
                    continue
                taken.append(text)
                yield text

        reader = csv.reader(lines())
        while True:
            taken.clear()
            start = consumed + 1 if consumed >= skip_lines else skip_lines + 1
            try:
                row: list[str] | None = next(reader)
            except StopIteration:
                return
            except csv.Error:
                row = None
            if row is not None and not row:  # a blank line
                continue
            if taken:
                start = consumed - len(taken) + 1
            if row is not None and good is not None and good(row):
                yield start, row, ""
            else:
                yield start, row, "".join(taken).rstrip("\r\n")
