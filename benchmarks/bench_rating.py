"""Benchmark: rate 5,000,000 CDRs (buy and sell side) against 150,000-prefix decks.

    python benchmarks/bench_rating.py [--cdrs 5000000] [--prefixes 150000] [--runs 3]
                                      [--tandem-runs 7]

Same job three ways, in the same run:

* Tandem: ``Rater.price`` on an Arrow batch (longest prefix, effective date, increments,
  rounding, both sides, margin), both cores;
* DuckDB: the same job as one SQL query for both sides (``duck_sql``): per prefix length a
  LEFT JOIN on the integer value of the number's first digits with the effective-date
  filter, the longest hit by ``COALESCE``, integer increments, half-up rounding. Fastest of
  the formulations we tried (2 threads, both sides, CDRs/s): this one ~2.3 M at 5 M CDRs;
  keys by ``CAST(substr(...))`` ~2.0 M, string keys ~1.9 M; at 1 M CDRs one query per side
  ~1.6 M, ``UNION ALL`` of per-length joins then ``arg_max`` or ``QUALIFY row_number()``
  ~0.35 M, CDRs x distinct lengths joined on ``substr`` then ``arg_max`` (the earlier
  baseline) ~0.3-0.4 M. On these decks (one version, the same dates) DuckDB's optimizer
  drops the date filter from column statistics;
* pandas ``apply`` per row on a subsample, extrapolated (said so in the table).

Then memory: peak RSS (``VmHWM``) of ``rate_file`` (streamed Parquet in, Parquet out) on a file of N
CDRs and on one of 10 N, each in a fresh process; and, on the 10 N file, the command a user
runs, ``tandem --db DB rate FILE -o OUT --json``, end to end in a fresh process (the decks
read from a SQLite store and compiled, then the file streamed; ``--skip-cli`` leaves it out).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tandem.rating.cdr import canonical_table  # noqa: E402
from tandem.rating.price import Rater  # noqa: E402
from tandem.store import OPEN_END  # noqa: E402

START = 1_793_577_600  # 2026-11-02 00:00 UTC
EFF = 1_793_491_200  # decks in force from 2026-11-01


def make_prefixes(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` unique prefixes shaped like an A-Z deck: country codes, then longer ranges."""
    countries = sorted({str(c) for c in rng.integers(1, 999, 400)})
    out = set(countries)
    while len(out) < n:
        cc = countries[int(rng.integers(0, len(countries)))]
        extra = int(rng.integers(1, 6))
        out.add(cc + "".join(map(str, rng.integers(0, 10, extra))))
    return sorted(out)[:n]


