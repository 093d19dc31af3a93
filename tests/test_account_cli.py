"""``tandem account set`` / ``show``: exact amounts, JSON, bad input refused with nothing
written."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from tandem.cli.main import cli
from tandem.store import Store


def run(db, *args):
    return CliRunner().invoke(cli, ["--db", str(db), *args])


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "t.db"
    with Store(path) as store:
        store.write_deck("acme", "customer", pd.DataFrame({"prefix": ["44"], "rate": [10]}),
                         currency="EUR", effective_from=0)  # fmt: skip
    return path


def test_set_and_show(db):
    res = run(db, "account", "set", "acme", "--balance", "250.75", "--limit", "100",
              "--now", "2026-01-01T00:00:00Z")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "balance 250.75 EUR, credit limit 100, available 350.75" in res.output
    res = run(db, "account", "show", "acme", "--json")
    assert json.loads(res.output) == {
        "customer": "acme", "currency": "EUR", "balance": "250.75", "credit_limit": "100",
        "available": "350.75", "charged": "0", "updated": "2026-01-01T00:00:00Z",
    }  # fmt: skip
    assert run(db, "account", "set", "acme", "--balance", "-0.000000001").exit_code == 0
    res = run(db, "account", "show", "--json")
    (only,) = json.loads(res.output)["accounts"]
    assert only["balance"] == "-0.000000001" and only["available"] == "99.999999999"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--balance", "1e-10"], "more than 9 decimal places"),
        (["--balance", "12,5"], "--balance"),
        (["--limit", "-1"], "credit limit must be >= 0"),
        (["--limit", "abc"], "--limit: 'abc' is not a number"),
        ([], "say what to set"),
        (["--limit", "1", "--currency", "USD"], "is in EUR, not USD"),
        (["--balance", "99999999999"], "too large"),
    ],
)
def test_bad_input_is_refused_and_nothing_changes(db, args, message):
    assert run(db, "account", "set", "acme", "--balance", "5", "--limit", "1").exit_code == 0
    before = run(db, "account", "show", "acme", "--json").output
    res = run(db, "account", "set", "acme", *args)
    assert res.exit_code == 2
    assert res.output.startswith("tandem: error: ") and message in res.output
    assert "Traceback" not in res.output
    assert run(db, "account", "show", "acme", "--json").output == before


def test_a_customer_without_deck_or_currency_is_refused(db):
    res = run(db, "account", "set", "nobody", "--limit", "5")
    assert res.exit_code == 2 and "give its currency" in res.output
    res = run(db, "account", "show", "nobody")
    assert res.exit_code == 2 and "has no credit account" in res.output
    assert "no credit accounts yet" in run(db, "account", "show").output
    res = run(db, "account", "set", "nobody", "--limit", "5", "--currency", "usd")
    assert res.exit_code == 0 and "USD" in res.output
