"""Hostile deck files: every bad FILE is refused with exit 2 and one error line, every bad
ROW with exit 1 and the row named, and the store is unchanged either way (issue 10: items
1, 2, 12, the deck side of 14, and the deck-import tracebacks)."""

from __future__ import annotations

import io
import os
import re
import sqlite3
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from tandem.cli.main import cli
from tandem.decks import read as deck_read
from tandem.decks.parse import parse_deck
from tests.hostile.conftest import run_refused, store_fingerprint

# -- building crafted files (small on disk) ----------------------------------------------------


def workbook(rows: int = 5) -> bytes:
    """An XLSX deck written by openpyxl: Code, Destination, Rate and ``rows`` codes."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Code", "Destination", "Rate"])
    for i in range(rows):
        sheet.append([str(4400 + i), "United Kingdom", "0.0100"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def rewrite(xlsx: bytes, member: str, change: Callable[[bytes], bytes], **kw: object) -> bytes:
    """``xlsx`` with zip member ``member`` rewritten by ``change`` (other members as they are)."""
    src = zipfile.ZipFile(io.BytesIO(xlsx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == member:
                data = change(data)
            dst.writestr(info.filename, data, **kw)  # type: ignore[arg-type]
    return out.getvalue()


SHEET = "xl/worksheets/sheet1.xml"


def with_dimension(ref: str, rows: int = 5) -> bytes:
    """A workbook whose sheet declares ``<dimension ref=REF>`` whatever it holds."""
    return rewrite(
        workbook(rows),
        SHEET,
        lambda d: re.sub(rb'<dimension ref="[^"]*"', f'<dimension ref="{ref}"'.encode(), d),
    )


def with_row(number: int) -> bytes:
    """A workbook with one more row, numbered ``number``."""
    row = f'<row r="{number}"><c r="A{number}" t="inlineStr"><is><t>4499</t></is></c></row>'
    return rewrite(
        workbook(), SHEET, lambda d: d.replace(b"</sheetData>", row.encode() + b"</sheetData>")
    )


MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SST_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
SST_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def with_shared_strings(count: int, part: str = "sharedStrings.xml") -> bytes:
    """A workbook with a shared-string table of ``count`` (empty) strings, wired in as Excel
    does (content type and workbook relationship)."""
    data = workbook()
    data = rewrite(
        data,
        "[Content_Types].xml",
        lambda d: d.replace(
            b"</Types>",
            f'<Override PartName="/xl/{part}" ContentType="{SST_TYPE}"/></Types>'.encode(),
        ),
    )
    data = rewrite(
        data,
        "xl/_rels/workbook.xml.rels",
        lambda d: d.replace(
            b"</Relationships>",
            f'<Relationship Id="rIdSst" Type="{SST_REL}" Target="{part}"/>'
            "</Relationships>".encode(),
        ),
    )
    sst = f'<sst xmlns="{MAIN_NS}">'.encode() + b"<si><t/></si>" * count + b"</sst>"
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as book:
        book.writestr(f"xl/{part}", sst)
    return out.getvalue()


# -- refused files: exit 2, one line, store unchanged ------------------------------------------


def _fifo(tmp: Path) -> Path:
    path = tmp / "deck.csv"
    os.mkfifo(path)
    return path


def _write(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path

    return make


def _truncated_sheet() -> bytes:
    return rewrite(workbook(), SHEET, lambda d: d[: len(d) // 2])


def _zip_bomb() -> bytes:
    # 8 MiB of blanks inside the sheet: compresses over 1000 to 1.
    return rewrite(
        workbook(), SHEET, lambda d: d.replace(b"<sheetData>", b" " * (8 << 20) + b"<sheetData>")
    )


FILES: list[tuple[str, Callable[[Path], Path], list[str], list[str]]] = [
    # (id, file maker, extra args, words the one error line names)
    ("fifo", _fifo, [], ["FIFO", "not a regular file"]),
    ("dev-zero", lambda _t: Path("/dev/zero"), [], ["/dev/zero", "character device"]),
    (
        "over max size",
        _write("big.csv", b"Code,Rate\n44,0.01\n" * 10),
        ["--max-file-bytes", "100"],
        ["big.csv", "over the limit of 100 bytes"],
    ),
    (
        "malformed sheet xml",
        _write("bad.xlsx", _truncated_sheet()),
        [],
        ["bad.xlsx", "not a readable XLSX"],
    ),
    (
        "not a zip inside",
        _write("junk.xlsx", b"PK\x03\x04" + b"\x00" * 200),
        [],
        ["junk.xlsx", "not a readable XLSX"],
    ),
    ("zip bomb", _write("bomb.xlsx", _zip_bomb()), [], ["bomb.xlsx", "sheet1.xml", "zip bomb"]),
    (
        "row beyond the sheet limit",
        _write("rows.xlsx", with_row(1_048_577)),
        [],
        ["rows.xlsx", "beyond row 1,048,576"],
    ),
    ("row number far out", _write("far.xlsx", with_row(10**12)), [], ["far.xlsx", "beyond row"]),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("make", "extra", "names"), [f[1:] for f in FILES], ids=[f[0] for f in FILES]
)
def test_a_bad_deck_file_is_refused_in_one_line(db, tmp_path, make, extra, names):
    path = make(tmp_path)
    run_refused(["deck", "import", str(path), "--carrier", "atlas", *extra], db, names=names)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("limit", "value", "data", "names"),
    [
        ("MAX_XLSX_SHARED_STRINGS", 50, with_shared_strings(60), ["more than 50 shared strings"]),
        (
            "MAX_XLSX_SHARED_STRINGS",
            50,
            with_shared_strings(60, part="words.xml"),
            ["more than 50 shared strings"],
        ),
        (
            "MAX_XLSX_MEMBER_BYTES",
            1000,
            with_shared_strings(1),
            ["unpacks to", "over the limit of 1,000 bytes"],
        ),
        ("MAX_XLSX_MEMBERS", 3, with_shared_strings(1), ["files, more than the 3"]),
    ],
    ids=["shared strings", "shared strings by another name", "member size", "member count"],
)
def test_xlsx_limits_refuse_before_reading(db, tmp_path, monkeypatch, limit, value, data, names):
    """Each documented XLSX limit refuses a workbook beyond it (lowered here, so the crafted
    file stays small)."""
    monkeypatch.setattr(deck_read, limit, value)
    path = tmp_path / "deck.xlsx"
    path.write_bytes(data)
    run_refused(
        ["deck", "import", str(path), "--carrier", "atlas"], db, names=["deck.xlsx", *names]
    )


def test_the_5_million_shared_strings_bomb_is_refused_at_once():
    """The issue's 296 KB file of 5 million shared strings (72 s, 921 MB before)."""
    data = with_shared_strings(5_000_000)
    assert len(data) < 1_000_000
    with pytest.raises(Exception, match="zip bomb|shared strings") as info:
        parse_deck(data, source_name="sst.xlsx")
    assert type(info.value).__name__ == "DeckError"


