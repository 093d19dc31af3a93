"""``tandem reconcile`` end to end: planted discrepancies in a vendor file written with
other column names, another time zone and national numbers are all found, and nothing else."""

from __future__ import annotations

import csv
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from tandem.cli.main import cli
from tests.recon.helpers import T0, THEIR_MAP, deck_price, make_store, write_ours, write_theirs

NUMBERS = [
    "442079460001", "447700900002", "33123456789", "4930123456", "442079460005",
    "447700900006", "33123456787", "4930123459", "442079460009", "447700900010",
]  # fmt: skip


def _calls() -> list[dict]:
    """40 calls over four hours (one every ~6 minutes, crossing no DST change), some
    numbers called more than once."""
    return [
        {"call_id": f"c{i}", "start": T0 + i * 373, "duration": 20 + (i * 37) % 400,
         "number": NUMBERS[i % len(NUMBERS)]}
        for i in range(40)
    ]  # fmt: skip


def _planted(tmp_path: Path, *, their_ids: bool = False) -> tuple[Path, Path, Path, dict]:
    db = make_store(tmp_path / "t.db")
    calls = _calls()
    ours = [dict(c) for c in calls]
    theirs = [dict(c, call_id=c["call_id"] if their_ids else "") for c in calls]
    plant = {}
    # a call the vendor bills that we have no record of
    ghost = {"call_id": "", "start": T0 + 99_000 // 10, "duration": 95, "number": "447700900077"}
    theirs.append(ghost)
    plant["missing_ours"] = ghost
    # a duration 6 s longer than ours
    theirs[3]["duration"] += 6
    plant["duration"] = (ours[3], theirs[3])
    # a rate above our deck's (0.0400 for 447, the number of call 11)
    theirs[11]["rate"] = "0.0510"
    plant["rate"] = (ours[11], theirs[11])
    # a duplicate of a billed call
    theirs.append(dict(theirs[20]))
    plant["duplicate"] = theirs[20]
    # the vendor's clock is 2 s late on one call (within the start window)
    theirs[25]["start"] += 2
    plant["late"] = theirs[25]
    # a call we sent that the vendor does not bill
    plant["missing_theirs"] = ours[7]
    del theirs[7]
    # our CDRs to another carrier and an unanswered attempt are not the vendor's business
    ours.append({"call_id": "x1", "start": T0 + 50, "duration": 33, "number": "33111",
                 "carrier": "other"})  # fmt: skip
    ours.append({"call_id": "x2", "start": T0 + 70, "duration": 0, "number": "33111"})
    write_ours(tmp_path / "ours.csv", ours)
    write_theirs(tmp_path / "theirs.csv", theirs, tz="Europe/Paris")
    return db, tmp_path / "ours.csv", tmp_path / "theirs.csv", plant


def _run(db: Path, ours: Path, theirs: Path, *extra: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(
        cli,
        ["reconcile", str(ours), str(theirs), "--carrier", "acme", "--db", str(db), *extra],
    )
    return res.exit_code, res.stdout, res.stderr


VENDOR = (*THEIR_MAP, "--timezone", "Europe/Paris", "--country-code", "44")


def _amount(call: dict, rate: str | None = None) -> Decimal:
    if rate is None:
        return deck_price(call["number"], call["duration"])
    return (Decimal(rate) * call["duration"] / 60).quantize(Decimal("0.0001"), ROUND_HALF_UP)


@pytest.mark.parametrize("their_ids", [False, True], ids=["number+time", "call-id"])
def test_every_planted_discrepancy_and_nothing_else(tmp_path, their_ids):
    db, ours, theirs, plant = _planted(tmp_path, their_ids=their_ids)
    code, out, err = _run(db, ours, theirs, *VENDOR, "--json", "--dispute", str(tmp_path / "d.csv"))
    assert code == 0, err
    result = json.loads(out)
    assert result["ours"] == 40  # the other carrier's call and the 0 s attempt left out
    assert result["theirs"] == 41  # 40 - 1 missing + 1 ghost + 1 duplicate
    assert result["classes"] == {
        "exact": 36,
        "within_tolerance": 1,
        "duration_mismatch": 1,
        "rate_mismatch": 1,
        "missing_ours": 1,
        "missing_theirs": 1,
        "duplicate": 1,
    }
    o3, t3 = plant["duration"]
    o11, t11 = plant["rate"]
    expected = {
        "exact": Decimal(0),
        "within_tolerance": Decimal(0),  # 2 s late, same duration and amount
        "duration_mismatch": _amount(t3) - _amount(o3),
        "rate_mismatch": _amount(t11, "0.0510") - _amount(o11),
        "missing_ours": _amount(plant["missing_ours"]),
        "missing_theirs": -_amount(plant["missing_theirs"]),
        "duplicate": _amount(plant["duplicate"]),
    }
    assert {k: Decimal(v) for k, v in result["disputed"].items()} == expected
    assert all(
        Decimal(v) == Decimal(v).normalize() or v == "0" for v in result["disputed"].values()
    )
    with open(tmp_path / "d.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_class = {r["class"]: r for r in rows}
    assert sorted(by_class) == sorted(
        ["duration_mismatch", "rate_mismatch", "missing_ours", "missing_theirs", "duplicate"]
    )
    assert len(rows) == 5
    assert by_class["duration_mismatch"]["number"] == o3["number"]
    assert by_class["duration_mismatch"]["their_duration"] == str(o3["duration"] + 6)
    assert by_class["rate_mismatch"]["their_rate"] == "0.051"
    assert by_class["rate_mismatch"]["deck_rate"] == "0.04"
    assert by_class["missing_ours"]["their_number"] == "0770 0900077"
    assert by_class["missing_ours"]["their_start"] == "2026-11-02T11:45:00Z"
    assert by_class["missing_theirs"]["call_id"] == plant["missing_theirs"]["call_id"]
    assert by_class["duplicate"]["note"] == "copy of vendor record 20"  # c20, 7 deleted


def test_the_vendor_time_zone_and_number_format_are_what_make_it_match(tmp_path):
    db, ours, theirs, _ = _planted(tmp_path)
    code, out, err = _run(db, ours, theirs, *THEIR_MAP, "--country-code", "44", "--json")
    assert code == 0, err
    wrong_zone = json.loads(out)  # read as UTC: every start an hour off
    assert wrong_zone["classes"]["exact"] == 0
    assert wrong_zone["classes"]["missing_ours"] == 40
    code, out, err = _run(db, ours, theirs, *THEIR_MAP, "--timezone", "Europe/Paris", "--json")
    assert code == 0, err
    national = json.loads(out)  # UK numbers in national format unread
    uk = sum(1 for c in _calls() if c["number"].startswith("44"))
    assert national["classes"]["missing_ours"] >= uk


def test_person_output_and_quiet(tmp_path):
    db, ours, theirs, _ = _planted(tmp_path)
    code, out, err = _run(db, ours, theirs, *VENDOR)
    assert code == 0, err
    assert "duration_mismatch" in out and "left out: 1 to other carriers" in out
    code, out, err = _run(db, ours, theirs, *VENDOR, "-q")
    assert code == 0 and out == ""


def test_dispute_xlsx_holds_the_csv_rows_and_the_summary(tmp_path):
    from openpyxl import load_workbook

    db, ours, theirs, _ = _planted(tmp_path)
    d_csv, d_xlsx = tmp_path / "d.csv", tmp_path / "d.xlsx"
    code, out, err = _run(db, ours, theirs, *VENDOR, "--json", "--dispute", str(d_csv),
                          "--dispute", str(d_xlsx))  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    book = load_workbook(d_xlsx)
    assert book.sheetnames == ["summary", "disputes"]
    summary = {r[0]: r for r in book["summary"].iter_rows(values_only=True) if r and r[0]}
    for name, count in result["classes"].items():
        assert summary[name][1] == count
        assert Decimal(str(summary[name][2])) == Decimal(result["disputed"][name])
    with open(d_csv, newline="") as fh:
        csv_rows = list(csv.reader(fh))
    xlsx_rows = [
        ["" if v is None else str(v) for v in r]
        for r in book["disputes"].iter_rows(values_only=True)
    ]
    assert len(xlsx_rows) == len(csv_rows) == 6
    for a, b in zip(csv_rows, xlsx_rows, strict=True):
        for x, y in zip(a, b, strict=True):
            assert x == y or Decimal(x) == Decimal(y)


def test_report_page_renders_and_its_numbers_equal_the_json(tmp_path):
    from page_helpers import rendered

    from tandem.htmlreport import read_tables

    db, ours, theirs, _ = _planted(tmp_path)
    rep = tmp_path / "rep"
    code, out, err = _run(db, ours, theirs, *VENDOR, "--json", "--report", str(rep))
    assert code == 0, err
    result = json.loads(out)
    names = {p.name for p in rep.iterdir()}
    assert {"classes.csv", "classes.parquet", "lines.parquet", "dispute.csv", "dispute.xlsx",
            "reconciliation.html"} <= names  # fmt: skip
    dom = rendered(rep / "reconciliation.html")
    tables = read_tables(dom)
    assert {r["class"]: int(r["lines"]) for r in tables["classes"]} == result["classes"]
    assert {r["class"]: r["disputed"] for r in tables["disputed"]} == result["disputed"]
    assert {r["class"]: r["disputed"] for r in tables["summary"]} == result["disputed"]
    assert "<svg" in dom
    assert len(tables["disputes"]) == 5
    import pyarrow.parquet as pq

    classes = pq.read_table(rep / "classes.parquet").to_pylist()
    assert {r["class"]: r["lines"] for r in classes} == result["classes"]
    assert {r["class"]: Decimal(r["disputed"]) for r in classes} == {
        k: Decimal(v) for k, v in result["disputed"].items()
    }
    lines = pq.read_table(rep / "lines.parquet")
    assert lines.num_rows == sum(result["classes"].values())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--carrier", "nobody"], "no buy deck for carrier 'nobody'"),
        (["--country-code", "0x"], "is not a country code"),
        (["--map-column", "colour=Called Number"], "unknown field(s) ['colour']"),
        (["--map-column", "amount=Nope"], "no such column"),
        (["--amount-tolerance", "abc"], "is not a number"),
        (["--amount-tolerance", "-1"], "must not be negative"),
        (["--dispute", "d.pdf"], "name it .csv or .xlsx"),
        (["--timezone", "Mars/Olympus"], "unknown time zone"),
    ],
)
def test_bad_input_is_one_clear_error(tmp_path, args, message):
    db, ours, theirs, _ = _planted(tmp_path)
    full = (
        [a for a in VENDOR if a not in ("--timezone", "Europe/Paris")]
        if "--timezone" in args
        else list(VENDOR)
    )
    res = CliRunner().invoke(
        cli,
        ["reconcile", str(ours), str(theirs), "--db", str(db), *full, *args]
        + ([] if "--carrier" in args else ["--carrier", "acme"]),
    )
    assert res.exit_code == 2, res.output
    assert message in res.stderr
    assert "Traceback" not in res.output + res.stderr


def test_unreadable_files_are_one_clear_error(tmp_path):
    db, ours, theirs, _ = _planted(tmp_path)
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    headless = tmp_path / "header.csv"
    headless.write_text("a,b,c\n1,2,3\n")
    for bad, text in (
        (tmp_path / "missing.csv", "no such CDR file"),
        (binary, "not a CDR CSV file"),
        (empty, "empty file"),
        (headless, "is not usable"),
    ):
        for o, t in ((bad, theirs), (ours, bad)):
            code, _out, err = _run(db, o, t, *VENDOR)
            assert code == 2, err
            assert text in err and "Traceback" not in err


def test_no_call_of_ours_to_the_carrier_is_an_error(tmp_path):
    db, ours, theirs, _ = _planted(tmp_path)
    write_ours(ours, [{"start": T0, "duration": 30, "number": "33123", "carrier": "other"}])
    code, _out, err = _run(db, ours, theirs, *VENDOR)
    assert code == 2 and "none of our 1 CDRs is a billable call to carrier 'acme'" in err


def test_the_start_window_decides_what_is_one_call(tmp_path):
    db = make_store(tmp_path / "t.db")
    calls = [{"call_id": "", "start": T0 + 600 * i, "duration": 60, "number": "33123456789"}
             for i in range(3)]  # fmt: skip
    write_ours(tmp_path / "ours.csv", calls)
    write_theirs(tmp_path / "theirs.csv", [dict(c, start=c["start"] + 90) for c in calls])
    ours, theirs = tmp_path / "ours.csv", tmp_path / "theirs.csv"
    code, out, err = _run(db, ours, theirs, *VENDOR, "--json")
    assert code == 0, err
    apart = json.loads(out)["classes"]  # 90 s apart: beyond the default 60 s window
    assert (apart["missing_ours"], apart["missing_theirs"], apart["exact"]) == (3, 3, 0)
    code, out, err = _run(db, ours, theirs, *VENDOR, "--json", "--start-window", "120")
    assert code == 0, err
    together = json.loads(out)["classes"]
    assert (together["within_tolerance"], together["missing_ours"]) == (3, 0)


def test_the_duration_tolerance_decides_a_mismatch(tmp_path):
    db, ours, theirs, _ = _planted(tmp_path)
    code, out, err = _run(db, ours, theirs, *VENDOR, "--json", "--duration-tolerance", "6")
    assert code == 0, err
    result = json.loads(out)["classes"]
    assert result["duration_mismatch"] == 0 and result["within_tolerance"] == 2


def test_unwritable_outputs_are_one_clear_error_before_the_work(tmp_path):
    db, ours, theirs, _ = _planted(tmp_path)
    (tmp_path / "rep").write_text("")
    code, _out, err = _run(db, ours, theirs, *VENDOR, "--report", str(tmp_path / "rep"))
    assert code == 2 and "is a file" in err
    code, _out, err = _run(db, ours, theirs, *VENDOR, "--dispute", str(tmp_path / "no/d.csv"))
    assert code == 2 and "no such directory" in err
