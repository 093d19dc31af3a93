"""Hostile money values: a deck or plan value out of bounds is refused with its reason.

* a rate in any exponent spelling obeys the 9-decimal rule (``1e-9999999`` was stored as 0
  while ``1e-10`` was refused) and a huge one (``1e999999``) is refused, not a traceback;
* a rate above the documented limit (10**9 per minute) is refused at import, so no rate in
  the store can block rating later;
* a tariff plan's increments, starts, grace and rates have bounds like a deck's: an
  increment of 10,000,000 s (a 1 s call priced negative) is refused naming key and limit.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal

import pytest
from click.testing import CliRunner
from rating_helpers import rates_frame

from tandem.cli.main import cli
from tandem.errors import ConfigError
from tandem.money import RATE_LIMIT, format_money, to_scaled
from tandem.rating.plan import MAX_INTERVALS, MAX_SECONDS, parse_plan
from tandem.rating.price import price_call
from tests.hostile.conftest import run_refused, store_fingerprint


@pytest.mark.parametrize(
    ("rate", "reason"),
    [
        ("1e-9999999", "more than 9 decimal places"),
        ("1E-10", "more than 9 decimal places"),
        ("0.0000000001", "more than 9 decimal places"),
        ("1e-999999999999", "more than 9 decimal places"),
        ("1e999999", f"above the limit of {RATE_LIMIT} per minute"),
        ("1000000000.5", f"above the limit of {RATE_LIMIT} per minute"),
        ("9300000000", f"above the limit of {RATE_LIMIT} per minute"),
    ],
)
@pytest.mark.parametrize("column", ["Rate", "Connection Fee"])
def test_deck_money_out_of_bounds_is_rejected_by_row(db, tmp_path, rate, reason, column):
    deck = tmp_path / "deck.csv"
    cells = {"Rate": "0.01", "Connection Fee": "0"} | {column: rate}
    deck.write_text(
        "Prefix,Destination,Rate,Connection Fee\n"
        f"44,UK,{cells['Rate']},{cells['Connection Fee']}\n"
        "33,France,0.02,0\n"
    )
    before = store_fingerprint(db)
    result = CliRunner().invoke(
        cli, ["deck", "import", str(deck), "--customer", "acme", "--db", str(db)]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 1, result.output
    assert "line 2" in result.stderr and f"column '{column}'" in result.stderr
    assert reason in result.stderr
    assert store_fingerprint(db) == before


@pytest.mark.parametrize("rate", ["1E+3", "1000000000", "0.000000001", "1.0000000000000"])
def test_exact_exponent_spellings_within_bounds_import(db, tmp_path, rate):
    deck = tmp_path / "deck.csv"
    deck.write_text(f"Prefix,Destination,Rate\n44,UK,{rate}\n")
    result = CliRunner().invoke(
        cli, ["deck", "import", str(deck), "--customer", "acme", "--db", str(db), "-q"]
    )
    assert result.exit_code == 0, result.output
    # shown and exported plainly, never with an exponent (1E+3 is 1000)
    plain = format_money(to_scaled(rate))
    for args in (["show", "acme", "--json"], ["export", "acme", "--at", "2100-01-01", "-o", "-"]):
        shown = CliRunner().invoke(cli, ["deck", *args, "--db", str(db)])
        assert shown.exit_code == 0, shown.output
        assert plain in shown.stdout and "E+" not in shown.stdout and "E-" not in shown.stdout


_IV = '{{ start = {start}, rate = "{rate}", increment = {increment} }}'


def _plan(start: object = 0, rate: str = "0.1", increment: object = 60, grace: object = 0) -> str:
    iv = _IV.format(start=0, rate="0.1", increment=60)
    if start != 0:
        iv += ", " + _IV.format(start=start, rate=rate, increment=increment)
    else:
        iv = _IV.format(start=0, rate=rate, increment=increment)
    head = f"[customer.acme]\ngrace = {grace}\n\n[[customer.acme.tariffs]]\n"
    return head + f'prefix = ""\nintervals = [{iv}]\n'


PLAN_CASES = [
    (_plan(increment=10_000_000), ["intervals[0].increment", f"limit of {MAX_SECONDS}"]),
    (_plan(increment=0), ["intervals[0].increment", ">= 1"]),
    (_plan(start=10**7), ["intervals[1].start", f"limit of {MAX_SECONDS}"]),
    (_plan(grace=10**9), ["acme.grace", f"limit of {MAX_SECONDS}"]),
    (_plan(rate="2000000000"), ["intervals[0].rate", f"limit of {RATE_LIMIT}"]),
    (_plan(rate="1e999999"), ["intervals[0].rate", f"limit of {RATE_LIMIT}"]),
    (_plan(rate="1e-9999999"), ["intervals[0].rate", "9 decimal places"]),
    (_plan(rate="-0.5"), ["intervals[0].rate", "negative"]),
    (
        '[customer.acme]\n[[customer.acme.tariffs]]\nprefix = ""\nintervals = ['
        + ", ".join(_IV.format(start=k, rate="0.1", increment=1) for k in range(101))
        + "]\n",
        ["intervals", f"limit of {MAX_INTERVALS}"],
    ),
]


@pytest.mark.parametrize(("text", "names"), PLAN_CASES)
def test_plan_values_out_of_bounds_are_refused(db, tmp_path, text, names):
    plan = tmp_path / "tariffs.toml"
    plan.write_text(text)
    with pytest.raises(ConfigError) as caught:
        parse_plan(tomllib.loads(text))
    for name in names:
        assert name in str(caught.value)
    run_refused(["plan", "import", str(plan), "--kind", "tariff"], db, names=names)
    cdrs = tmp_path / "cdrs.csv"
    cdrs.write_text("start,duration,number,customer,carrier\n1793491200,1,+441234,acme,atlas\n")
    out = tmp_path / "rated.parquet"
    run_refused(["rate", str(cdrs), "-o", str(out), "--plan", str(plan)], db, names=names)
    assert not out.exists()


def test_the_largest_plan_increment_prices_a_short_call_exactly(tmp_path):
    # At the bound, a 1 s call is billed one whole increment, exactly and positive.
    plan = parse_plan(tomllib.loads(_plan(increment=MAX_SECONDS, rate="0.6")))
    rates = rates_frame([dict(account="acme", kind="customer", prefix="44", rate="0.01")])
    one = price_call("441234", 1_793_491_200, 1, account="acme", rates=rates, plan=plan)
    assert one.billed_seconds == MAX_SECONDS
    assert one.amount == Decimal("9999.99")  # 0.6 / 60 * 999999
