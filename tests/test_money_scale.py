"""Money at any scale a real currency reaches (issue 11, items 1-3; issue 10, items 6, 8).

* rates of thousands to a million per minute (IDR, VND, IRR) are imported, rated exactly on
  the batch path and the scalar path alike, and never block rating;
* totals past int64's 9.22e9 units are exact in ``--json``, the report files and the table;
* money is never printed with an exponent;
* a rate or amount spelled with an exponent obeys the 9-decimal rule like any other.
"""

from __future__ import annotations

import csv
import json
import os
import random
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rating_helpers import cdr_frame, rates_frame

from tandem.cli.main import cli
from tandem.errors import MoneyError
from tandem.money import MAX_RATE, UNIT, Rounding, format_money, from_scaled, to_scaled
from tandem.rating.amounts import (
    AMOUNT_TYPE,
    NARROW_AMOUNT_TYPE,
    amount_array,
    carry_limbs,
    exact_total,
    join_limbs,
    money_limbs,
)
from tandem.rating.book import MAX_DURATION, compile_book
from tandem.rating.cdr import canonical_table
from tandem.rating.plan import MAX_SECONDS, parse_plan
from tandem.rating.price import Rater, RatingSummary, price_call
from tandem.rating.report import RatingReport
from tandem.store import Store

NOV = 1_793_491_200  # 2026-11-01T00:00:00Z


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, (result.output, result.stderr)
    return result.stdout


# -- an Indonesian rupiah month --------------------------------------------------------------

IDR_SELL = """Prefix,Destination,Rate,Connection Fee,Increment
62,Indonesia,1500,250,60/60
6221,Jakarta,1250.5,0,1/1
6281,Indonesia Mobile Telkomsel,250000,1000,30/6
"""
IDR_BUY = """Prefix,Destination,Rate,Increment
62,Indonesia,1000,1/1
6281,Indonesia Mobile,200000.123456789,1/1
"""
#: The sell deck as the test reads it (prefix: rate, fee, initial, next), independently.
SELL_TERMS = {
    "62": (Decimal("1500"), Decimal("250"), 60, 60),
    "6221": (Decimal("1250.5"), Decimal("0"), 1, 1),
    "6281": (Decimal("250000"), Decimal("1000"), 30, 6),
}
BUY_TERMS = {
    "62": (Decimal("1000"), Decimal("0"), 1, 1),
    "6281": (Decimal("200000.123456789"), Decimal("0"), 1, 1),
}


def reference_cost(terms: dict, number: str, duration: int, decimals: int) -> Decimal:
    """A call's cost computed in Decimal from the deck text, nothing of Tandem's."""
    prefix = max((p for p in terms if number.startswith(p)), key=len)
    rate, fee, initial, nxt = terms[prefix]
    if duration <= 0:
        return Decimal(0)
    billed = initial if duration <= initial else initial + -(-(duration - initial) // nxt) * nxt
    with localcontext() as ctx:
        ctx.prec = 60
        exact = fee + rate * billed / 60
        return exact.quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP)


@pytest.fixture
def idr_month(tmp_path: Path) -> tuple[Path, Path, list[tuple[int, int, str]]]:
    """A store with an IDR customer and carrier deck, and a month of CDRs (CSV)."""
    db = tmp_path / "idr.db"
    (tmp_path / "sell.csv").write_text(IDR_SELL)
    (tmp_path / "buy.csv").write_text(IDR_BUY)
    common = ["--currency", "IDR", "--effective", "2026-11-01", "--now", "2026-11-01", "-q"]
    run("deck", "import", str(tmp_path / "sell.csv"), "--customer", "acme", "--decimals", "2",
        "--db", str(db), *common)  # fmt: skip
    run("deck", "import", str(tmp_path / "buy.csv"), "--carrier", "atlas", "--db", str(db),
        *common)  # fmt: skip
    rng = random.Random(11)
    cdrs = []
    for _ in range(1500):
        start = NOV + rng.randrange(30 * 86400)
        duration = rng.choice(
            [0, 1, 29, 30, 31, 59, 61, rng.randrange(3600), rng.randrange(MAX_DURATION + 1)]
        )
        number = rng.choice(["62", "6221", "6281", "6228"]) + f"{rng.randrange(10**8):08d}"
        cdrs.append((start, duration, number))
    cdrs.append((NOV + 5, MAX_DURATION, "628100000000"))  # the longest call at the top rate
    path = tmp_path / "cdrs.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["start", "duration", "number", "customer", "carrier"])
        for start, duration, number in cdrs:
            w.writerow([start, duration, f"+{number}", "acme", "atlas"])
    return db, path, cdrs


