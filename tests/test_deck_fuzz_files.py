"""Fuzzing the deck reader's file structure (issue 10): CSV quoting, delimiters, encodings,
NULs, byte-order marks and huge fields; XLSX zips whose members and sheet XML are mutated.

Every input is either imported or refused with a :class:`~tandem.errors.TandemError`; a
refusal leaves the store exactly as it was; no other exception escapes, and no input hangs
(each test is bounded by its examples and a timeout)."""

from __future__ import annotations

import codecs
import io
import re
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.decks.importer import import_deck
from tandem.errors import TandemError
from tandem.store import Store
from tests.hostile.conftest import store_fingerprint

DECKS = Path(__file__).resolve().parents[1] / "data" / "decks"
CYGNUS = (DECKS / "cygnus.xlsx").read_bytes()
NOW = "2026-11-23"
FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class Target:
    """A SQLite store the examples of one test import into, one account per example."""

    def __init__(self, directory: Path) -> None:
        self.db = directory / "fuzz.db"
        self.store = Store(self.db)
        self.count = 0

    def import_or_refuse(self, data: bytes, name: str, **options: object) -> None:
        """Import ``data`` as a file; on a refusal, the store must be unchanged."""
        self.count += 1
        path = self.db.parent / name
        path.write_bytes(data)
        before = store_fingerprint(self.db)
        from tandem.decks.parse import DeckOptions

        try:
            import_deck(
                self.store,
                path,
                account=f"fuzz{self.count}",
                options=DeckOptions(**options),  # type: ignore[arg-type]
                now=NOW,
            )
        except TandemError:
            assert store_fingerprint(self.db) == before, "a refused import changed the store"


@pytest.fixture
def target(tmp_path: Path):
    t = Target(tmp_path)
    yield t
    t.store.close()


# -- CSV structure ------------------------------------------------------------------------------

PIECES = [
    "Code",
    "Rate",
    "Destination",
    "Effective Date",
    "44",
    "4420",
    "0.0123",
    "0,0123",
    "1e999999",
    "2026-12-01",
    "9999-12-31T23:59:59-12:00",
    '"',
    '""',
    "'",
    ",",
    ";",
    "\t",
    "|",
    "\n",
    "\r",
    "\r\n",
    "\x00",
    "\ufeff",
    "é",
    "€",
    "\u2028",
    " ",
    "=cmd",
    "+44",
    "4420-4425",
]


@st.composite
def csv_texts(draw) -> str:
    """A header line then rows built from pieces that matter to a CSV reader."""
    header = draw(st.sampled_from(["Code,Rate", "Code;Rate;Destination", "Prefix\tPrice", ""]))
    body = draw(st.lists(st.sampled_from(PIECES) | st.text(max_size=6), max_size=60))
    return header + "\n" + "".join(body)


ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1252", "latin-1"]


@FUZZ
@pytest.mark.timeout(120)
@given(
    text=csv_texts(),
    encoding=st.sampled_from(ENCODINGS),
    bom=st.sampled_from([b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE]),
    comma=st.booleans(),
)
def test_csv_structure_imports_or_is_refused(target, text, encoding, bom, comma):
    data = bom + text.encode(encoding, errors="replace")
    target.import_or_refuse(data, "fuzz.csv", decimal_comma=comma)


@FUZZ
@pytest.mark.timeout(120)
@given(
    field=st.integers(min_value=1, max_value=1_000_000),
    char=st.sampled_from(["4", "x", '"', "\x00", ",", "\n"]),
    where=st.sampled_from(["code", "rate", "destination", "quoted"]),
)
def test_a_huge_field_imports_or_is_refused(target, field, char, where):
    huge = char * field
    rows = {
        "code": f"{huge},UK,0.01\n",
        "rate": f"44,UK,{huge}\n",
        "destination": f"44,{huge},0.01\n",
        "quoted": f'44,"{huge}",0.01\n',
    }
    data = ("Code,Destination,Rate\n45,FR,0.02\n" + rows[where]).encode()
    target.import_or_refuse(data, "huge.csv")


