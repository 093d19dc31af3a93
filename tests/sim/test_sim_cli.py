"""`tandem simulate` through click's CliRunner: the JSON fields, the report (rendered in
headless Chromium, its numbers equal to the JSON), strict scenario validation, generated
traffic, option conflicts."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sim_helpers import cdrs, make_store, rendered
from test_sim_replay import HISTORY
from test_sim_whatif import DECKS, DELTA, traffic

from tandem.cli.main import cli
from tandem.htmlreport import read_tables

CARRIER_FIELDS = ["carrier", "offered", "carried", "failovers", "minutes", "cost", "revenue",
                  "margin"]  # fmt: skip


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def history(tmp_path: Path):
    make_store(tmp_path / "s.db")
    pq.write_table(cdrs(HISTORY), tmp_path / "h.parquet")
    return tmp_path


def test_json_fields(history):
    scenario = history / "sc.toml"
    scenario.write_text(
        '[[events]]\ncarrier = "alpha"\ndown_from = 2026-11-02T00:02:00Z\n'
        'down_until = "2026-11-02T00:05:00Z"\n'
    )
    r = run("simulate", history / "h.parquet", "--db", history / "s.db", "--scenario", scenario,
            "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["calls"] == 17
    assert [list(row) for row in out["by_carrier"]] == [CARRIER_FIELDS] * 3
    alpha = out["by_carrier"][0]
    assert (alpha["carrier"], alpha["failovers"], alpha["carried"]) == ("alpha", 3, 7)
    assert out["blocked"] == {}
    assert "whatif" not in out and out["at"] is None


def test_text_output_and_csv_input(history):
    csv = history / "h.csv"
    csv.write_text(
        "start,duration,number,customer\n"
        + "".join(f"{1793577600 + s},{d},{n},acme\n" for s, d, n in HISTORY)
    )
    r = run("simulate", csv, "--db", history / "s.db")
    assert r.exit_code == 0, r.output
    assert "17 calls: 15 carried, 2 unanswered" in r.output
    assert "margin 0.2 USD" in r.output


def test_report_renders_and_equals_json(tmp_path: Path):
    make_store(tmp_path / "s.db", DECKS)
    pq.write_table(traffic(), tmp_path / "t.parquet")
    deck = tmp_path / "delta.csv"
    deck.write_text("prefix,rate,increment\n" + "".join(f"{p},{r},1/1\n" for p, r in DELTA.items()))
    report = tmp_path / "rep"
    r = run("simulate", tmp_path / "t.parquet", "--db", tmp_path / "s.db", "--vs-deck", deck,
            "--carrier", "delta", "--report", report, "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    for name in ("by_carrier", "by_destination", "over_time", "blocked", "whatif"):
        assert (report / f"{name}.csv").exists() and (report / f"{name}.parquet").exists()
    dom = rendered(report / "simulation.html")
    assert "Traffic share per carrier over time" in dom and "<svg" in dom
    tables = read_tables(dom)
    assert tables["by_carrier"] == [
        {k: str(v) for k, v in row.items()} for row in out["by_carrier"]
    ]
    assert tables["by_destination"] == [
        {k: str(v) for k, v in row.items()} for row in out["by_destination"]
    ]
    assert tables["whatif"] == [
        {k: str(v) for k, v in row.items()} for row in out["whatif"]["destinations"]
    ]
    assert tables["totals"][0]["margin"] == out["totals"]["margin"]
    shares = {(r["time"], r["carrier"]): r["share"] for r in out["over_time"]}
    assert {(r["time"], r["carrier"]): r["share"] for r in tables["share"]} == shares
    margins = {r["destination"]: r["margin"] for r in tables["margin_by_destination"]}
    assert margins == {r["destination"]: r["margin"] for r in out["by_destination"]}
    # Parquet money is exact decimal, equal to the JSON strings
    parquet = pq.read_table(report / "by_carrier.parquet").to_pylist()
    assert [str(row["cost"].normalize()) if row["cost"] else "0" for row in parquet] == [
        row["cost"] for row in out["by_carrier"]
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[[events]]\ncarrier = "alpha"\ndown_from = 1\ndown_until = 2\nlength = 3\n', "length"),
        ('[[events]]\ncarrier = "alpha"\ndown_from = 5\ndown_until = 2\n', "down_until"),
        ('[[events]]\ncarrier = 7\ndown_from = 1\ndown_until = 2\n', "carrier"),
        ('[[events]]\ncarrier = "alpha"\nprefix = "44"\nasr = "low"\nfrom = 1\nuntil = 2\n',
         "asr"),
        ('[[events]]\ncarrier = "alpha"\nprefix = "44"\nasr = 1.5\nfrom = 1\nuntil = 2\n', "asr"),
        ('[[events]]\ncarrier = "alpha"\nprefix = "44"\nasr = 0.1\nfrom = 9\nuntil = 2\n',
         "until"),
        ('[[events]]\ncarrier = "alpha"\nprefix = "44"\nasr = 0.1\nfrom = 1\n', "until"),
        ('[[events]]\nat = 1\ndeck = "x.csv"\n', "carrier"),
        ('[[events]]\nat = true\ntable = "x.tdm"\n', "at"),
        ('[[events]]\nat = "yesterday"\ntable = "x.tdm"\n', "at"),
        ("[[events]]\nwhat = 1\n", "outage"),
        ('speed = 1\n', "speed"),
        ("[[events]\n", "TOML"),
    ],
)  # fmt: skip
def test_scenario_is_validated(history, text, words):
    scenario = history / "bad.toml"
    scenario.write_text(text)
    r = run("simulate", history / "h.parquet", "--db", history / "s.db", "--scenario", scenario)
    assert r.exit_code == 2
    assert r.output.startswith("tandem: error: ") and words in r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--table", "x.tdm", "--at", "2026-11-02"], "--table and --at"),
        (["--vs-deck", "x.csv"], "--carrier"),
        (["--carrier", "alpha"], "--carrier"),
        (["--vs", "a.tdm", "--vs-deck", "x.csv", "--carrier", "c"], "--vs and --vs-deck"),
        (["--table", "missing.tdm"], "missing.tdm"),
    ],
)
def test_option_errors(history, extra, words):
    r = run("simulate", history / "h.parquet", "--db", history / "s.db", *extra)
    assert r.exit_code == 2, r.output
    assert words in r.output


def test_needs_one_traffic_source(history):
    assert run("simulate", "--db", history / "s.db").exit_code == 2
    r = run("simulate", history / "nope.parquet", "--db", history / "s.db")
    assert r.exit_code == 2 and "no such CDR file" in r.output


def test_generated_traffic_is_deterministic(tmp_path: Path):
    from tandem.sim.profile import DEFAULT_CARRIERS

    decks = {c: ("carrier", {str(d): f"0.0{i + 1}" for d in range(1, 10)})
             for i, c in enumerate(DEFAULT_CARRIERS)}  # fmt: skip
    decks.update({f"cust{i:02d}": ("customer", {str(d): "0.5" for d in range(1, 10)})
                  for i in range(1, 6)})  # fmt: skip
    make_store(tmp_path / "g.db", decks)
    args = ["simulate", "--generate", 3000, "--customers", 5, "--destinations", 20, "--seed", 4,
            "--db", tmp_path / "g.db", "--json"]  # fmt: skip
    a, b = run(*args), run(*args)
    assert a.exit_code == 0, a.output
    assert a.output == b.output
    out = json.loads(a.output)
    assert out["calls"] == 3000 and out["carried"] > 1000
    # every carried call goes to the cheapest carrier (atlas: 0.01 everywhere)
    carried = {r["carrier"]: r["carried"] for r in out["by_carrier"] if r["carried"]}
    assert list(carried) == ["atlas"]
    seed = args.index("--seed") + 1
    other = json.loads(run(*args[:seed], 5, *args[seed + 1 :]).output)
    assert other["totals"] != out["totals"]


def test_to_db_loads_the_priced_calls_beside_the_real_ones(history):
    """The replay's carried calls go to the warehouse with ``sim:`` ids: the real CDRs'
    rows (the same history rated with ``tandem rate --to-db``) stay, and the same
    simulation again replaces only its own rows."""
    import sqlite3
    from decimal import Decimal

    db = history / "s.db"
    real = run("rate", history / "h.parquet", "--db", db, "-o", history / "r.parquet", "--to-db",
               "--json")  # fmt: skip
    assert real.exit_code == 0, real.output
    first = run("simulate", history / "h.parquet", "--db", db, "--to-db", "--json")
    assert first.exit_code == 0, first.output
    out = json.loads(first.output)
    carried = sum(c["carried"] for c in out["by_carrier"])
    assert out["warehouse"] == {"rows": carried, "replaced": 0}

    def rows(where: str) -> list[tuple]:
        with sqlite3.connect(db) as conn:
            return conn.execute(
                "SELECT cdr_id, start_epoch, carrier, sell_amount, buy_amount, margin, source "
                f"FROM rated_cdrs WHERE {where} ORDER BY record"
            ).fetchall()

    simulated = rows("source LIKE 'simulation:%'")
    assert len(simulated) == carried and all(r[0].startswith("sim:") for r in simulated)
    assert len(rows("source NOT LIKE 'simulation:%'")) == json.loads(real.output)["rated"]
    cost = sum(r[4] for r in simulated)
    revenue = sum(r[3] for r in simulated)
    assert Decimal(cost).scaleb(-9) == sum(Decimal(c["cost"]) for c in out["by_carrier"])
    assert Decimal(revenue).scaleb(-9) == sum(Decimal(c["revenue"]) for c in out["by_carrier"])
    again = json.loads(
        run("simulate", history / "h.parquet", "--db", db, "--to-db", "--json").output
    )
    assert again["warehouse"] == {"rows": carried, "replaced": carried}
    assert rows("source LIKE 'simulation:%'") == simulated


def test_map_renames_the_cdrs_accounts_as_tandem_rate_does(history):
    csv = history / "h.csv"
    csv.write_text(
        "start,duration,number,customer\n"
        + "".join(f"{1793577600 + s},{d},{n},ACME01\n" for s, d, n in HISTORY)
    )
    unmapped = json.loads(run("simulate", csv, "--db", history / "s.db", "--json").output)
    assert unmapped["blocked"] == {"unknown_customer": 17}
    accounts = history / "accounts.toml"
    accounts.write_text('[customer]\nACME01 = "acme"\n')
    mapped = run("simulate", csv, "--db", history / "s.db", "--map", accounts, "--json")
    assert mapped.exit_code == 0, mapped.output
    assert json.loads(mapped.output)["carried"] == 15
