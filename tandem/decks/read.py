"""Reading a rate-deck file into raw text cells: CSV (any delimiter, any encoding) and XLSX.

This is the outermost edge of deck import: bytes in, a :class:`RawDeck` out, whose
columns are Arrow string arrays (one per header cell) and whose ``lines`` say which
line of the file (or row of the spreadsheet) each data row came from.

CSV:

* encoding: a byte-order mark (UTF-8, UTF-16) or a declaration in the first lines
  (``# encoding: latin-1``, ``charset=...``) wins; otherwise UTF-8, else Windows-1252 /
  Latin-1 (which never fails);
* delimiter: comma, semicolon, tab or pipe, whichever yields a header row;
* the header row may be any of the first :data:`HEADER_SEARCH_LINES` lines (title lines
  and logos come first in many vendor files).

Large well-formed files are parsed by ``pyarrow.csv`` (multi-threaded, no Python loop
per row); files with quoted line breaks or ragged rows fall back to Python's :mod:`csv`,
which reports the same line numbers.

Limits (a deck is untrusted input; each refusal is a :class:`~tandem.errors.DeckError`
raised before the work it would cost):

* the file: a regular file (not a FIFO, device or directory) of at most
  :data:`MAX_DECK_BYTES` (a caller may raise it);
* an XLSX workbook: at most :data:`MAX_XLSX_MEMBERS` zip members, each at most
  :data:`MAX_XLSX_MEMBER_BYTES` uncompressed and, above 1 MiB, compressed at most
  :data:`MAX_XLSX_RATIO` to 1 (zip bombs); at most :data:`MAX_XLSX_SHARED_STRINGS` shared
  strings; at most :data:`MAX_XLSX_ROWS` rows (Excel's own limit). The sheet's
  ``<dimension>`` is never trusted: every row the sheet holds is read, and only the first
  :data:`MAX_XLSX_COLUMNS` columns are searched for the header.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from tandem.decks.header import HEADER_SEARCH_LINES, ColumnMap, find_header
from tandem.errors import DeckError
from tandem.files import NotRegularFileError, open_regular

__all__ = [
    "RawDeck",
    "read_deck_file",
    "read_deck_bytes",
    "read_deck_source",
    "DELIMITERS",
    "MAX_DECK_BYTES",
    "MAX_XLSX_MEMBERS",
    "MAX_XLSX_MEMBER_BYTES",
    "MAX_XLSX_RATIO",
    "MAX_XLSX_SHARED_STRINGS",
    "MAX_XLSX_ROWS",
    "MAX_XLSX_COLUMNS",
]

#: Delimiters tried when sniffing a CSV deck, in order of preference.
DELIMITERS = (",", ";", "\t", "|")

#: Largest deck file read, in bytes (512 MiB; ``--max-file-bytes`` raises it).
MAX_DECK_BYTES = 512 * 1024 * 1024
#: Most members (files) an XLSX zip may hold.
MAX_XLSX_MEMBERS = 10_000
#: Largest uncompressed size of one XLSX zip member (1 GiB; a 1,048,576-row sheet of a
#: dozen columns is about half that).
MAX_XLSX_MEMBER_BYTES = 1024 * 1024 * 1024
#: Highest compression ratio of an XLSX zip member above 1 MiB (real sheets: about 10).
MAX_XLSX_RATIO = 100
#: Most shared strings an XLSX workbook may hold (two per row of a full sheet).
MAX_XLSX_SHARED_STRINGS = 2_000_000
#: Most rows a sheet may hold: Excel's own limit.
MAX_XLSX_ROWS = 1_048_576
#: Columns searched for the header row (the data is read as wide as the header).
MAX_XLSX_COLUMNS = 256

_DECLARED = re.compile(
    rb"(?:en)?coding\s*[:=]\s*[\"']?([A-Za-z0-9_.\-]+)|charset\s*=\s*([A-Za-z0-9_.\-]+)"
)


@dataclass
class RawDeck:
    """A deck file's data rows as text, before any value is interpreted.

    ``columns[i]`` holds column ``i`` (a ``pyarrow`` string array, nulls for missing
    cells); ``lines[j]`` is the 1-based file line (CSV) or sheet row (XLSX) of data row
    ``j``; ``header_line`` the line of the header row; ``columns_map`` where each field is.
    """

    columns: list[pa.Array]
    lines: np.ndarray
    header_line: int
    columns_map: ColumnMap
    format: str  # "csv" or "xlsx"
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(len(self.lines))

    def column(self, name: str) -> pa.Array | None:
        """The raw cells of deck field ``name``, or None when the deck has no such column."""
        index = self.columns_map.fields.get(name)
        return None if index is None else self.columns[index]


def read_deck_file(
    path: str | Path,
    mapping: Mapping[str, str] | None = None,
    *,
    sheet: str | None = None,
    max_bytes: int = MAX_DECK_BYTES,
) -> RawDeck:
    """Read a CSV or XLSX deck from ``path`` (the format is told by the content)."""
    path = Path(path)
    data = read_deck_source(path, max_bytes=max_bytes)
    return read_deck_bytes(data, mapping, sheet=sheet, name=path.name)


def read_deck_source(path: str | Path, *, max_bytes: int = MAX_DECK_BYTES) -> bytes:
    """The bytes of the deck file ``path``: a regular file of at most ``max_bytes``.

    A FIFO, device or directory is refused before anything is read (a FIFO would block,
    ``/dev/zero`` never ends), and so is a file over ``max_bytes`` (by its size, then by
    what is read, should it grow meanwhile). Raises :class:`DeckError`.
    """
    path = Path(path)
    shown = str(path)
    try:
        fd = open_regular(path)
    except NotRegularFileError as exc:
        raise DeckError(
            f"cannot read deck {shown!r}: it is {exc.kind}, not a regular file; "
            "give a CSV or XLSX file"
        ) from None
    except OSError as exc:
        raise DeckError(f"cannot read deck {shown!r}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        try:
            info = os.fstat(fh.fileno())
            _check_size(shown, info.st_size, max_bytes)
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise DeckError(f"cannot read deck {shown!r}: {exc.strerror or exc}") from None
    _check_size(shown, len(data), max_bytes)
    return data


def _check_size(shown: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise DeckError(
            f"deck {shown!r} is {size:,} bytes, over the limit of {max_bytes:,} bytes; "
            "pass --max-file-bytes to read a larger deck"
        )


def read_deck_bytes(
    data: bytes,
    mapping: Mapping[str, str] | None = None,
    *,
    sheet: str | None = None,
    name: str = "deck",
) -> RawDeck:
    """Read a CSV or XLSX deck from its bytes. Raises :class:`DeckError` if it is not a deck."""
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(data, mapping, sheet=sheet, name=name)
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise DeckError(
            f"{name}: this is an old binary Excel (.xls) file; save it as .xlsx or CSV first"
        )
    if not _declares_encoding(data):
        fast = _read_csv_utf8(data, mapping, name=name)
        if fast is not None:
            return fast
    text, encoding = _decode(data, name)
    return _read_csv_text(text, encoding, mapping, name=name)


def _declares_encoding(data: bytes) -> bool:
    boms = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    return data.startswith(boms) or _DECLARED.search(data[:2048]) is not None


def _read_csv_utf8(data: bytes, mapping: Mapping[str, str] | None, *, name: str) -> RawDeck | None:
    """The common case without a Python copy of the file: UTF-8 bytes straight to Arrow.

    Returns None when the file is not UTF-8 or not regular enough for the fast path (the
    caller then decodes it and takes the general route).
    """
    head_bytes = data[:65536]
    try:
        head = head_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head_bytes) - 4 or len(data) <= len(head_bytes):
            return None
        head = head_bytes[: exc.start].decode("utf-8")  # a character cut at the edge
    if "\x00" in head[:4096]:
        return None
    lines = head.splitlines()[:HEADER_SEARCH_LINES]
    delimiter, header_index, cmap = _sniff(lines, mapping, name)
    pos = _after_lines(head, header_index + 1)
    if pos >= len(head) and len(data) > len(head_bytes):
        return None
    offset = len(head[:pos].encode("utf-8"))
    width = len(cmap.headers)
    columns, lines_ = _parse_fast(data, delimiter, width, header_index + 2, offset=offset)
    if columns is None:
        return None
    return RawDeck(
        columns=columns,
        lines=lines_,
        header_line=header_index + 1,
        columns_map=cmap,
        format="csv",
        encoding="utf-8",
        delimiter=delimiter,
    )


# -- encoding -------------------------------------------------------------------------


def _decode(data: bytes, name: str) -> tuple[str, str]:
    for bom, enc in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(enc), enc
            except UnicodeDecodeError as exc:
                raise DeckError(
                    f"{name}: declares {enc} by its byte-order mark but {exc}"
                ) from None
    head = data[:2048]
    declared = _DECLARED.search(head)
    if declared:
        enc = (declared.group(1) or declared.group(2)).decode("ascii", "replace")
        try:
            codecs.lookup(enc)
        except LookupError:
            raise DeckError(f"{name}: declares the unknown encoding {enc!r}") from None
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError as exc:
            raise DeckError(f"{name}: declares {enc} but is not: {exc}") from None
    if b"\x00" in data[:4096]:
        raise DeckError(
            f"{name}: is a binary file, not a rate deck; expected CSV text or an XLSX workbook"
        )
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


# -- CSV ------------------------------------------------------------------------------


def _split_one(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return line.split(delimiter)


def _sniff(
    head_lines: Sequence[str], mapping: Mapping[str, str] | None, name: str
) -> tuple[str, int, ColumnMap]:
    best: tuple[int, str, int, ColumnMap] | None = None
    for delimiter in DELIMITERS:
        rows = [_split_one(line, delimiter) for line in head_lines]
        found = find_header(rows, mapping)
        if found is None:
            continue
        index, cmap = found
        score = len(cmap.fields)
        if best is None or score > best[0]:
            best = (score, delimiter, index, cmap)
    if best is None:
        raise DeckError(
            f"{name}: not a rate deck: no header row with a code column (Code, Prefix, "
            f"Dial Code...) and a rate column (Rate, Price, USD/min...) in the first "
            f"{HEADER_SEARCH_LINES} lines; name your columns with --map COLUMN=FIELD"
        )
    _, delimiter, index, cmap = best
    return delimiter, index, cmap


def _read_csv_text(
    text: str, encoding: str, mapping: Mapping[str, str] | None, *, name: str
) -> RawDeck:
    if "\x00" in text[:4096]:
        raise DeckError(
            f"{name}: is a binary file, not a rate deck; expected CSV text or an XLSX workbook"
        )
    text = text.lstrip("\ufeff")
    head = text[:65536].splitlines()[:HEADER_SEARCH_LINES]
    delimiter, header_index, cmap = _sniff(head, mapping, name)
    # Byte offset of the first data line (the line after the header).
    pos = _after_lines(text, header_index + 1)
    body = text[pos:]
    first_line = header_index + 2
    width = len(cmap.headers)
    columns, lines = _parse_fast(body.encode("utf-8"), delimiter, width, first_line)
    if columns is None:
        columns, lines = _parse_slow(body, delimiter, width, first_line)
    return RawDeck(
        columns=columns,
        lines=lines,
        header_line=header_index + 1,
        columns_map=cmap,
        format="csv",
        encoding=encoding,
        delimiter=delimiter,
    )


def _next_newline(text: str, pos: int) -> int:
    """Index just after the next line break at or after ``pos`` (\\n, \\r\\n or \\r), or -1."""
    m = re.compile(r"\r\n|\n|\r").search(text, pos)
    return -1 if m is None else m.end()


def _after_lines(text: str, count: int) -> int:
    """Index just after the first ``count`` lines of ``text`` (its length if it has fewer)."""
    pos = 0
    for _ in range(count):
        nl = _next_newline(text, pos)
        if nl < 0:
            return len(text)
        pos = nl
    return pos


_NOT_SPACE = re.compile(rb"\S")


def _parse_fast(
    data: bytes, delimiter: str, width: int, first_line: int, *, offset: int = 0
) -> tuple[list[pa.Array] | None, np.ndarray]:
    """pyarrow.csv over ``data[offset:]`` (UTF-8) when every physical line is one record.

    Reads the bytes in place (no copy of the file).
    """
    empty = np.zeros(0, dtype=np.int64)
    if _NOT_SPACE.search(data, offset) is None:
        return [pa.array([], type=pa.string()) for _ in range(width)], empty
    if data.find(b"\r", offset) >= 0 and data.find(b"\r\n", offset) < 0:
        return None, empty  # old Mac line ends: let the csv module handle them
    if data.find(b'"', offset) >= 0:
        arr = np.frombuffer(data, dtype=np.uint8, offset=offset)
        quotes = np.flatnonzero(arr == 34)
        newlines = np.flatnonzero(arr == 10)
        if (np.searchsorted(quotes, newlines) % 2).any():
            return None, empty  # a quoted field spans lines
    names = [f"c{i}" for i in range(width)]
    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(data).slice(offset)),
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, ignore_empty_lines=False, newlines_in_values=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException):
        return None, empty  # ragged rows: the slow path reports them line by line
    n = table.num_rows
    lines = np.arange(first_line, first_line + n, dtype=np.int64)
    return [table.column(i).combine_chunks() for i in range(width)], lines


def _parse_slow(
    body: str, delimiter: str, width: int, first_line: int
) -> tuple[list[pa.Array], np.ndarray]:
    """Python's csv module: handles quoted line breaks and ragged rows, exact line numbers."""
    cols: list[list[str | None]] = [[] for _ in range(width)]
    lines: list[int] = []
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=delimiter)
    start = 1
    try:
        for row in reader:
            line = first_line + start - 1
            start = reader.line_num + 1
            if not row or not any(c.strip() for c in row):
                continue
            lines.append(line)
            for i in range(width):
                cols[i].append(row[i] if i < len(row) else None)
    except csv.Error as exc:
        raise DeckError(
            f"line {first_line + reader.line_num - 1}: the CSV cannot be read: {exc}"
        ) from None
    return [pa.array(c, type=pa.string()) for c in cols], np.asarray(lines, dtype=np.int64)