def test_an_idr_month_is_priced_exactly(tmp_path, idr_month):
    db, path, cdrs = idr_month
    out, reports = tmp_path / "rated.parquet", tmp_path / "reports"
    summary = json.loads(
        run("rate", str(path), "-o", str(out), "--report", str(reports), "--json", "--db", str(db))
    )
    assert summary["rated"] == len(cdrs) and summary["buy_rated"] == len(cdrs)
    rated = pq.read_table(out)
    assert rated.schema.field("sell_amount").type == AMOUNT_TYPE
    rows = {r["record"]: r for r in rated.to_pylist()}
    store = Store(db)
    rates = store.rates()
    store.close()
    sell_sum = buy_sum = Decimal(0)
    for k, (start, duration, number) in enumerate(cdrs):
        row = rows[k + 1]
        sell = reference_cost(SELL_TERMS, number, duration, 2)
        buy = reference_cost(BUY_TERMS, number, duration, 4)
        assert row["sell_amount"] == sell, (number, duration)
        assert row["buy_amount"] == buy, (number, duration)
        assert row["margin"] == sell - buy
        if k % 10 == 0 or duration > 10**5:  # the scalar path on a sample and every long call
            for kind, account, want in (("customer", "acme", sell), ("carrier", "atlas", buy)):
                one = price_call(number, start, duration, account=account, kind=kind, rates=rates)
                assert one.amount == want
        sell_sum += sell
        buy_sum += buy
    assert sell_sum > 10**10  # past int64's 9.22e9 units: the old sums wrapped here
    assert summary["sell_total"] == format_money(sell_sum)
    assert summary["buy_total"] == format_money(buy_sum)
    assert summary["margin"] == format_money(sell_sum - buy_sum)
    with (reports / "by_carrier.csv").open() as fh:
        (line,) = list(csv.DictReader(fh))
    assert Decimal(line["sell_total"]) == sell_sum and line["sell_total"] == summary["sell_total"]
    assert Decimal(line["buy_total"]) == buy_sum and Decimal(line["margin"]) == sell_sum - buy_sum
    (prow,) = pq.read_table(reports / "by_carrier.parquet").to_pylist()
    assert (prow["sell_total"], prow["buy_total"]) == (sell_sum, buy_sum)
    by_day = pq.read_table(reports / "by_day.parquet").column("sell_total").to_pylist()
    assert sum(by_day) == sell_sum
    # The printed per-carrier table (no --json) shows the same totals, digit for digit.
    text = run("rate", str(path), "-o", str(out), "--report", str(reports), "--db", str(db))
    for total in (summary["sell_total"], summary["buy_total"], summary["margin"]):
        assert total in text


def test_a_rate_of_a_million_per_minute_never_blocks_rating(tmp_path, idr_month):
    # A deck with rates far above the old 1000/min ceiling (ConfigError for every account)
    # is imported, and every account still rates.
    db, path, _cdrs = idr_month
    (tmp_path / "irr.csv").write_text("Prefix,Destination,Rate\n98,Iran,1000000\n")
    dates = ["--effective", "2026-11-01", "--now", "2026-11-01", "-q", "--db", str(db)]
    run("deck", "import", str(tmp_path / "irr.csv"), "--customer", "persia", "--currency",
        "IRR", *dates)  # fmt: skip
    summary = json.loads(
        run("rate", str(path), "-o", str(tmp_path / "r.parquet"), "--json", "--db", str(db))
    )
    assert summary["rated"] > 0 and summary["unrated"] == {}


# -- batch path against the scalar path, at a million per minute -----------------------------


@st.composite
def big_decks(draw):
    rows = []
    for kind, account in (("customer", "c1"), ("carrier", "v1")):
        for p in draw(st.lists(st.text("12", min_size=1, max_size=3), max_size=4, unique=True)):
            rows.append(
                dict(
                    account=account,
                    kind=kind,
                    prefix=p,
                    rate=draw(st.one_of(st.integers(0, 10**6 * UNIT), st.sampled_from([MAX_RATE]))),
                    connect_fee=draw(st.sampled_from([0, 10**6 * UNIT, MAX_RATE, 123456789])),
                    initial_increment=draw(st.sampled_from([1, 30, 60, 999_999])),
                    next_increment=draw(st.sampled_from([1, 6, 60, 7])),
                    min_duration=draw(st.sampled_from([0, 90, 999_999])),
                    decimals=draw(st.integers(0, 9)),
                    rounding=draw(st.sampled_from([m.value for m in Rounding])),
                )
            )
    return rows


