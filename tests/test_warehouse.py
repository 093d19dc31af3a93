"""The CDR warehouse: ``tandem rate --to-db`` loads the rated CDRs into ``rated_cdrs``
(equal to the rated Parquet file, on SQLite and PostgreSQL; a rerun changes nothing; a
rerated period replaces its rows), and ``tandem rate --query`` reads CDRs from SQL."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sqlalchemy import text
from test_rating_cdr import DATA, EFF, load_universe

from tandem.cli.main import cli
from tandem.errors import StoreError
from tandem.money import SCALE

DAY = 86_400


def _cdrs(path: Path, n: int = 240, *, call_ids: bool = True, seed: int = 3) -> None:
    """``n`` CDRs over three days, with call ids (two CDRs of one call: a failover)."""
    rng = np.random.default_rng(seed)
    numbers = rng.choice(["4420", "447", "1212", "34", "881"], n)
    ids = [f"call-{i // 2 if i % 40 == 1 else i}" for i in range(n)]  # every 40th: a 2nd leg
    columns = {
        "start": EFF + DAY + (np.arange(n) * (3 * DAY // n)).astype(np.int64),
        "duration": rng.integers(0, 400, n),
        "number": np.char.add(numbers, rng.integers(10**6, 10**7, n).astype(str)),
        "customer": ["acme-telecom"] * n,
        "carrier": rng.choice(["atlas", "borealis", "cygnus"], n),
    }
    if call_ids:
        columns["call_id"] = ids
    pq.write_table(pa.table(columns), path)


def _db(store) -> list[str]:
    return ["--db", store.url.removeprefix("sqlite:///")]


def _rate(store, *args: str) -> dict:
    result = CliRunner().invoke(cli, [*_db(store), "rate", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _table(store) -> list[dict]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM rated_cdrs ORDER BY cdr_id, start_epoch, leg")
        ).mappings()
        return [dict(r) for r in rows]


def _scaled(value) -> int | None:
    return None if value is None else int(Decimal(value).scaleb(SCALE))


def _expected(rated: Path) -> dict[tuple[str, int], dict]:
    """The rated file's rows as the warehouse should hold them, by (cdr_id, leg)."""
    table = pq.read_table(rated).to_pylist()
    out: dict[tuple[str, int, int], dict] = {}
    legs: dict[tuple[str, int], int] = {}
    for row in sorted(table, key=lambda r: r["record"]):
        cdr = row["call_id"], row["start_epoch"]
        leg = legs.get(cdr, 0)
        legs[cdr] = leg + 1
        out[(*cdr, leg)] = {
            "start_epoch": row["start_epoch"],
            "duration": row["duration"],
            "number": row["number"],
            "customer": row["customer"],
            "carrier": row["carrier"],
            "sell_prefix": row["sell_prefix"],
            "sell_amount": _scaled(row["sell_amount"]),
            "sell_currency": row["sell_currency"],
            "buy_prefix": row["buy_prefix"],
            "buy_amount": _scaled(row["buy_amount"]),
            "buy_billed_seconds": row["buy_billed_seconds"],
            "margin": _scaled(row["margin"]),
            "record": row["record"],
        }
    return out


def _held(rows: list[dict]) -> dict[tuple[str, int, int], dict]:
    keys = ("start_epoch", "duration", "number", "customer", "carrier", "sell_prefix",
            "sell_amount", "sell_currency", "buy_prefix", "buy_amount", "buy_billed_seconds",
            "margin", "record")  # fmt: skip
    return {(r["cdr_id"], r["start_epoch"], r["leg"]): {k: r[k] for k in keys} for r in rows}