@FUZZ
@pytest.mark.timeout(120)
@given(st.binary(max_size=400), st.sampled_from([b"", b"Code,Rate\n", b"PK\x03\x04"]))
def test_random_bytes_import_or_are_refused(target, data, head):
    target.import_or_refuse(head + data, "bytes.csv")


# -- XLSX structure -----------------------------------------------------------------------------

MEMBERS = zipfile.ZipFile(io.BytesIO(CYGNUS)).namelist()
SHEET = "xl/worksheets/sheet1.xml"


def rebuild(members: dict[str, bytes]) -> bytes:
    """A zip of ``members`` (a valid zip: the mutations are in the content)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as book:
        for name, data in members.items():
            book.writestr(name, data)
    return out.getvalue()


def originals() -> dict[str, bytes]:
    src = zipfile.ZipFile(io.BytesIO(CYGNUS))
    return {name: src.read(name) for name in src.namelist()}


XML_SNIPPETS = [
    b"<",
    b">",
    b"&",
    b"&amp;",
    b'"',
    b"</row>",
    b"<row>",
    b'<row r="0">',
    b'<row r="-5">',
    b'<row r="1e9">',
    b'<row r="nan">',
    b'<c r="XFD1">',
    b'<c r="ZZZZ1">',
    b'<c t="s"><v>999</v></c>',
    b'<c t="n"><v>abc</v></c>',
    b'<c t="d"><v>9999-99-99</v></c>',
    b'<c t="b"><v>7</v></c>',
    b'<c t="e"><v>#DIV/0!</v></c>',
    b'<dimension ref="A1:XFD1048576"/>',
    b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>',
    b"\x00",
    b"\xff\xfe",
    b"<?xml version='1.0'?>",
]


@st.composite
def mutated_workbooks(draw) -> bytes:
    members = originals()
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from([SHEET, SHEET, *MEMBERS]))
        data = members.get(name, b"")
        kind = draw(st.integers(0, 6))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == 0 and name in members:  # a member missing
            del members[name]
        elif kind == 1:  # cut short
            members[name] = data[:at]
        elif kind == 2:  # a byte changed
            members[name] = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
        elif kind == 3:  # a snippet of XML inserted
            members[name] = data[:at] + draw(st.sampled_from(XML_SNIPPETS)) + data[at:]
        elif kind == 4:  # a stretch repeated (rows twice, tags unbalanced)
            end = min(len(data), at + draw(st.integers(1, 400)))
            members[name] = data[:end] + data[at:end] + data[end:]
        elif kind == 5:  # row numbers rewritten
            number = draw(st.sampled_from([0, 1, 3, 6, 1_048_576, 1_048_577, 10**15]))
            members[name] = re.sub(rb'<row r="\d+"', f'<row r="{number}"'.encode(), data, count=1)
        else:  # a cell's type changed
            kind_to = draw(st.sampled_from([b"s", b"n", b"b", b"e", b"str", b"d", b"x"]))
            members[name] = re.sub(rb't="n"', b't="' + kind_to + b'"', data, count=1)
    return rebuild(members)


@FUZZ
@pytest.mark.timeout(180)
@given(mutated_workbooks())
def test_mutated_xlsx_imports_or_is_refused(target, data):
    target.import_or_refuse(data, "cygnus.xlsx", allow_suspicious=True)


@FUZZ
@pytest.mark.timeout(180)
@given(st.integers(min_value=0, max_value=len(CYGNUS) - 1), st.integers(0, 255))
def test_a_byte_flipped_xlsx_zip_imports_or_is_refused(target, at, value):
    data = CYGNUS[:at] + bytes([value]) + CYGNUS[at + 1 :]
    target.import_or_refuse(data, "flipped.xlsx")


def test_the_original_workbook_imports(target):
    """The fuzzed workbook itself imports (so the mutations start from a good deck)."""
    report = import_deck(target.store, DECKS / "cygnus.xlsx", account="cygnus", now=NOW)
    assert report.accepted > 0
