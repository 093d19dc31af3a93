"""The money columns of the rated and unrated Parquet files: ``decimal128(18, 9)`` stored as
INT64 when the rating books prove every amount fits 18 digits, ``decimal128(38, 9)`` (16-byte
fixed-length values) otherwise; every reader sees the exact amounts either way."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rating_helpers import cdr_frame, rates_frame

from tandem.money import SCALE
from tandem.rating.amounts import AMOUNT_TYPE, NARROW_AMOUNT_TYPE
from tandem.rating.book import FAST_LIMIT, MAX_DURATION, compile_book
from tandem.rating.cdr import canonical_table
from tandem.rating.price import Rater
from tandem.rating.stream import rate_file

NOV = 1_793_491_200  # 2026-11-01T00:00:00Z
MONEY = ("sell_amount", "buy_amount", "margin")
#: The largest scaled per-minute rate a 60/60 book can hold and stay ``always_fast``: the
#: worst call bills MAX_DURATION seconds plus two increments (``book._set_bounds``).
EDGE_RATE = (FAST_LIMIT - 1) // (MAX_DURATION + 120)


def _rate(tmp_path, sell: int | str, buy: int | str, cdrs: list[tuple]) -> tuple[Rater, dict]:
    rows = [
        dict(account="c", kind="customer", prefix="44", rate=sell, decimals=9),
        dict(account="v", kind="carrier", prefix="44", rate=buy, decimals=9),
    ]
    rater = Rater.from_rates(rates_frame(rows))
    src = tmp_path / "cdrs.parquet"
    pq.write_table(pa.Table.from_pandas(cdr_frame(cdrs), preserve_index=False), src)
    out = tmp_path / "rated.parquet"
    rate_file(src, out, rater)
    expected = rater.price(canonical_table(pq.read_table(src)))
    want = {c: expected.column(c).to_pylist() for c in MONEY}
    return rater, {"out": out, "unrated": tmp_path / "rated.unrated.parquet", "want": want}


def _physical(path, column: str) -> tuple[str, str]:
    col = pq.ParquetFile(path).schema.column(pq.read_schema(path).get_field_index(column))
    return col.physical_type, str(col.logical_type)


def _readers_agree(path, want: dict[str, list]) -> None:
    """pyarrow, pandas and DuckDB read the exact amounts of ``want`` (nulls as nulls)."""
    table = pq.read_table(path)
    frame = pq.read_table(path).to_pandas()
    rows = duckdb.sql(f"SELECT {', '.join(MONEY)} FROM '{path}'").fetchall()
    for k, c in enumerate(MONEY):
        assert table.column(c).to_pylist() == want[c], c
        assert [None if v is None else Decimal(v) for v in frame[c]] == want[c], c
        assert [r[k] for r in rows] == want[c], c


def test_ordinary_amounts_are_int64_decimals_that_every_reader_reads_exactly(tmp_path):
    cdrs = [
        (NOV + 60 * k, d, "+4420" + str(k), "c", "v")
        for k, d in enumerate([1, 59, 60, 61, 3599, 86_400, 7, 0])
    ]
    cdrs.append((NOV, 30, "+3312345", "c", "v"))  # no rate for +33: unrated, null amounts
    rater, run = _rate(tmp_path, "0.123456789", "0.098765432", cdrs)
    assert rater.amount_type == NARROW_AMOUNT_TYPE == pa.decimal128(18, SCALE)
    for c in MONEY:
        assert pq.read_schema(run["out"]).field(c).type == NARROW_AMOUNT_TYPE
        assert _physical(run["out"], c) == ("INT64", "Decimal(precision=18, scale=9)")
        assert _physical(run["unrated"], c)[0] == "INT64"
    rated = [v for v in run["want"]["sell_amount"] if v is not None]
    assert len(rated) == 8 and Decimal("0.123456789") * 1440 in rated  # the 86,400 s call
    want = {c: [v for v in vals if v is not None] for c, vals in run["want"].items()}
    _readers_agree(run["out"], want)
    _readers_agree(run["unrated"], {c: [None] for c in MONEY})


def test_the_largest_amounts_the_books_allow_fit_the_int64_decimals(tmp_path):
    # The narrow type is chosen from a bound proven on the books, not from the amounts
    # seen: at the largest rate that keeps a book always_fast, the longest call, sold at
    # that rate and bought at its opposite (the widest margin), is still exact in 18 digits.
    edge = compile_book(
        rates_frame([dict(account="c", kind="customer", prefix="44", rate=EDGE_RATE)]),
        "customer",
    )
    past = compile_book(
        rates_frame([dict(account="c", kind="customer", prefix="44", rate=EDGE_RATE + 1)]),
        "customer",
    )
    assert edge.always_fast and not past.always_fast
    cdrs = [(NOV, MAX_DURATION, "+4420", "c", "v"), (NOV, 1, "+4421", "c", "v")]
    rater, run = _rate(tmp_path, EDGE_RATE, -EDGE_RATE, cdrs)
    assert rater.amount_type == NARROW_AMOUNT_TYPE
    longest = run["want"]["margin"][0]
    assert longest == 2 * run["want"]["sell_amount"][0] > Decimal(10) ** 7
    assert abs(longest) < Decimal(10) ** (18 - SCALE)  # 18 digits, 9 of them decimals
    assert _physical(run["out"], "margin")[0] == "INT64"
    _readers_agree(run["out"], run["want"])


@pytest.mark.parametrize("sell", [EDGE_RATE + 1, "1000000"])
def test_amounts_that_may_pass_18_digits_stay_16_byte_decimals(tmp_path, sell):
    # One rate past the bound (or an IDR-scale million per minute): the books cannot
    # prove 18 digits, so the columns are decimal128(38, 9) on FIXED_LEN_BYTE_ARRAY.
    cdrs = [(NOV, MAX_DURATION, "+4420", "c", "v"), (NOV, 61, "+4421", "c", "v")]
    rater, run = _rate(tmp_path, sell, "0.01", cdrs)
    assert rater.amount_type == AMOUNT_TYPE
    for c in MONEY:
        assert pq.read_schema(run["out"]).field(c).type == AMOUNT_TYPE
        assert _physical(run["out"], c) == (
            "FIXED_LEN_BYTE_ARRAY",
            "Decimal(precision=38, scale=9)",
        )
    if sell == "1000000":  # the longest call costs past 18 digits indeed
        assert run["want"]["sell_amount"][0] >= Decimal(10) ** 9
    _readers_agree(run["out"], run["want"])