def test_warehouse_rows_equal_the_rated_file_and_a_rerun_changes_nothing(tmp_path, store):
    load_universe(store)
    src, out = tmp_path / "cdrs.parquet", tmp_path / "rated.parquet"
    _cdrs(src)
    doc = _rate(store, str(src), "-o", str(out), "--to-db")
    rows = _table(store)
    assert doc["warehouse"] == {"rows": doc["rated"], "replaced": 0}
    assert len(rows) == doc["rated"] > 150
    assert _held(rows) == _expected(out)
    assert len({r["cdr_id"] for r in rows}) < len(rows)  # a failover's 2nd CDR: its own row
    assert {str(r["start"])[:10] for r in rows} >= {"2026-11-02", "2026-11-03"}
    # Sums in SQL are exact: the scaled integers add up to the JSON totals.
    with store.engine.connect() as conn:
        sell = conn.execute(text("SELECT SUM(sell_amount) FROM rated_cdrs")).scalar_one()
    assert Decimal(int(sell)).scaleb(-SCALE) == Decimal(doc["sell_total"])
    again = _rate(store, str(src), "-o", str(out), "--to-db")
    assert again["warehouse"] == {"rows": doc["rated"], "replaced": doc["rated"]}
    strip = [{k: v for k, v in r.items() if k != "loaded_at"} for r in _table(store)]
    assert strip == [{k: v for k, v in r.items() if k != "loaded_at"} for r in rows]


def test_a_rerated_period_replaces_its_rows_and_keeps_the_others(tmp_path, store):
    load_universe(store)
    src, out = tmp_path / "cdrs.parquet", tmp_path / "rated.parquet"
    _cdrs(src)
    _rate(store, str(src), "-o", str(out), "--to-db")
    before = {(r["cdr_id"], r["start_epoch"], r["leg"]): r for r in _table(store)}
    # The corrected file drops the period's first CDR: its row must go too.
    table = pq.read_table(src)
    start = table.column("start").to_numpy()
    a, b = EFF + 2 * DAY, EFF + 3 * DAY
    first = int(np.flatnonzero((start >= a) & (start < b))[0])
    pq.write_table(table.take([i for i in range(table.num_rows) if i != first]), src)
    doc = _rate(
        store, str(src), "-o", str(out), "--to-db", "--from", "2026-11-03", "--until",
        "2026-11-04",
    )  # fmt: skip
    after = {(r["cdr_id"], r["start_epoch"], r["leg"]): r for r in _table(store)}
    inside = {k for k, r in before.items() if a <= r["start_epoch"] < b}
    dropped = (table.column("call_id")[first].as_py(), int(start[first]), 0)
    assert dropped in inside and dropped not in after
    ids_inside = {k[0] for k in inside}
    assert any(k[0] in ids_inside for k in before if k not in inside)  # a call on both sides
    assert doc["warehouse"]["rows"] == len(inside) - 1
    for key, row in before.items():
        if key not in inside:
            assert after[key] == row  # untouched, loaded_at included
    assert _held(list(after.values())) == _expected(out)


def test_cdrs_without_a_call_id_get_a_stable_digest(tmp_path, sqlite_store):
    load_universe(sqlite_store)
    src, out = tmp_path / "cdrs.parquet", tmp_path / "rated.parquet"
    _cdrs(src, 60, call_ids=False)
    _rate(sqlite_store, str(src), "-o", str(out), "--to-db")
    first = _table(sqlite_store)
    assert first and all(r["cdr_id"].startswith("h:") and r["call_id"] is None for r in first)
    _rate(sqlite_store, str(src), "-o", str(out), "--to-db")
    assert [r["cdr_id"] for r in _table(sqlite_store)] == [r["cdr_id"] for r in first]