# -- XLSX -----------------------------------------------------------------------------


def _cell_text(value: object) -> str | None:
    """A spreadsheet cell as text: integers plainly, floats as their shortest exact repr."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _read_xlsx(
    data: bytes, mapping: Mapping[str, str] | None, *, sheet: str | None, name: str
) -> RawDeck:
    import openpyxl

    _check_xlsx_archive(data, name)
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise DeckError(f"{name}: not a readable XLSX workbook ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - openpyxl raises assorted errors on junk
        raise DeckError(f"{name}: not a readable XLSX workbook ({type(exc).__name__})") from None
    try:
        found = _read_sheets(book, mapping, sheet=sheet, name=name)
    except DeckError:
        raise
    except Exception as exc:  # noqa: BLE001 - malformed sheet XML, bad zip data, bad cells
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise DeckError(f"{name}: not a readable XLSX workbook ({detail})") from None
    finally:
        book.close()
    if found is not None:
        return found
    raise DeckError(
        f"{name}: not a rate deck: no sheet has a header row with a code column (Code, "
        f"Prefix, Dial Code...) and a rate column (Rate, Price...) in its first "
        f"{HEADER_SEARCH_LINES} rows; name your columns with --map COLUMN=FIELD"
    )


def _read_sheets(
    book: Any, mapping: Mapping[str, str] | None, *, sheet: str | None, name: str
) -> RawDeck | None:
    """The first sheet (or ``sheet``) with a header row, read in full; None if none has one.

    The sheet's ``<dimension>`` is never used: a workbook that understates it is still
    read to its last row, and one that declares ``A1:XFD1048576`` costs no more than the
    rows its XML holds (gaps between row numbers cost nothing either).
    """
    names: list[str] = list(book.sheetnames)
    if sheet is not None:
        if sheet not in names:
            raise DeckError(f"{name}: no sheet {sheet!r}; sheets are {', '.join(names)}")
        sheets = [book[sheet]]
    else:
        sheets = list(book.worksheets)
    for ws in sheets:
        head: list[list[str]] = []
        for number, values in _sheet_rows(ws, MAX_XLSX_COLUMNS, name):
            if number > HEADER_SEARCH_LINES:
                break
            head.extend([] for _ in range(number - 1 - len(head)))
            texts = [_cell_text(v) or "" for v in values]
            while texts and not texts[-1].strip():
                texts.pop()  # the row ends at its last cell, not at column 256
            head.append(texts)
        found = find_header(head, mapping)
        if found is None:
            continue
        index, cmap = found
        width = len(cmap.headers)
        cols: list[list[str | None]] = [[] for _ in range(width)]
        lines: list[int] = []
        first = index + 2
        for number, values in _sheet_rows(ws, width, name):
            if number < first:
                continue
            cells = [_cell_text(v) for v in values]
            if not any(c is not None and c.strip() for c in cells):
                continue
            lines.append(number)
            for i in range(width):
                cols[i].append(cells[i])
        return RawDeck(
            columns=[pa.array(c, type=pa.string()) for c in cols],
            lines=np.asarray(lines, dtype=np.int64),
            header_line=index + 1,
            columns_map=cmap,
            format="xlsx",
            sheet=ws.title,
        )
    return None


def _sheet_rows(ws: Any, width: int, name: str) -> Iterator[tuple[int, list[object]]]:
    """``(row number, first width cell values)`` of each row the sheet's XML holds.

    Streams openpyxl's sheet parser directly (as its read-only worksheet does, without
    the padding to the declared dimension or the empty rows it yields for gaps).
    Refuses a row numbered beyond :data:`MAX_XLSX_ROWS`.
    """
    from openpyxl.worksheet._reader import WorkSheetParser

    book = ws.parent
    with ws._get_source() as src:
        parser = WorkSheetParser(
            src,
            ws._shared_strings,
            data_only=True,
            epoch=book.epoch,
            date_formats=book._date_formats,
            timedelta_formats=book._timedelta_formats,
        )
        last = 0
        for number, cells in parser.parse():
            if number > MAX_XLSX_ROWS:
                raise DeckError(
                    f"{name}: sheet {ws.title!r} has a row numbered {number:,}, beyond row "
                    f"{MAX_XLSX_ROWS:,}, the last a sheet may hold"
                )
            if number <= last:
                raise DeckError(
                    f"{name}: sheet {ws.title!r} repeats or reorders row {number:,} "
                    f"(after row {last:,}); not a well-formed sheet"
                )
            last = number
            values: list[object] = [None] * width
            for cell in cells:
                column = cell["column"]
                if 1 <= column <= width:
                    values[column - 1] = cell["value"]
            yield number, values


#: A shared string element, with or without a namespace prefix (``<si>``, ``<x:si>``).
_SHARED_STRING = re.compile(rb"<(?:[A-Za-z_][\w.\-]{0,30}:)?si[\s/>]")
_CHUNK = 1 << 20


def _check_xlsx_archive(data: bytes, name: str) -> None:
    """Refuse an XLSX zip whose members would cost more than a deck can (bombs).

    Sizes and ratios come from the zip's directory, which bounds what decompression
    yields (a member that inflates past its declared size fails its check); shared
    strings are counted by streaming that one member, before openpyxl loads them all.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DeckError(f"{name}: not a readable XLSX workbook ({exc})") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_XLSX_MEMBERS:
            raise DeckError(
                f"{name}: the XLSX zip holds {len(members):,} files, more than the "
                f"{MAX_XLSX_MEMBERS:,} a workbook may hold"
            )
        for info in members:
            size = info.file_size
            if size > MAX_XLSX_MEMBER_BYTES:
                raise DeckError(
                    f"{name}: XLSX member {info.filename!r} unpacks to {size:,} bytes, "
                    f"over the limit of {MAX_XLSX_MEMBER_BYTES:,} bytes"
                )
            ratio = size / max(info.compress_size, 1)
            if size > _CHUNK and ratio > MAX_XLSX_RATIO:
                raise DeckError(
                    f"{name}: XLSX member {info.filename!r} is compressed {ratio:,.0f} to 1 "
                    f"(over {MAX_XLSX_RATIO} to 1): a zip bomb, not a rate sheet"
                )
        parts = {_shared_strings_part(archive)}
        for info in members:
            if (
                info.filename in parts
                or info.filename.lower().rsplit("/", 1)[-1] == "sharedstrings.xml"
            ):
                _check_shared_strings(archive, info, name)


