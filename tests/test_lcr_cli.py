"""`tandem compile` and `tandem route` through click's CliRunner."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from tandem.cli.main import cli
from tandem.money import UNIT

MILLI = UNIT // 1000
AT = "2026-01-01T00:00:00Z"


def deck(rows):
    return pd.DataFrame(rows, columns=["prefix", "rate", "connect_fee"])


@pytest.fixture
def db(sqlite_store):
    s = sqlite_store
    s.write_deck("atlas", "carrier", deck([("44", 10 * MILLI, 0), ("4420", 8 * MILLI, 0)]),
                 currency="USD", effective_from=0)  # fmt: skip
    s.write_deck("borealis", "carrier", deck([("4420", 5 * MILLI, 10 * MILLI)]),
                 currency="USD", effective_from=0)  # fmt: skip
    s.write_deck(
        "cygnus", "carrier", deck([("4", 50 * MILLI, 0)]), currency="USD", effective_from=0
    )
    s.write_deck("acme-telecom", "customer", deck([("44", 12 * MILLI, 0)]),
                 currency="USD", effective_from=0)  # fmt: skip
    return s.url


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_route_json_from_store(db):
    res = run("--db", db, "route", "+442079460000", "--customer", "acme-telecom", "--at", AT,
              "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["normalized"] == "442079460000" and out["sell"] == {"prefix": "44", "rate": "0.012"}
    assert [(r["carrier"], r["prefix"], r["rate"], r["connect_fee"], r["margin"])
            for r in out["routes"]] == [
        ("borealis", "4420", "0.005", "0.01", "0.007"),
        ("atlas", "4420", "0.008", "0", "0.004"),
    ]  # fmt: skip
    assert out["dropped"] == [
        {"carrier": "cygnus", "reason": "buy rate 0.05 above sell rate 0.012 (margin protection)"}
    ]
    assert out["blocked"] is False and out["reason"] == ""


def test_compile_then_route_from_snapshot(db, tmp_path):
    snap = tmp_path / "routes.tdm"
    res = run("--db", db, "compile", "--at", AT, "-o", str(snap))
    assert res.exit_code == 0, res.output
    assert (
        "3 carriers, 1 customers" in res.output
        and "valid [1970-01-01T00:00:00Z, open)" in res.output
    )
    res = run("route", "00442079460000", "--source-ip", "192.0.2.10", "--table", str(snap),
              "--config", "data/routing.toml", "--at", AT, "--call-id", "c1")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "borealis" in res.output and "dropped cygnus" in res.output
    res = run("route", "442079460000", "--customer", "acme-telecom", "--table", str(snap),
              "--at", AT, "--explain")  # fmt: skip
    assert "1. borealis via borealis: prefix 4420 at 0.005/min, margin 0.007" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["route", "44x", "--customer", "acme-telecom", "--at", AT], "contains 'x'"),
        (["route", "4420", "--customer", "nobody", "--at", AT], "unknown customer 'nobody'"),
        (["route", "4420", "--at", AT], "--customer NAME or --source-ip IP"),
        (["route", "4420", "--customer", "acme-telecom", "--at", "yesterday"],
         "'yesterday' is not an instant"),
        (["route", "4420", "--customer", "acme-telecom", "--at", AT, "--table", "/nonexistent"],
         "cannot open routing table"),
        (["route", "4420", "--customer", "acme-telecom", "--at", AT, "--config", "/nonexistent"],
         "cannot read routing config"),
    ],
)  # fmt: skip
def test_errors_exit_2(db, args, message):
    res = CliRunner().invoke(cli, ["--db", db, *args])
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_corrupt_snapshot_exit_2(db, tmp_path):
    bad = tmp_path / "bad.tdm"
    bad.write_bytes(b"not a table at all, just text" * 10)
    res = CliRunner().invoke(
        cli, ["route", "4420", "--customer", "a", "--at", AT, "--table", str(bad)]
    )
    assert res.exit_code == 2 and "not a Tandem routing table" in res.output
