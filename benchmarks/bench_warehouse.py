"""Benchmark: loading rated CDRs into the PostgreSQL warehouse (``tandem rate --to-db``).

    python benchmarks/bench_warehouse.py [--rows 5000000] [--rounds 3] [--prefixes 20000]
                                         [--pg postgresql://postgres@127.0.0.1:5432/test]

The rated Parquet file of ``--rows`` CDRs (priced once, not timed) is loaded into
PostgreSQL three ways, in turn in each round, each into empty tables of its own schema:

* ``COPY, bare table`` (the floor): the file read with pyarrow, written as CSV in memory
  and sent with one ``COPY`` into a table of the warehouse's columns without any key or
  index: the least any loader of this file into PostgreSQL does;
* ``COPY, keyed table``: the same into a table with the warehouse's primary key and
  indexes, as ``rated_cdrs`` has them;
* ``Store.load_rated`` (what ``tandem rate --to-db`` runs after rating): the rows
  converted (ids, scaled money), staged with ``COPY``, the earlier rows of the same CDRs
  deleted, inserted with their legs, one transaction; ``again`` loads the same file a
  second time (every row replaced).

Each load is checked: the row count and the sum of ``sell_amount`` equal the file's.
Prints rows per second (median of the rounds) and the ratio to the floor.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_rate_e2e import make_cdr_file  # noqa: E402
from bench_rating import make_prefixes, make_rates, write_decks  # noqa: E402

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def rated_file(tmp: Path, rows: int, prefixes: int) -> Path:
    """Price ``rows`` generated CDRs (with call ids) once; return the rated Parquet file."""
    from tandem.rating.cdr import CdrReader
    from tandem.rating.price import Rater
    from tandem.rating.stream import rate_file
    from tandem.store import Store

    rng = np.random.default_rng(11)
    db = tmp / "rates.db"
    write_decks(db, make_rates(make_prefixes(prefixes, rng), rng))
    cdrs = tmp / "cdrs.parquet"
    make_cdr_file(cdrs, make_prefixes(prefixes, np.random.default_rng(11)), rows, rng)
    with_ids = tmp / "cdrs_ids.parquet"
    with pq.ParquetFile(cdrs) as f, pq.ParquetWriter(with_ids, _with_id_schema(f)) as w:
        first = 0
        for batch in f.iter_batches(batch_size=1_000_000):
            ids = pc.binary_join_element_wise(
                "c", pa.array(np.arange(first, first + batch.num_rows)).cast(pa.string()), ""
            )
            w.write_table(pa.Table.from_batches([batch]).append_column("call_id", ids))
            first += batch.num_rows
    out = tmp / "rated.parquet"
    with Store(str(db)) as store:
        rater = Rater.from_store(store)
    summary = rate_file(with_ids, out, rater, reader=CdrReader(batch_size=500_000))
    print(f"rated {summary.as_json()['rated']:,} of {rows:,} CDRs into {out.name}", flush=True)
    return out


def _with_id_schema(f: pq.ParquetFile) -> pa.Schema:
    return f.schema_arrow.append(pa.field("call_id", pa.string()))


def _fresh_schema(pg: str) -> tuple[str, str]:
    import psycopg

    name = f"bench_wh_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    return f"{pg}?options=-csearch_path%3D{name}", name


def _drop_schema(pg: str, name: str) -> None:
    import psycopg

    with psycopg.connect(pg.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _check(pg_url: str, table: str, rows: int, sell: int) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(pg_url)
    with engine.connect() as conn:
        n, total = conn.execute(text(f"SELECT COUNT(*), SUM(sell_amount) FROM {table}")).one()
    engine.dispose()
    if n != rows or int(total) != sell:
        raise SystemExit(f"{table}: {n} rows, sell {total}; expected {rows}, {sell}")


def copy_floor(pg: str, rated: Path, keyed: bool) -> float:
    """Seconds to COPY the file's warehouse columns into a fresh (bare or keyed) table."""
    from sqlalchemy import create_engine, text

    from tandem.store import Store
    from tandem.store.warehouse import WAREHOUSE_COLUMNS, warehouse_rows

    url, schema = _fresh_schema(pg)
    try:
        Store(url).close()  # creates rated_cdrs: its DDL is the keyed table
        engine = create_engine(url)
        with engine.begin() as conn:
            if not keyed:
                conn.execute(text("CREATE TABLE bare (LIKE rated_cdrs)"))
        # the columns as the warehouse holds them, prepared beforehand: the floor is COPY
        tables = []
        with pq.ParquetFile(rated) as f:
            for batch in f.iter_batches(batch_size=500_000):
                rows = warehouse_rows(pa.Table.from_batches([batch]), source="x", loaded_at=0)
                legs = pa.array(np.zeros(rows.num_rows, np.int64))
                tables.append(rows.add_column(1, "leg", legs))
        target = "rated_cdrs" if keyed else "bare"
        cols = ", ".join(("cdr_id", "leg", *WAREHOUSE_COLUMNS))
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL TIME ZONE 'UTC'"))
            raw = conn.connection.driver_connection
            with (
                raw.cursor() as cur,
                cur.copy(f"COPY {target} ({cols}) FROM STDIN (FORMAT csv)") as cp,
            ):
                for t in tables:
                    buf = io.BytesIO()
                    pacsv.write_csv(t, buf, pacsv.WriteOptions(include_header=False))
                    cp.write(buf.getbuffer())
        seconds = time.perf_counter() - t0
        engine.dispose()
        _check(url, target, sum(t.num_rows for t in tables), SELL)
        return seconds
    finally:
        _drop_schema(pg, schema)