def _shared_strings_part(archive: zipfile.ZipFile) -> str | None:
    """The member openpyxl will load as the shared strings: the part whose content type
    says so (any name), as ``[Content_Types].xml`` declares it; None when there is none
    or the manifest cannot be read (then openpyxl refuses the workbook itself)."""
    from openpyxl.packaging.manifest import Manifest
    from openpyxl.xml.constants import ARC_CONTENT_TYPES, SHARED_STRINGS
    from openpyxl.xml.functions import fromstring

    try:
        manifest = Manifest.from_tree(fromstring(archive.read(ARC_CONTENT_TYPES)))
        found = manifest.find(SHARED_STRINGS)
    except Exception:  # noqa: BLE001 - a broken manifest is openpyxl's to refuse
        return None
    return None if found is None else str(found.PartName)[1:]


def _check_shared_strings(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> None:
    """Count the shared strings of ``info`` (streamed), refusing more than the limit."""
    count = 0
    carry = b""
    try:
        with archive.open(info) as fh:
            while True:
                chunk = fh.read(_CHUNK)
                if not chunk:
                    break
                buf = carry + chunk
                # Elements starting before ``split`` are whole in ``buf``; the rest waits.
                split = max(buf.rfind(b"<"), len(buf) - 64)
                for m in _SHARED_STRING.finditer(buf, 0, len(buf)):
                    if m.start() >= split:
                        break
                    count += 1
                if count > MAX_XLSX_SHARED_STRINGS:
                    raise DeckError(
                        f"{name}: the workbook holds more than {MAX_XLSX_SHARED_STRINGS:,} "
                        "shared strings, more than a rate deck needs"
                    )
                carry = buf[split:]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DeckError(f"{name}: not a readable XLSX workbook ({exc})") from None