@st.composite
def big_plans(draw):
    if draw(st.booleans()):
        return None
    tariffs = []
    for _ in range(draw(st.integers(1, 3))):
        starts = sorted(draw(st.sets(st.integers(1, MAX_SECONDS), max_size=3)))
        tariffs.append(
            {
                "prefix": draw(st.text("12", max_size=2)),
                "intervals": [
                    {
                        "start": s,
                        "rate": format_money(draw(st.integers(0, 10**6 * UNIT))),
                        "increment": draw(st.sampled_from([1, 6, 60, 999_999])),
                    }
                    for s in [0, *starts]
                ],
            }
        )
    return parse_plan({"customer": {"c1": {"grace": draw(st.sampled_from([0, 5])),
                                           "tariffs": tariffs}}})  # fmt: skip


_durations = st.one_of(
    st.integers(0, MAX_DURATION),
    st.sampled_from([0, 1, 59, 60, 61, 2306, 2307, MAX_DURATION - 1, MAX_DURATION]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    big_decks(),
    big_plans(),
    st.lists(st.tuples(_durations, st.text("12", min_size=1, max_size=5)), min_size=1, max_size=12),
)
def test_batch_and_scalar_agree_up_to_a_million_per_minute(deck_rows, plan, calls):
    rates = rates_frame(deck_rows) if deck_rows else rates_frame([])
    cdrs = [(NOV, d, number, "c1", "v1") for d, number in calls]
    table = canonical_table(pa.Table.from_pandas(cdr_frame(cdrs)))
    priced = Rater.from_rates(rates, plan).price(table).to_pylist()
    for (start, duration, number, *_), row in zip(cdrs, priced, strict=True):
        amounts = {}
        for side, kind, account in (("sell", "customer", "c1"), ("buy", "carrier", "v1")):
            one = price_call(
                number, start, duration, account=account, kind=kind, rates=rates, plan=plan
            )
            assert row[f"{side}_reason"] == one.reason
            if one.reason is None:
                assert row[f"{side}_amount"] == one.amount, (side, row, one)
                assert row[f"{side}_billed_seconds"] == one.billed_seconds
                amounts[side] = one.amount
        if len(amounts) == 2:
            assert row["margin"] == amounts["sell"] - amounts["buy"]


def test_ordinary_decks_stay_on_the_int64_path():
    # A rate of a million per minute needs the exact wide path for long calls only; a
    # deck of ordinary rates never does (no per-call check is paid).
    ordinary = compile_book(
        rates_frame([dict(account="a", kind="customer", prefix="1", rate="0.05")]), "customer"
    )
    huge = compile_book(
        rates_frame([dict(account="a", kind="customer", prefix="1", rate="1000000")]), "customer"
    )
    assert ordinary.always_fast and not huge.always_fast
    # ... and its amounts keep the narrow decimal128(18, 9) (INT64 in Parquet); a rater
    # whose calls may need more digits writes decimal128(38, 9).
    cdrs = canonical_table(pa.Table.from_pandas(cdr_frame([(NOV, 60, "1555", "a", "a")])))
    for rate, kind in (("0.05", NARROW_AMOUNT_TYPE), ("1000000", AMOUNT_TYPE)):
        rows = [dict(account="a", kind=k, prefix="1", rate=rate) for k in ("customer", "carrier")]
        rater = Rater.from_rates(rates_frame(rows))
        assert rater.amount_type == kind
        priced = rater.price(cdrs)
        assert {priced.schema.field(c).type for c in AMOUNT_COLUMNS} == {kind}
        assert priced.column("sell_amount").to_pylist() == [Decimal(rate)]


# -- exact sums ------------------------------------------------------------------------------

_amounts = st.lists(st.integers(-(10**30), 10**30), max_size=50)


@settings(max_examples=150, deadline=None)
@given(_amounts, st.lists(st.booleans(), max_size=50), st.integers(0, 5))
def test_limbs_sum_exactly(values, nulls, offset):
    n = len(values)
    nulls = (nulls + [False] * n)[:n]
    valid = ~np.asarray(nulls, dtype=bool)
    arr = amount_array(np.zeros(n, np.int64), valid, (np.arange(n), values))
    want = sum(v for v, ok in zip(values, valid, strict=True) if ok)
    assert arr.to_pylist() == [
        from_scaled(v) if ok else None for v, ok in zip(values, valid, strict=True)
    ]
    assert exact_total(arr) == want
    assert exact_total(pa.chunked_array([arr.slice(0, offset), arr.slice(offset)])) == want
    limbs = money_limbs(arr.slice(offset))
    sums = carry_limbs(*(np.asarray([x.sum()]) for x in limbs))
    assert join_limbs(*sums) == [
        sum(v for v, ok in list(zip(values, valid, strict=True))[offset:] if ok)
    ]


def test_summary_totals_are_exact_past_int64():
    # 3 CDRs of 5e9 units each: 1.5e10, past the 9.22e9 a 64-bit scaled sum holds.
    amount = 5 * 10**9 * UNIT
    ok = np.ones(3, bool)
    batch = pa.table(
        {
            "start": pa.array([NOV] * 3, pa.int64()),
            "duration": pa.array([60] * 3, pa.int64()),
            "customer": ["c"] * 3,
            "carrier": ["v"] * 3,
            "sell_destination": ["d"] * 3,
            "sell_reason": pa.nulls(3, pa.string()),
            "buy_reason": pa.nulls(3, pa.string()),
            "sell_currency": ["IDR"] * 3,
            "buy_currency": ["IDR"] * 3,
            "sell_billed_seconds": pa.array([60] * 3, pa.int64()),
            "buy_billed_seconds": pa.array([60] * 3, pa.int64()),
            "sell_amount": amount_array(np.full(3, amount, np.int64), ok),
            "buy_amount": amount_array(np.full(3, 1, np.int64), ok),
            "margin": amount_array(np.full(3, amount - 1, np.int64), ok),
        }
    )
    summary = RatingSummary()
    report = RatingReport()
    for _ in range(4):
        summary.add(batch)
        report.add(batch)
    assert summary.as_json()["sell_total"] == "60000000000"
    assert summary.as_json()["margin"] == "59999999999.999999988"
    (row,) = report.tables()["carrier"].to_dict("records")
    assert row["sell_total"] == Decimal("60000000000")
    assert row["margin"] == Decimal("59999999999.999999988")


# -- one money formatter, never an exponent --------------------------------------------------

_scaled = st.one_of(
    st.integers(-(10**30), 10**30),
    st.integers(-(10**4), 10**4).map(lambda k: k * UNIT),  # whole units: 610, 1000
    st.integers(-(10**4), 10**4).map(lambda k: k * 10**6),  # 0.001 steps: 0.61
    st.sampled_from([0, 1, -1, UNIT, 610 * UNIT, 1000 * UNIT, 10**18, 6_100_000, 10**27]),
)
_WIDE = Context(prec=100)


def _priced_batch(scaled: int) -> pa.Table:
    """One rated CDR whose sell, buy and margin amounts are all ``scaled``."""
    ok = np.ones(1, bool)
    wide = (np.zeros(1, np.int64), [scaled])
    return pa.table(
        {
            "start": pa.array([NOV], pa.int64()),
            "duration": pa.array([60], pa.int64()),
            "customer": ["c"],
            "carrier": ["v"],
            "sell_destination": ["d"],
            "sell_reason": pa.nulls(1, pa.string()),
            "buy_reason": pa.nulls(1, pa.string()),
            "sell_currency": ["USD"],
            "buy_currency": ["USD"],
            "sell_billed_seconds": pa.array([60], pa.int64()),
            "buy_billed_seconds": pa.array([60], pa.int64()),
            **{c: amount_array(np.zeros(1, np.int64), ok, wide) for c in AMOUNT_COLUMNS},
        }
    )


AMOUNT_COLUMNS = ("sell_amount", "buy_amount", "margin")


def _every_text(scaled: int, tmp: Path) -> list[str]:
    """The amount as each money writer puts it: ``--json``, the report CSVs, the table."""
    from rich.console import Console

    batch = _priced_batch(scaled)
    summary = RatingSummary()
    summary.add(batch)
    js = summary.as_json()
    texts = [js["sell_total"], js["buy_total"], js["margin"]]
    texts += [v for cur in js["by_currency"].values() for v in cur.values()]
    report = RatingReport()
    report.add(batch)
    report.write(tmp)
    for name in ("customer", "carrier", "destination", "day"):
        with (tmp / f"by_{name}.csv").open() as fh:
            for line in csv.DictReader(fh):
                texts += [line["sell_total"], line["buy_total"], line["margin"]]
    with open(os.devnull, "w") as sink:
        console = Console(width=400, record=True, file=sink)
        report.render(console)
    (line,) = [t for t in console.export_text().splitlines() if "USD" in t]
    cells = [c.strip() for c in line.split("│") if c.strip()]
    texts += cells[-3:]  # buy, sell, margin
    return texts


def _plain_and_exact(texts: list[str], want: Decimal) -> None:
    for text in texts:
        assert "e" not in text.lower(), text
        assert Decimal(text) == want, (text, want)


@settings(max_examples=400, deadline=None)
@given(_scaled, st.integers(0, 9))
def test_format_money_is_never_an_exponent(scaled, decimals):
    want = from_scaled(scaled)
    # the amount as a scaled int, and as a Decimal in several spellings (1E+3, 1000.000000000)
    texts = [
        format_money(scaled),
        format_money(want),
        format_money(want.normalize(_WIDE)),
        format_money(want.quantize(Decimal("1e-9"), context=_WIDE)),
    ]
    _plain_and_exact(texts, want)
    small = scaled % 2**62  # a numpy integer (a scaled int64 from an array)
    _plain_and_exact([format_money(np.int64(small))], from_scaled(small))
    rounded = scaled - scaled % 10 ** (9 - decimals)  # padded to the policy's places
    padded = format_money(rounded, decimals)
    assert "e" not in padded.lower() and Decimal(padded) == from_scaled(rounded)
    assert len(padded.partition(".")[2]) == decimals


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(_scaled)
def test_report_writers_never_print_an_exponent(tmp_path, scaled):
    _plain_and_exact(_every_text(scaled, tmp_path), from_scaled(scaled))


def test_exponent_spellings_print_plainly():
    assert format_money(Decimal("6.1E+2")) == "610"
    assert format_money(Decimal("1E+3")) == "1000"
    assert format_money(Decimal("1E-9")) == "0.000000001"
    assert format_money(Decimal("-0E-5")) == "0"
    assert format_money(610 * UNIT) == "610"
    assert str(from_scaled(12345678901234567890123456789123456789)) == (
        "12345678901234567890123456789.123456789"  # exact past 28 digits
    )


# -- the 9-decimal rule in every spelling ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1e-9999999", "decimal places"),
        ("1E-10", "decimal places"),
        ("0.0000000001", "decimal places"),
        ("1e-999999999999", "decimal places"),
        ("1e999999", "too large"),
        ("9223372036.854775808", "too large"),
    ],
)
def test_to_scaled_refuses_every_spelling(text, reason):
    with pytest.raises(MoneyError, match=reason):
        to_scaled(text)


