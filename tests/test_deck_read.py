"""Deck reading: header spellings, header position, delimiters, encodings, XLSX, values."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import openpyxl
import pytest

from tandem.decks.header import field_for_header, parse_mapping
from tandem.decks.parse import DeckOptions, parse_deck
from tandem.decks.values import DateReader, expand_prefix, parse_increment, parse_status
from tandem.errors import DeckError
from tandem.money import to_scaled

NOW = int(datetime(2026, 11, 23, tzinfo=UTC).timestamp())
DEC1 = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp())


def parse(text: str | bytes, **options):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return parse_deck(data, DeckOptions(**options), now=NOW, source_name="t.csv")


def rates_of(parsed) -> dict[str, int]:
    return dict(zip(parsed.rates["prefix"], parsed.rates["rate"], strict=True))


# -- header spellings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "field", "currency"),
    [
        ("Code", "prefix", None),
        ("Prefix", "prefix", None),
        ("Dial Code", "prefix", None),
        ("Dialcode", "prefix", None),
        ("DIAL_CODE", "prefix", None),
        ("Destination", "destination", None),
        ("Country", "destination", None),
        ("Description", "destination", None),
        ("Rate", "rate", None),
        ("Price", "rate", None),
        ("Rate per min", "rate", None),
        ("Rate/Min", "rate", None),
        ("USD/min", "rate", "USD"),
        ("EUR / min", "rate", "EUR"),
        ("Rate (GBP)", "rate", "GBP"),
        ("Price per minute", "rate", None),
        ("Effective Date", "effective_from", None),
        ("Eff. Date", "effective_from", None),
        ("Valid From", "effective_from", None),
        ("Increment", "increment", None),
        ("Billing Increment", "increment", None),
        ("Interval", "increment", None),
        ("Initial Increment", "initial_increment", None),
        ("Next Increment", "next_increment", None),
        ("Connection", "connect_fee", None),
        ("Connection Fee", "connect_fee", None),
        ("Setup fee", "connect_fee", None),
        ("Change", "change", None),
        ("Status", "change", None),
        ("Minimum Duration", "min_duration", None),
        ("Min. Duration (sec)", "min_duration", None),
        ("Remarks", None, None),
    ],
)
def test_header_spellings(header, field, currency):
    assert field_for_header(header) == (field, currency)


@pytest.mark.parametrize(
    ("code", "dest", "rate", "eff", "inc"),
    [
        ("Code", "Destination", "Rate", "Effective Date", "Increment"),
        ("Prefix", "Country", "Price", "Eff. Date", "Billing Increment"),
        ("Dial Code", "Description", "Rate per min", "Valid From", "Interval"),
        ("Dialcode", "Country", "USD/min", "Effective Date", "Interval"),
    ],
)
def test_header_combinations_read_the_same_deck(code, dest, rate, eff, inc):
    text = f"{code},{dest},{rate},{eff},{inc}\n44,UK,0.0123,2026-12-01,30/6\n"
    parsed = parse(text)
    row = parsed.rates.iloc[0]
    assert (row["prefix"], row["destination"], row["rate"]) == ("44", "UK", 12_300_000)
    assert (row["initial_increment"], row["next_increment"]) == (30, 6)
    assert row["effective_from"] == DEC1
    assert parsed.currency == "USD"


def test_separate_increments_fee_status_and_minimum_duration():
    text = (
        "Prefix;Destination;Rate;Setup fee;Initial;Next;Minimum Duration;Status\n"
        "33;France;0,0100;0,0500;30;6;10;New\n"
        "34;Spain;0,0200;;60;60;0;Unchanged\n"
    )
    parsed = parse(text, decimal_comma=True)
    rows = parsed.rates.set_index("prefix")
    assert rows.loc["33", "connect_fee"] == 50_000_000
    assert rows.loc["34", "connect_fee"] == 0
    assert (rows.loc["33", "initial_increment"], rows.loc["33", "next_increment"]) == (30, 6)
    assert rows.loc["33", "min_duration"] == 10
    assert rows.loc["33", "rate"] == 10_000_000


def test_currency_from_header_and_conflict():
    assert parse("Code,EUR/min\n44,0.01\n").currency == "EUR"
    assert parse("Code,Rate\n44,0.01\n", currency="gbp").currency == "GBP"
    with pytest.raises(DeckError, match="says EUR"):
        parse("Code,EUR/min\n44,0.01\n", currency="USD")


def test_map_overrides_unknown_and_known_headers():
    text = "Dst,Tariff X,Comment\n44,0.01,Rate is 5\n"
    with pytest.raises(DeckError, match="not a rate deck"):
        parse(text)
    parsed = parse(text, mapping=["Dst=prefix", "tariff x=rate"])
    assert rates_of(parsed) == {"44": 10_000_000}
    # A mapping also beats a built-in spelling ("Rate" is ignored, "Price2" is the rate).
    parsed = parse("Code,Rate,Price2\n44,9,0.02\n", mapping={"Rate": "ignore", "Price2": "rate"})
    assert rates_of(parsed) == {"44": 20_000_000}
    with pytest.raises(DeckError, match="unknown field"):
        parse_mapping(["Dst=prefixx"])
    with pytest.raises(DeckError, match="COLUMN=FIELD"):
        parse_mapping(["Dst"])


def test_header_after_title_lines_and_limit():
    title = "Vendor Ltd\nRate sheet, November\n\n"
    parsed = parse(title + "Code,Rate\n44,0.01\n")
    assert parsed.header_line == 4
    assert parsed.rates["line"].tolist() == [5]
    assert parse("x\n" * 19 + "Code,Rate\n44,0.01\n").header_line == 20
    with pytest.raises(DeckError, match="first 20 lines"):
        parse("x\n" * 20 + "Code,Rate\n44,0.01\n")


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters(delimiter):
    text = f"Code{delimiter}Rate{delimiter}Destination\n44{delimiter}0.01{delimiter}UK\n"
    assert rates_of(parse(text)) == {"44": 10_000_000}


def test_encodings_bom_declared_utf8_latin1():
    body = "Code;Country;Price\n262;Réunion;0,0950\n"
    for data, enc in [
        (body.encode("utf-8"), "utf-8"),
        (body.encode("utf-8-sig"), "utf-8-sig"),
        (body.encode("utf-16"), "utf-16"),
        (body.encode("latin-1"), "cp1252"),
        (("# encoding: iso-8859-1\n" + body).encode("latin-1"), "iso-8859-1"),
    ]:
        parsed = parse(data, decimal_comma=True)
        assert parsed.rates["destination"].tolist() == ["Réunion"], enc
        assert rates_of(parsed) == {"262": 95_000_000}


def test_quoted_fields_with_line_breaks_keep_line_numbers():
    text = 'Code,Destination,Rate\n44,"United\nKingdom",0.01\n33,France,x\n'
    parsed = parse(text)
    assert parsed.rejected[0].line == 4
    assert parsed.rejected[0].column == "Rate"


def test_blank_rows_and_footer_notes_are_skipped_with_a_warning():
    text = "Code,Rate,Destination\n44,0.01,UK\n\n,,\n33,0.02,FR\nRates subject to change,,\n"
    parsed = parse(text)
    assert rates_of(parsed) == {"44": 10_000_000, "33": 20_000_000}
    assert parsed.rejected == []
    assert any("note line" in w and "line 6" in w for w in parsed.warnings)


def test_not_a_deck():
    with pytest.raises(DeckError, match="not a rate deck"):
        parse("hello world\nthis is a letter\n")
    with pytest.raises(DeckError, match="binary"):
        parse(b"\x00\x01\x02binary\x00" * 10)
    with pytest.raises(DeckError, match="xls"):
        parse(b"\xd0\xcf\x11\xe0" + b"\x00" * 100)
    with pytest.raises(DeckError, match="XLSX"):
        parse(b"PK\x03\x04 not really a zip")
    # A header and nothing else reads as an empty deck (import_deck refuses to store it).
    assert parse("Code,Rate\n").accepted == 0


# -- XLSX ------------------------------------------------------------------------------


def xlsx(rows, title_rows=0) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    for i in range(title_rows):
        ws.cell(row=i + 1, column=1, value=f"Title {i}")
    for r, row in enumerate(rows, start=title_rows + 1):
        for c, value in enumerate(row, start=1):
            ws.cell(row=r, column=c, value=value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_xlsx_cells_dates_serials_and_numbers():
    data = xlsx(
        [
            ["Code", "Rate", "Effective Date", "Status"],
            [44, Decimal("0.0123"), datetime(2026, 12, 1), "New"],
            ["4420-4422", 0.5, 46357, "Increase"],
            [33, 1, "01-Dec-2026", "Unchanged"],
        ],
        title_rows=3,
    )
    parsed = parse_deck(data, now=NOW, source_name="t.xlsx")
    assert parsed.format == "xlsx" and parsed.header_line == 4
    rows = parsed.rates.set_index("prefix")
    assert rows.loc["44", "rate"] == 12_300_000
    assert rows.loc["4421", "rate"] == 500_000_000
    assert rows.loc["33", "rate"] == 1_000_000_000
    assert set(rows["effective_from"]) == {DEC1}  # 46357 is Excel's serial for 2026-12-01
    assert rows.loc["44", "line"] == 5


def test_sample_cygnus_xlsx():
    parsed = parse_deck("data/decks/cygnus.xlsx", now=NOW)
    assert parsed.header_line == 5 and parsed.rejected == []
    rows = parsed.rates.set_index("prefix")
    for code in ("4915", "4916", "4917", "336", "337"):
        assert code in rows.index
    assert rows.loc["2348", "connect_fee"] == to_scaled(Decimal("0.01"))
    assert bool(rows.loc["2626", "closed"])
    assert (rows.loc["4420", "initial_increment"], rows.loc["4420", "next_increment"]) == (1, 1)


def test_sample_borealis_latin1_semicolon_decimal_comma():
    parsed = parse_deck("data/decks/borealis.csv", DeckOptions(decimal_comma=True), now=NOW)
    assert parsed.header_line == 4 and parsed.rejected == []
    names = set(parsed.rates["destination"])
    assert "Réunion" in names and "Allemagne" in names
    assert "4420" not in set(parsed.rates["prefix"])


# -- values ----------------------------------------------------------------------------


def test_expand_prefix_forms():
    assert expand_prefix("44") == ["44"]
    assert expand_prefix("+44 20") == ["4420"]
    assert expand_prefix("44 20; 44 21") == ["4420", "4421"]
    assert expand_prefix("4420-4425") == ["4420", "4421", "4422", "4423", "4424", "4425"]
    assert expand_prefix("0990-0991") == ["0990", "0991"]
    assert expand_prefix("336, 337") == ["336", "337"]
    for bad, reason in [
        ("44A", "not digits"),
        ("", "empty"),
        ("4420-44259", "same number of digits"),
        ("4425-4420", "backwards"),
        ("10000-99999", "more than"),
        ("12345678901234567", "longer than 16"),
    ]:
        with pytest.raises(ValueError, match=reason):
            expand_prefix(bad)


@pytest.mark.parametrize(
    ("text", "day_first", "expected"),
    [
        ("2026-12-01", None, "2026-12-01T00:00:00"),
        ("2026-12-01 13:30", None, "2026-12-01T13:30:00"),
        ("2026-12-01T13:30:00Z", None, "2026-12-01T13:30:00"),
        ("2026-12-01T13:30:00+02:00", None, "2026-12-01T11:30:00"),
        ("01/12/2026", True, "2026-12-01T00:00:00"),
        ("12/01/2026", False, "2026-12-01T00:00:00"),
        ("31/12/2026", None, "2026-12-31T00:00:00"),
        ("12/31/2026", None, "2026-12-31T00:00:00"),
        ("01.12.2026", None, "2026-12-01T00:00:00"),
        ("01-Dec-2026", None, "2026-12-01T00:00:00"),
        ("1 Dec 26", None, "2026-12-01T00:00:00"),
        ("01-déc-2026", None, "2026-12-01T00:00:00"),
        ("Dec 1, 2026", None, "2026-12-01T00:00:00"),
        ("20261201", None, "2026-12-01T00:00:00"),
        ("2026/12/01", None, "2026-12-01T00:00:00"),
    ],
)
def test_dates(text, day_first, expected):
    got = DateReader(day_first=day_first)(text)
    assert datetime.fromtimestamp(got, UTC).replace(tzinfo=None).isoformat() == expected


def test_dates_timezone_format_and_ambiguity():
    london = DateReader(timezone="Europe/London")("2026-07-01")
    assert london == int(datetime(2026, 6, 30, 23, tzinfo=UTC).timestamp())
    assert DateReader(date_format="%d%m%Y")("01122026") == DEC1
    with pytest.raises(ValueError, match="ambiguous"):
        DateReader()("01/12/2026")
    reader = DateReader()
    with pytest.raises(DeckError, match="ambiguous"):
        reader.decide_order(["01/12/2026", "02/12/2026"])
    reader.decide_order(["01/12/2026", "13/12/2026"])
    assert reader.day_first is True
    with pytest.raises(DeckError, match="mix"):
        DateReader().decide_order(["13/12/2026", "12/13/2026"])
    with pytest.raises(DeckError, match="time zone"):
        DateReader(timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="not a date"):
        DateReader()("soon")


def test_deck_dates_need_an_order_when_ambiguous():
    with pytest.raises(DeckError, match="--dayfirst"):
        parse("Code,Rate,Eff. Date\n44,0.01,01/12/2026\n")
    parsed = parse("Code,Rate,Eff. Date\n44,0.01,01/12/2026\n", day_first=True)
    assert parsed.rates["effective_from"].tolist() == [DEC1]


def test_increments_and_status():
    assert parse_increment("60/60") == (60, 60)
    assert parse_increment("1/1") == (1, 1)
    assert parse_increment("30/6") == (30, 6)
    assert parse_increment("60") == (60, 60)
    assert parse_increment("30+6") == (30, 6)
    for bad in ("0/60", "x", "60/"):
        with pytest.raises(ValueError):
            parse_increment(bad)
    assert parse_status("DELETED") == "Closed"
    assert parse_status("Removed") == "Closed"
    assert parse_status("no change") == "Unchanged"
    assert parse_status("Increase") == "Increase"
    with pytest.raises(ValueError, match="not one of"):
        parse_status("maybe")
