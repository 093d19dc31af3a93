"""``tandem deck`` commands through click's CliRunner (text and --json)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tandem.cli.main import cli

NOW = "2026-11-23T00:00:00Z"


@pytest.fixture
def run(tmp_path):
    db = str(tmp_path / "cli.db")

    def invoke(*args: str, code: int = 0):
        result = CliRunner().invoke(cli, ["--db", db, *args])
        assert result.exit_code == code, (result.output, result.exception)
        return result

    return invoke


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_import_json_counts_and_list(run, tmp_path):
    result = run(
        "deck", "import", "data/decks/atlas.csv", "--carrier", "atlas", "--now", NOW, "--json"
    )
    report = json.loads(result.output)
    assert report["accepted"] == 50 and report["rejected"] == []
    assert report["diff"]["new"] == 49 and report["diff"]["increased"] == 1
    assert report["diff"]["short_notice"] == 1
    assert report["diff"]["short_notice_increases"][0]["prefix"] == "91"
    assert report["diff"]["short_notice_increases"][0]["new_rate"] == "0.0165"
    assert report["written"] is True and report["version"] == 1
    assert report["columns"]["prefix"] == "Code"
    listed = json.loads(run("deck", "list", "--json").output)
    assert [(d["account"], d["version"], d["codes"]) for d in listed["decks"]] == [("atlas", 1, 50)]


def test_import_text_output_and_options(run):
    out = run(
        "deck",
        "import",
        "data/decks/borealis.csv",
        "--carrier",
        "borealis",
        "--decimal-comma",
        "--now",
        NOW,
    ).output
    assert "header on line 4" in out and "stored as version 1" in out
    out = run(
        "deck",
        "import",
        "data/decks/cygnus.xlsx",
        "--carrier",
        "cygnus",
        "--now",
        NOW,
        "--decimals",
        "5",
        "--rounding",
        "half-even",
    ).output
    assert "xlsx" in out
    assert "1 code(s) marked Closed had no rate in force: 2626" in out
    (cygnus,) = [
        d
        for d in json.loads(run("deck", "list", "--json").output)["decks"]
        if d["account"] == "cygnus"
    ]
    assert (cygnus["decimals"], cygnus["rounding"]) == (5, "half-even")
    run("deck", "import", "data/decks/cygnus.xlsx", "--carrier", "c2", "--rounding", "odd", code=2)
    out = run(
        "deck",
        "import",
        "data/decks/acme-telecom.csv",
        "--customer",
        "acme-telecom",
        "--now",
        NOW,
        "--dry-run",
    ).output
    assert "dry run" in out
    assert "acme-telecom" not in run("deck", "list").output


def test_refused_import_exits_non_zero_with_every_rejection(run, tmp_path):
    bad = write(tmp_path, "bad.csv", "Code,Rate\n44,0.01\n4X,0.02\n33,abc\n")
    result = run("deck", "import", bad, "--carrier", "x", "--json", code=1)
    report = json.loads(result.output)
    assert report["refused"] is True and report["written"] is False
    assert report["rejected"] == [
        {"line": 3, "column": "Code", "reason": "prefix '4X' is not digits"},
        {"line": 4, "column": "Rate", "reason": "rate 'abc' is not a number"},
    ]
    text = run("deck", "import", bad, "--carrier", "x", code=1)
    assert "REJECTED line 3, column 'Code'" in text.output
    assert json.loads(run("deck", "list", "--json").output) == {"decks": []}


def test_not_a_deck_is_one_clear_error(run, tmp_path):
    junk = write(tmp_path, "letter.txt", "Dear vendor,\nplease send rates.\n")
    result = run("deck", "import", junk, "--carrier", "x", code=2)
    assert "tandem: error:" in result.output and "not a rate deck" in result.output
    assert "Traceback" not in result.output
    result = run("deck", "import", junk, "--carrier", "x", "--json", code=2)
    assert json.loads(result.stdout)["error"].startswith("letter.txt: not a rate deck")
    run("deck", "import", str(tmp_path / "missing.csv"), "--carrier", "x", code=2)
    run("deck", "import", junk, code=2)  # neither --carrier nor --customer: usage error


def test_map_and_effective_and_mode(run, tmp_path):
    odd = write(tmp_path, "odd.csv", "Dst,Tariff X\n44,0.01\n33,0.02\n")
    run(
        "deck",
        "import",
        odd,
        "--carrier",
        "v",
        "--map",
        "Dst=prefix",
        "--map",
        "Tariff X=rate",
        "--effective",
        "2026-11-01",
        "--now",
        NOW,
    )
    delta = write(tmp_path, "delta.csv", "Code,Rate\n33,0.03\n")
    report = json.loads(
        run(
            "deck",
            "import",
            delta,
            "--carrier",
            "v",
            "--mode",
            "delta",
            "--effective",
            "2026-12-01",
            "--now",
            NOW,
            "--json",
        ).output
    )
    assert report["diff"]["increased"] == 1 and report["diff"]["closed"] == 0
    shown = json.loads(run("deck", "show", "v", "--at", "2026-12-02", "--json").output)
    assert {r["prefix"]: r["rate"] for r in shown["rates"]} == {"44": "0.01", "33": "0.03"}
    diff = json.loads(run("deck", "diff", "v", "--json").output)
    assert diff["version"] == 2 and diff["previous_version"] == 1
    assert diff["diff"]["increased"] == 1 and diff["diff"]["codes"]["increased"] == ["33"]


def test_show_diff_export_roundtrip(run, tmp_path):
    run("deck", "import", "data/decks/cygnus.xlsx", "--carrier", "cygnus", "--now", NOW)
    shown = json.loads(run("deck", "show", "cygnus", "--at", "2026-11-23", "--json").output)
    assert shown["currency"] == "USD" and len(shown["rates"]) == 52
    text = run("deck", "show", "cygnus", "--carrier", "--at", "2026-11-23").output
    assert "52 codes in force" in text
    out = tmp_path / "export.csv"
    run("deck", "export", "cygnus", "--at", "2026-11-23", "-o", str(out))
    assert out.read_text().splitlines()[0].startswith("Code,Destination,Rate (USD)")
    run("deck", "import", str(out), "--carrier", "copy", "--now", NOW)
    copy = json.loads(run("deck", "show", "copy", "--at", "2026-11-23", "--json").output)
    strip = [{k: v for k, v in r.items() if k != "version"} for r in shown["rates"]]
    assert [{k: v for k, v in r.items() if k != "version"} for r in copy["rates"]] == strip
    diff = run("deck", "diff", "cygnus").output
    assert "first version" in diff
    run("deck", "show", "nobody", code=2)
    run("deck", "diff", "nobody", "--customer", code=2)


def test_empty_list(run):
    assert "no decks yet" in run("deck", "list").output


def test_date_order_timezone_and_sheet_flags(run, tmp_path):
    us = write(tmp_path, "us.csv", "Code,Rate,Effective Date\n44,0.01,12/01/2026\n")
    run("deck", "import", us, "--carrier", "a", "--now", NOW, code=2)  # ambiguous: an error
    report = json.loads(
        run("deck", "import", us, "--carrier", "a", "--monthfirst", "--now", NOW, "--json").output
    )
    assert report["effective_from"] == "2026-12-01T00:00:00Z"
    report = json.loads(
        run("deck", "import", us, "--carrier", "b", "--dayfirst", "--now", NOW, "--json").output
    )
    assert report["effective_from"] == "2026-01-12T00:00:00Z"
    london = write(tmp_path, "uk.csv", "Code,Rate,Effective Date\n44,0.01,2026-07-01\n")
    report = json.loads(
        run(
            "deck",
            "import",
            london,
            "--carrier",
            "c",
            "--timezone",
            "Europe/London",
            "--now",
            NOW,
            "--json",
        ).output
    )
    assert report["effective_from"] == "2026-06-30T23:00:00Z"
    run(
        "deck",
        "import",
        "data/decks/cygnus.xlsx",
        "--carrier",
        "d",
        "--sheet",
        "Rates",
        "--now",
        NOW,
    )
    run(
        "deck",
        "import",
        "data/decks/cygnus.xlsx",
        "--carrier",
        "d",
        "--sheet",
        "Nope",
        "--now",
        NOW,
        code=2,
    )


def test_progress_bar_on_a_terminal_for_big_files(run, tmp_path, monkeypatch):
    from tandem.cli.context import CliContext

    monkeypatch.setattr(CliContext, "show_progress", property(lambda self: True))
    rows = "".join(f"{100000 + i},Somewhere,0.0{i % 90 + 10}\n" for i in range(60_000))
    big = write(tmp_path, "big.csv", "Code,Destination,Rate\n" + rows)
    assert (tmp_path / "big.csv").stat().st_size > 1 << 20
    result = run("deck", "import", big, "--carrier", "big", "--now", NOW, "--json")
    assert json.loads(result.stdout)["accepted"] == 60_000