def tandem_load(pg: str, rated: Path) -> tuple[float, float]:
    """Seconds of Store.load_rated on the file into an empty warehouse, then again."""
    from tandem.store import Store

    url, schema = _fresh_schema(pg)
    try:
        store = Store(url)

        def batches():
            with pq.ParquetFile(rated) as f:
                for batch in f.iter_batches(batch_size=500_000):
                    yield pa.Table.from_batches([batch])

        t0 = time.perf_counter()
        first = store.load_rated(batches(), source=str(rated))
        t1 = time.perf_counter()
        again = store.load_rated(batches(), source=str(rated))
        t2 = time.perf_counter()
        store.close()
        if again.replaced != first.rows:
            raise SystemExit(f"the second load replaced {again.replaced} of {first.rows} rows")
        _check(url, "rated_cdrs", first.rows, SELL)
        return t1 - t0, t2 - t1
    finally:
        _drop_schema(pg, schema)


SELL = 0


def main() -> None:
    global SELL
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prefixes", type=int, default=20_000)
    ap.add_argument("--pg", default=PG)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_wh_") as tmp:
        rated = rated_file(Path(tmp), args.rows, args.prefixes)
        amounts = pq.read_table(rated, columns=["sell_amount"]).column("sell_amount")
        SELL = int(sum((v or Decimal(0) for v in amounts.to_pylist()), Decimal(0)).scaleb(9))
        n = pq.ParquetFile(rated).metadata.num_rows
        times: dict[str, list[float]] = {k: [] for k in ("bare", "keyed", "tandem", "again")}
        for r in range(args.rounds):
            times["bare"].append(copy_floor(args.pg, rated, keyed=False))
            times["keyed"].append(copy_floor(args.pg, rated, keyed=True))
            first, again = tandem_load(args.pg, rated)
            times["tandem"].append(first)
            times["again"].append(again)
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
                  flush=True)  # fmt: skip
    floor = statistics.median(times["bare"])
    print(f"\n{n:,} rated CDRs into PostgreSQL, median of {args.rounds} rounds")
    print(f"{'load':<44}{'seconds':>9}{'rows/s':>12}{'vs floor':>10}")
    for key, label in (
        ("bare", "COPY, bare table (floor)"),
        ("keyed", "COPY, keyed table (rated_cdrs' keys)"),
        ("tandem", "Store.load_rated, empty warehouse"),
        ("again", "Store.load_rated, same CDRs again"),
    ):
        s = statistics.median(times[key])
        print(f"{label:<44}{s:>9.2f}{n / s:>12,.0f}{floor / s:>9.2f}x")


if __name__ == "__main__":
    main()