def test_an_amount_beyond_64_bit_scaled_money_is_refused_and_nothing_is_loaded(sqlite_store):
    from tandem.store.warehouse import warehouse_rows

    rated = pa.table(
        {
            "record": [7],
            "start_epoch": [EFF],
            "duration": [60],
            "call_id": ["x"],
            "sell_amount": pa.array([Decimal("9300000000")], pa.decimal128(28, 9)),
            "buy_amount": pa.array([Decimal("1")], pa.decimal128(28, 9)),
            "margin": pa.array([Decimal("1")], pa.decimal128(28, 9)),
            "sell_billed_seconds": [60],
            "buy_billed_seconds": [60],
        }
    )
    with pytest.raises(StoreError, match="CDR record 7: sell_amount 9300000000"):
        warehouse_rows(rated, source="t")
    with pytest.raises(StoreError, match="CDR record 7"):
        sqlite_store.load_rated([rated], source="t")
    assert _table(sqlite_store) == []
    fits = rated.set_column(
        4, "sell_amount", pa.array([Decimal("-9000000000.5")], pa.decimal128(28, 9))
    )
    assert warehouse_rows(fits, source="t").column("sell_amount").to_pylist() == [
        -9_000_000_000_500_000_000
    ]


def _acc_cdrs(conn, timestamps: str) -> None:
    rows = list(csv.reader((DATA / "kamailio-acc_cdrs.csv").open()))
    conn.execute(text("DROP TABLE IF EXISTS acc_cdrs"))
    conn.execute(
        text(
            f"CREATE TABLE acc_cdrs (id INTEGER, start_time {timestamps}, end_time {timestamps}, "
            "duration REAL, callid VARCHAR(255), src_user VARCHAR(64), src_domain VARCHAR(64), "
            "dst_user VARCHAR(64), dst_domain VARCHAR(64), src_account VARCHAR(64), "
            "dst_gw VARCHAR(64), sip_code INTEGER)"
        )
    )
    names = rows[0]
    marks = ", ".join(f":{n}" for n in names)
    for row in rows[1:]:
        values = dict(zip(names, row, strict=True))
        for n in ("id", "sip_code"):
            values[n] = int(values[n])  # type: ignore[assignment]
        values["duration"] = float(values["duration"])  # type: ignore[assignment]
        conn.execute(text(f"INSERT INTO acc_cdrs VALUES ({marks})"), values)


def test_cdrs_from_a_sql_query_rate_as_the_same_rows_in_a_file(tmp_path, store):
    """Kamailio's acc_cdrs table, in the store's own database (PostgreSQL: real
    timestamp columns), rated with --query, equals the CSV export rated as a file."""
    load_universe(store)
    with store.engine.begin() as conn:
        _acc_cdrs(conn, "TIMESTAMP" if store.dialect == "postgresql" else "TEXT")
    by_file = _rate(store, str(DATA / "kamailio-acc_cdrs.csv"), "-o", str(tmp_path / "f.parquet"))
    by_query = _rate(
        store, "--query", "SELECT * FROM acc_cdrs ORDER BY id", "-o", str(tmp_path / "q.parquet"),
        "--to-db",
    )  # fmt: skip
    for key in ("rows_in", "rated", "unrated", "sell_total", "buy_total", "margin"):
        assert by_query[key] == by_file[key], key
    cols = ["start_epoch", "duration", "number", "customer", "carrier", "sell_amount",
            "buy_amount", "call_id"]  # fmt: skip
    assert pq.read_table(tmp_path / "q.parquet", columns=cols).equals(
        pq.read_table(tmp_path / "f.parquet", columns=cols)
    )
    assert {r["source"] for r in _table(store)} == {"query"}
    assert len(_table(store)) == by_query["rated"]


def test_a_query_that_fails_is_one_error_line(tmp_path, sqlite_store):
    runner = CliRunner()
    db = _db(sqlite_store)
    out = str(tmp_path / "q.parquet")
    for args, message in (
        (["--query", "SELECT * FROM no_such_table", "-o", out], "--query failed on"),
        (["-o", out], "give a CDR file or --query SQL"),
        ([str(DATA / "kamailio-acc_cdrs.csv"), "--query", "SELECT 1", "-o", out],
         "give a CDR file or --query SQL"),
        ([str(DATA / "kamailio-acc_cdrs.csv"), "--query-db", "x.db", "-o", out],
         "--query-db goes with --query"),
    ):  # fmt: skip
        result = runner.invoke(cli, [*db, "rate", *args])
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert "Traceback" not in result.output
    assert not Path(out).exists()