def make_rates(prefixes: list[str], rng: np.random.Generator) -> pd.DataFrame:
    n = len(prefixes)
    frames = []
    for kind, account, inc in (
        ("customer", "acme-telecom", (60, 60)),
        ("carrier", "atlas", (1, 1)),
    ):
        frames.append(
            pd.DataFrame(
                {
                    "account": account,
                    "kind": kind,
                    "deck_id": 1 if kind == "customer" else 2,
                    "version": 1,
                    "currency": "USD",
                    "decimals": 4,
                    "rounding": "half-up",
                    "timezone": "UTC",
                    "prefix": prefixes,
                    "destination": "",
                    "rate": rng.integers(1_000_000, 200_000_000, n),  # 0.001 .. 0.2 per minute
                    "connect_fee": 0,
                    "initial_increment": inc[0],
                    "next_increment": inc[1],
                    "min_duration": 0,
                    "effective_from": EFF,
                    "effective_until": OPEN_END,
                    "change": None,
                    "line": 1,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def make_cdrs(prefixes: list[str], n: int, rng: np.random.Generator) -> pa.Table:
    p = np.asarray(prefixes, dtype=object)[rng.integers(0, len(prefixes), n)]
    tails = rng.integers(10**6, 10**7, n).astype(str)
    numbers = np.char.add(p.astype(str), tails)
    return pa.table(
        {
            "start": rng.integers(START, START + 30 * 86400, n),
            "duration": rng.integers(0, 600, n),
            "number": pa.array(numbers.astype(object), pa.string()),
            "customer": pa.array(["acme-telecom"] * n).dictionary_encode(),
            "carrier": pa.array(["atlas"] * n).dictionary_encode(),
        }
    )


def bench_tandem(rater: Rater, canon: pa.Table, runs: int) -> tuple[float, pa.Table]:
    times = []
    out = None
    for _ in range(runs):
        t = time.perf_counter()
        out = rater.price(canon)
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


DUCK_FORMULATION = (
    "one query for both sides; per side and prefix length L a LEFT JOIN on the number's "
    "first L digits as BIGINT with the effective-date filter; longest hit by COALESCE"
)


def duck_keys(lens: list[int]) -> str:
    """The probe keys ``k{L}``: the number's first ``L`` digits as a BIGINT (from ``v``, the
    number right-padded to 18 digits, and ``nlen``, its length), NULL when it is shorter."""
    return ", ".join(f"CASE WHEN nlen >= {n} THEN v // {10 ** (18 - n)} END AS k{n}" for n in lens)


def duck_longest_match(lens: list[int], cols: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Per side (``s`` sell, ``b`` buy) and prefix length a LEFT JOIN of that deck's prefixes
    of the length on the probe key, with the effective-date filter; and the picks: each of
    ``cols`` of the longest hit by ``COALESCE``, as ``{side}{col}``."""
    sub = ", ".join([*(["prefix"] if "prefix" in cols else []), "pkey", "rate, ii, ni, ef, eu"])
    joins = []
    picks = []
    for side, kind in (("s", "customer"), ("b", "carrier")):
        for n in lens:
            joins.append(
                f"LEFT JOIN (SELECT {sub} FROM rates"
                f" WHERE kind = '{kind}' AND plen = {n}) {side}{n}"
                f" ON {side}{n}.pkey = c.k{n} AND c.start >= {side}{n}.ef"
                f" AND c.start < {side}{n}.eu"
            )
        for col in cols:
            longest_first = ", ".join(f"{side}{n}.{col}" for n in reversed(lens))
            picks.append(f"COALESCE({longest_first}) AS {side}{col}")
    return joins, picks


def duck_billed_seconds(p: str, duration: str) -> str:
    """Billed seconds of side ``p`` (initial ``{p}ii``, then ``{p}ni`` increments)."""
    return (
        f"CASE WHEN {duration} <= 0 THEN 0 WHEN {duration} <= {p}ii THEN {p}ii"
        f" ELSE {p}ii + (({duration} - {p}ii + {p}ni - 1) // {p}ni) * {p}ni END"
    )


def duck_sql(lens: list[int]) -> str:
    """The DuckDB query pricing both sides, written for the prefix lengths ``lens`` of the decks.

    Longest-prefix match as one LEFT JOIN per prefix length ``L`` (probe key: the number's
    first ``L`` digits as a BIGINT, cut by integer division from the number right-padded with
    zeros to 18 digits, NULL when the number is shorter than ``L``; built once for both sides.
    Build side: that deck's prefixes of length ``L``, whose integer value is unique within a
    length) with the effective-date filter in the join condition, the longest hit taken by
    ``COALESCE`` from the longest length down; then integer increments and half-up rounding
    to 4 decimals on the 9-decimal scaled rate. A CDR no prefix matches gets a NULL amount.
    """
    if max(lens) > 18:
        raise ValueError("prefixes longer than 18 digits do not fit the BIGINT keys")
    keys = duck_keys(lens)
    digits = (
        "SELECT *, length(number) AS nlen, CAST(rpad(number, 18, '0') AS BIGINT) AS v FROM cdrs"
    )
    joins, picks = duck_longest_match(lens, ("rate", "ii", "ni"))

    def secs(p: str) -> str:
        return duck_billed_seconds(p, "d")

    return f"""
WITH c AS (SELECT id, start, duration, {keys} FROM ({digits})),
best AS (SELECT c.id, c.duration AS d, {", ".join(picks)} FROM c
  {chr(10).join(joins)}),
billed AS (SELECT id, srate, {secs("s")} AS ssecs, brate, {secs("b")} AS bsecs FROM best)
SELECT id, ssecs, ((srate * ssecs + 3000000) // 6000000) * 100000 AS amount,
       bsecs, ((brate * bsecs + 3000000) // 6000000) * 100000 AS buy_amount
FROM billed
"""


def bench_duckdb(rates: pd.DataFrame, cdrs: pa.Table, runs: int) -> tuple[float, pd.DataFrame]:
    """Median seconds of :func:`duck_sql` over ``runs``, and its sell amounts (-1: unrated).

    Before timing: the decks as a table with each prefix's length and integer value, and the
    CDRs as a table; all matching and pricing happens in the timed query.
    """
    import duckdb

    con = duckdb.connect()
    con.execute("PRAGMA threads=2")
    r = rates[["kind", "prefix", "rate", "initial_increment", "next_increment",
               "effective_from", "effective_until"]]  # fmt: skip
    con.register("rates_df", r)
    con.execute(
        "CREATE TABLE rates AS SELECT kind, length(prefix) AS plen, CAST(prefix AS BIGINT) AS pkey,"
        " rate, initial_increment AS ii, next_increment AS ni, effective_from AS ef,"
        " effective_until AS eu FROM rates_df"
    )
    plain = pa.table(
        {
            "id": np.arange(cdrs.num_rows),
            "start": cdrs.column("start"),
            "duration": cdrs.column("duration"),
            "number": cdrs.column("number"),
        }
    )
    con.register("cdrs_arrow", plain)
    con.execute("CREATE TABLE cdrs AS SELECT * FROM cdrs_arrow")
    sql = duck_sql(sorted(set(rates["prefix"].str.len())))
    times = []
    out = None
    for _ in range(runs):
        t = time.perf_counter()
        out = con.sql(sql).to_arrow_table()
        times.append(time.perf_counter() - t)
    sell = pa.table({"id": out.column("id"), "amount": pc.fill_null(out.column("amount"), -1)})
    return statistics.median(times), sell.to_pandas()


def bench_apply(rates: pd.DataFrame, cdrs: pa.Table, sample: int) -> float:
    """Per-row pandas apply: longest prefix by trying lengths, then the increments."""
    book = {}
    for side in ("customer", "carrier"):
        sub = rates[rates["kind"] == side]
        book[side] = dict(
            zip(sub["prefix"], zip(sub["rate"], sub["initial_increment"], sub["next_increment"],
                                    sub["effective_from"], sub["effective_until"], strict=True),
                strict=True)
        )  # fmt: skip
    frame = cdrs.slice(0, sample).select(["start", "duration", "number"]).to_pandas()

    def one(row, side):
        d = book[side]
        num = row["number"]
        for k in range(min(len(num), 15), 0, -1):
            hit = d.get(num[:k])
            if hit and hit[3] <= row["start"] < hit[4]:
                rate, ii, ni = hit[0], hit[1], hit[2]
                dur = row["duration"]
                secs = 0 if dur <= 0 else ii if dur <= ii else ii + -(-(dur - ii) // ni) * ni
                return ((rate * secs + 3_000_000) // 6_000_000) * 100_000
        return None

    t = time.perf_counter()
    frame.apply(lambda r: one(r, "customer"), axis=1)
    frame.apply(lambda r: one(r, "carrier"), axis=1)
    return time.perf_counter() - t


_CHILD = """
import sys, time
sys.path.insert(0, {root!r})
import pandas as pd
from tandem.rating.price import Rater
from tandem.rating.cdr import CdrReader
from tandem.rating.stream import rate_file
rates = pd.read_parquet({rates!r})
rater = Rater.from_rates(rates)
t = time.perf_counter()
s = rate_file({src!r}, {out!r}, rater, reader=CdrReader(batch_size=262144))
dt = time.perf_counter() - t
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(s.rows_in, dt, hwm)
"""


_CLI_CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from tandem.cli.main import cli
t = time.perf_counter()
try:
    cli.main(args={args!r}, standalone_mode=False)
finally:
    dt = time.perf_counter() - t
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print("BENCH", dt, hwm, file=sys.stderr)
"""


#: The deck columns of a :func:`make_rates` frame that a store keeps.
DECK_COLUMNS = ["prefix", "destination", "rate", "connect_fee", "initial_increment",
                "next_increment", "min_duration", "effective_from"]  # fmt: skip


def write_decks(db: Path, rates: pd.DataFrame) -> None:
    """Write each account's rows of ``rates`` (:func:`make_rates`) to the SQLite store
    ``db`` as one deck version."""
    from tandem.store import Store

    with Store(str(db)) as store:
        for (account, kind), deck in rates.groupby(["account", "kind"]):
            store.write_deck(
                account,
                kind,
                deck[DECK_COLUMNS].reset_index(drop=True),
                currency="USD",
                effective_from=int(deck["effective_from"].min()),
            )


def bench_cli(rates: pd.DataFrame, src: Path, tmp: Path) -> tuple[int, float, float]:
    """``tandem rate FILE -o OUT --json`` end to end in a fresh process: the decks loaded
    from a SQLite store and compiled, then the file streamed."""
    db = tmp / "bench.db"
    write_decks(db, rates)
    args = ["--db", str(db), "rate", str(src), "-o", str(tmp / "cli.parquet"), "--json"]
    code = _CLI_CHILD.format(root=str(Path(__file__).resolve().parent.parent), args=args)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    if res.returncode != 0:
        raise SystemExit(res.stderr)
    rows_in = json.loads(res.stdout.strip().splitlines()[-1])["rows_in"]
    _, dt, rss_kb = res.stderr.strip().splitlines()[-1].split()
    return rows_in, float(dt), int(rss_kb) / 1024


def bench_memory(
    rates: pd.DataFrame, prefixes, base: int, rng, tmp: Path, cli: bool = True
) -> list[tuple]:
    rates_path = tmp / "rates.parquet"
    rates.to_parquet(rates_path)
    rows = []
    for factor in (1, 10):
        src = tmp / f"cdrs_{factor}.parquet"
        with pq.ParquetWriter(src, make_cdrs(prefixes, 10, rng).schema) as w:
            for _ in range(factor):
                w.write_table(make_cdrs(prefixes, base, rng), row_group_size=262144)
        code = _CHILD.format(
            root=str(Path(__file__).resolve().parent.parent),
            rates=str(rates_path),
            src=str(src),
            out=str(tmp / f"rated_{factor}.parquet"),
        )
        res = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=900
        )
        if res.returncode != 0:
            raise SystemExit(res.stderr)
        n, dt, rss_kb = res.stdout.split()
        rows.append((f"{int(n):,} CDRs", int(n), float(dt), int(rss_kb) / 1024))
        if cli and factor == 10:
            n, dt, rss = bench_cli(rates, src, tmp)
            rows.append((f"{n:,} CDRs, tandem rate end to end", n, dt, rss))
        src.unlink()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cdrs", type=int, default=5_000_000)
    ap.add_argument("--prefixes", type=int, default=150_000)
    ap.add_argument("--runs", type=int, default=3, help="runs of the DuckDB baseline")
    ap.add_argument("--tandem-runs", type=int, default=7, help="runs of Tandem (cheap)")
    ap.add_argument("--apply-sample", type=int, default=20_000)
    ap.add_argument("--memory-base", type=int, default=500_000)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-cli", action="store_true", help="no end-to-end `tandem rate` run")
    args = ap.parse_args()

    rng = np.random.default_rng(2026)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    t = time.perf_counter()
    prefixes = make_prefixes(args.prefixes, rng)
    rates = make_rates(prefixes, rng)
    cdrs = make_cdrs(prefixes, args.cdrs, rng)
    print(f"generated {len(prefixes)} prefixes x 2 decks, {args.cdrs} CDRs in "
          f"{time.perf_counter() - t:.1f} s")  # fmt: skip

    t = time.perf_counter()
    rater = Rater.from_rates(rates)
    compile_s = time.perf_counter() - t
    canon = canonical_table(cdrs)
    tandem_s, priced = bench_tandem(rater, canon, args.tandem_runs)
    rated = priced.column("sell_reason").null_count  # a null reason means rated
    duck_s, duck = bench_duckdb(rates, cdrs, args.runs)

    # the baselines did the same job: compare sell amounts on every CDR
    ours = priced.select(["sell_amount"]).to_pandas()["sell_amount"]
    ours_scaled = np.array([int(v.scaleb(9)) if v is not None else -1 for v in ours])
    theirs = np.full(len(ours_scaled), -1, dtype=np.int64)
    theirs[duck["id"].to_numpy()] = duck["amount"].to_numpy()
    mismatches = int((ours_scaled != theirs).sum())

    apply_s = bench_apply(rates, cdrs, args.apply_sample)
    apply_rate = args.apply_sample / apply_s

    n = args.cdrs
    print()
    print(f"medians of {args.tandem_runs} Tandem runs and {args.runs} DuckDB runs")
    print(f"{'method':<44}{'median s':>10}{'CDRs/s':>14}{'vs DuckDB':>11}")
    print(f"{'Tandem Rater.price (both sides, 2 cores)':<44}{tandem_s:>10.3f}"
          f"{n / tandem_s:>14,.0f}{duck_s / tandem_s:>10.2f}x")  # fmt: skip
    print(f"{'DuckDB SQL join (both sides, 2 threads)':<44}{duck_s:>10.3f}"
          f"{n / duck_s:>14,.0f}{1:>10.2f}x")  # fmt: skip
    label = f"pandas apply ({args.apply_sample} CDRs, extrapolated)"
    ratio = apply_rate / (n / duck_s)
    print(f"{label:<44}{n / apply_rate:>10.1f}{apply_rate:>14,.0f}{ratio:>10.3f}x")
    print(f"compile (2 decks x {len(prefixes)} prefixes): {compile_s:.2f} s; rated {rated} of {n};"
          f" sell amounts differing from DuckDB: {mismatches}")  # fmt: skip
    print(f"DuckDB query: {DUCK_FORMULATION}")
    if not args.skip_memory:
        with tempfile.TemporaryDirectory() as tmp:
            rows = bench_memory(
                rates, prefixes, args.memory_base, rng, Path(tmp), cli=not args.skip_cli
            )
        print()
        print(f"{'streamed file (Parquet in, Parquet out)':<44}{'seconds':>10}{'CDRs/s':>14}"
              f"{'peak RSS MB':>12}")  # fmt: skip
        for label, rows_in, dt, rss in rows:
            print(f"{label:<44}{dt:>10.2f}{rows_in / dt:>14,.0f}{rss:>12.0f}")
    print(f"\nself peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
          f"load average at end {os.getloadavg()[0]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