def test_a_full_disk_during_import_is_one_line_and_changes_nothing(db, tmp_path, monkeypatch):
    """SQLite runs out of room (max_page_count: the file may not grow) while the deck is
    written: one error line, exit 2, the store exactly as before."""
    import tandem.store.store as store_module

    pragmas = store_module._sqlite_pragmas

    def full_disk(dbapi_conn, record):
        pragmas(dbapi_conn, record)
        cur = dbapi_conn.cursor()
        pages = cur.execute("PRAGMA page_count").fetchone()[0]
        cur.execute(f"PRAGMA max_page_count = {pages}")
        cur.close()

    conn = sqlite3.connect(db)
    conn.execute("VACUUM")  # no free page left for the new deck to reuse
    conn.close()
    monkeypatch.setattr(store_module, "_sqlite_pragmas", full_disk)
    deck = tmp_path / "big.csv"
    deck.write_text("Code,Rate\n" + "".join(f"{10**6 + i},0.01\n" for i in range(5000)))
    run_refused(
        ["deck", "import", str(deck), "--carrier", "newcomer", "-q"],
        db,
        names=["newcomer", "disk is full"],
    )


# -- the dimension is not trusted --------------------------------------------------------------


def test_an_understated_dimension_still_reads_every_row():
    """A sheet of 300 codes declaring A1:C3 imports 300 codes, not 2 (full mode would
    otherwise close the other 298)."""
    parsed = parse_deck(with_dimension("A1:C3", rows=300), source_name="short.xlsx")
    assert parsed.rows_read == 300
    assert parsed.accepted == 300
    assert parsed.rejected == []