@pytest.mark.parametrize(
    ("text", "scaled"),
    [("1E+3", 1000 * UNIT), ("1.000000000000", UNIT), ("0E-99999", 0), ("1e-9", 1)],
)
def test_to_scaled_reads_every_exact_spelling(text, scaled):
    assert to_scaled(text) == scaled


def test_a_period_rerate_widens_an_earlier_files_amounts(tmp_path):
    # An output written before amounts were widened (decimal128(19, 9)) is rerated for a
    # period holding a call whose cost passes int64: the kept rows and the new one fit.
    from tandem.rating.stream import rate_file

    rates = rates_frame(
        [
            dict(account="c", kind="customer", prefix="98", rate="1000000"),
            dict(account="v", kind="carrier", prefix="98", rate="1"),
        ]
    )
    rater = Rater.from_rates(rates)
    src = tmp_path / "cdrs.parquet"
    cdrs = [(NOV + 10, 60, "+98123", "c", "v"), (NOV + 86400, MAX_DURATION, "+98123", "c", "v")]
    pq.write_table(pa.Table.from_pandas(cdr_frame(cdrs), preserve_index=False), src)
    out = tmp_path / "rated.parquet"
    old = rater.price(canonical_table(pq.read_table(src))).slice(0, 1)
    narrow = pa.decimal128(19, 9)
    for name in ("sell_amount", "buy_amount", "margin"):
        k = old.schema.get_field_index(name)
        old = old.set_column(k, name, old.column(k).cast(narrow))
    pq.write_table(old, out)
    rate_file(src, out, rater, period=(NOV + 3600, NOV + 2 * 86400))
    got = pq.read_table(out).to_pylist()
    assert [r["sell_amount"] for r in got] == [
        Decimal(1000000),
        Decimal(10**6 * -(-MAX_DURATION // 60)),  # 60/60 increments: whole minutes
    ]