@pytest.mark.timeout(60)
def test_an_overstated_dimension_costs_only_what_the_sheet_holds():
    """The issue's 4.9 KB workbook: it declares A1:XFD1048576 and has one cell at
    XFD1048576 (more than 5 minutes before); it reads its 5 codes at once."""
    last = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
    data = rewrite(
        with_dimension("A1:XFD1048576"),
        SHEET,
        lambda d: d.replace(b"</sheetData>", last + b"</sheetData>"),
    )
    assert len(data) < 10_000
    parsed = parse_deck(data, source_name="wide.xlsx")
    assert parsed.accepted == 5


# -- refused rows: exit 1, every bad row named, store unchanged --------------------------------

LONG_NAME = "D" * 129

ROWS = [
    # (id, deck text, extra args, (line, words of the reason))
    (
        "decimal comma on a dot deck",
        "Code,Rate\n44,0.0038\n4420,0.0040\n",
        ["--decimal-comma"],
        (2, "decimal dot"),
    ),
    ("rate 1e999999", "Code,Rate\n44,1e999999\n45,0.01\n", [], (2, "above the limit")),
    (
        "date after 9999",
        "Code,Rate,Effective Date\n44,0.01,9999-12-31T23:59:59-12:00\n45,0.01,2026-12-01\n",
        [],
        (2, "out of range"),
    ),
    (
        "date before year 1",
        "Code,Rate,Effective Date\n44,0.01,0001-01-01T00:00:00+01:00\n45,0.01,2026-12-01\n",
        [],
        (2, "out of range"),
    ),
    (
        "destination over 128 characters",
        f"Code,Destination,Rate\n44,{LONG_NAME},0.01\n45,UK,0.01\n",
        [],
        (2, "longer than the 128"),
    ),
]


@pytest.mark.parametrize(
    ("text", "extra", "expected"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_a_bad_row_is_rejected_by_line_and_nothing_is_stored(db, tmp_path, text, extra, expected):
    path = tmp_path / "deck.csv"
    path.write_text(text)
    before = store_fingerprint(db)
    result = CliRunner().invoke(
        cli, ["deck", "import", str(path), "--carrier", "atlas", *extra, "--db", str(db)]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, (result.exit_code, result.output)
    line, words = expected
    rejected = [x for x in result.stdout.splitlines() if "REJECTED" in x]
    assert any(f"line {line}," in x and words in x for x in rejected), result.stdout
    assert result.stderr.startswith("tandem: refused: ")
    assert "Traceback" not in result.output
    assert store_fingerprint(db) == before


def test_decimal_comma_still_reads_thousands_dots(tmp_path):
    parsed = parse_deck(
        b"Code;Rate\n44;1.234,5\n45;0,0038\n46;12\n",
        parse_deck.__globals__["DeckOptions"](decimal_comma=True, allow_suspicious=True),
    )
    assert parsed.rejected == []
    assert dict(zip(parsed.rates["prefix"], parsed.rates["rate"], strict=True)) == {
        "44": 1_234_500_000_000,
        "45": 3_800_000,
        "46": 12_000_000_000,
    }


# -- a store that already holds a date beyond 9999 still compiles ------------------------------


def test_compile_survives_a_stored_date_beyond_9999(db, tmp_path):
    """A store written before dates past 9999-12-31 were refused: compile still works (the
    change that never comes leaves the table valid to the open end)."""
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "UPDATE rates SET effective_from = 253402343999 "
            "WHERE id = (SELECT MIN(id) FROM rates WHERE effective_until IS NULL)"
        )
    conn.close()
    out = tmp_path / "routes.tdm"
    result = CliRunner().invoke(
        cli, ["compile", "--at", "2026-12-01", "-o", str(out), "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    assert out.exists()
