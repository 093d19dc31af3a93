"""Benchmark: ``tandem rate CDRS.parquet -o rated.parquet`` end to end against DuckDB.

    python benchmarks/bench_rate_e2e.py [--sizes 2000000 5000000] [--rounds 3]
                                        [--prefixes 150000] [--baseline-src DIR]
                                        [--skip-breakdown]

The job a user runs at month end, file to file, the same in the same run:

* Tandem: ``python -m tandem --db STORE rate CDRS.parquet -o rated.parquet --json -q`` as a
  fresh process started from ``--src`` (default: this checkout; ``-m`` puts the working
  directory first on the path, so that checkout's code runs): CLI start, the decks read
  from a SQLite store and compiled, the Parquet file read, priced (both sides), and the
  rated and unrated files written. Wall time of the whole process. Its Python bytecode is
  cached as an installed package's is (:func:`tandem_env`: this sandbox sets
  ``PYTHONDONTWRITEBYTECODE``, which would have every run compile Tandem from source).
* Tandem from ``--baseline-src DIR`` (e.g. ``git archive`` of the code before a change),
  the same command, interleaved round by round so that both see the same load, on its own
  copy of the store (so that its rating-book cache, perhaps in another format, does not
  replace this tree's, or the other way round).
* DuckDB (2 threads): ``COPY (query) TO 'rated.parquet'`` where the query reads the CDR
  file, prices both sides the way :func:`bench_rating.duck_sql` does (per prefix length a
  LEFT JOIN on the number's first digits as an integer with the effective-date filter,
  the longest hit by ``COALESCE``, integer increments, half-up rounding) and carries every
  input column, plus each side's matched prefix, billed seconds and amount, and the
  margin. Timed in this process, from a fresh connection: the rates read from a Parquet
  copy of the store's rows (given the key columns DuckDB joins on), then the ``COPY``. It
  pays no interpreter start and no SQL store read, which favours DuckDB.

A fourth line, ``tandem, cold``, runs ``--src`` with its rating-book cache removed first
(the first run after a deck import compiles the book); ``tandem`` reuses the cache.

Each round runs them in turn on each size; the table shows the median of the rounds
and the ratio DuckDB / Tandem (above 1: Tandem faster). Then, unless ``--skip-breakdown``,
where Tandem's time goes, each step timed alone in a fresh process from ``--src`` (the
steps overlap in a real run, so the real run is shorter than their sum): interpreter and
imports, opening the store, reading the rates and tariff plans, compiling the rating book
(or loading it from the cache when the code has one), reading and canonicalising the
Parquet batches, pricing them, writing the rated and unrated files.

Bounded: about 40 s of setup, then ~25 s per round on a quiet 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_rating import (  # noqa: E402
    duck_billed_seconds,
    duck_keys,
    duck_longest_match,
    make_cdrs,
    make_prefixes,
    make_rates,
    write_decks,
)


def make_store(db: Path, prefixes: list[str], rng: np.random.Generator) -> Path:
    """A SQLite store with a 150k-prefix customer deck and carrier deck; returns the
    Parquet copy of its rate rows that DuckDB reads."""
    from tandem.store import Store

    write_decks(db, make_rates(prefixes, rng))
    with Store(str(db)) as store:
        stored = store.rates()
    out = db.with_suffix(".rates.parquet")
    stored[["kind", "prefix", "rate", "initial_increment", "next_increment",
            "effective_from", "effective_until"]].to_parquet(out)  # fmt: skip
    return out


def make_cdr_file(path: Path, prefixes: list[str], n: int, rng: np.random.Generator) -> None:
    """``n`` CDRs (start, duration, number, customer, carrier) written in row groups of
    1 Mi rows, as pyarrow writes by default."""
    with pq.ParquetWriter(path, make_cdrs(prefixes, 10, rng).schema) as w:
        left = n
        while left:
            k = min(left, 1_000_000)
            w.write_table(make_cdrs(prefixes, k, rng))
            left -= k


def duck_copy_sql(lens: list[int], src: Path, out: Path) -> str:
    """``COPY (priced CDRs, every input column carried) TO out``: see the module doc."""
    keys = duck_keys(lens)
    helper = ", ".join(["nlen", "v"] + [f"k{n}" for n in lens])
    joins, picks = duck_longest_match(lens, ("prefix", "rate", "ii", "ni"))

    def secs(p: str) -> str:
        return duck_billed_seconds(p, "duration")

    def amount(p: str) -> str:
        return f"(({p}rate * {p}ssecs + 3000000) // 6000000) * 100000"

    return f"""
COPY (
WITH c AS (SELECT *, {keys} FROM (SELECT *, length(number) AS nlen,
             CAST(rpad(number, 18, '0') AS BIGINT) AS v FROM read_parquet('{src}'))),
best AS (SELECT c.* EXCLUDE ({helper}), {", ".join(picks)} FROM c
  {chr(10).join(joins)}),
billed AS (SELECT *, {secs("s")} AS sssecs, {secs("b")} AS bssecs FROM best)
SELECT * EXCLUDE (srate, sii, sni, brate, bii, bni, sssecs, bssecs),
  sssecs AS sell_billed_seconds, {amount("s")} AS sell_amount,
  bssecs AS buy_billed_seconds, {amount("b")} AS buy_amount,
  {amount("s")} - {amount("b")} AS margin
FROM billed
) TO '{out}' (FORMAT parquet)
"""


def _cpu(who: int) -> float:
    used = resource.getrusage(who)
    return used.ru_utime + used.ru_stime


def run_duckdb(rates: Path, src: Path, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of DuckDB's ``COPY``, from a fresh connection (rates table
    included)."""
    cpu = _cpu(resource.RUSAGE_SELF)
    t = time.perf_counter()
    con = duckdb.connect()
    con.execute("PRAGMA threads=2")
    con.execute(
        "CREATE TABLE rates AS SELECT kind, prefix, length(prefix) AS plen,"
        " CAST(prefix AS BIGINT) AS pkey, rate, initial_increment AS ii,"
        f" next_increment AS ni, effective_from AS ef, effective_until AS eu"
        f" FROM read_parquet('{rates}')"
    )
    lens = [r[0] for r in con.execute("SELECT DISTINCT plen FROM rates ORDER BY 1").fetchall()]
    con.execute(duck_copy_sql(lens, src, out))
    con.close()
    return time.perf_counter() - t, _cpu(resource.RUSAGE_SELF) - cpu


def _head_revision(src_dir: Path) -> str:
    """The newest store schema revision the Tandem in ``src_dir`` knows."""
    revs: dict[str, str | None] = {}
    for f in (src_dir / "tandem/store/migrations/versions").glob("*.py"):
        text = f.read_text()
        rev = re.search(r'^revision = "([^"]+)"', text, re.M)
        down = re.search(r'^down_revision = "([^"]+)"', text, re.M)
        if rev:
            revs[rev.group(1)] = down.group(1) if down else None
    heads = set(revs) - set(revs.values())
    if len(heads) != 1:
        raise SystemExit(f"{src_dir}: cannot tell its store schema revision ({heads})")
    return heads.pop()


def store_for(src_dir: Path, db: Path, own_copy: bool = False) -> Path:
    """``db``, or a copy of it stamped with the schema revision ``src_dir`` knows when that
    is older (a baseline from before a migration that only added tables it does not read:
    it would otherwise refuse the store as from a newer Tandem). Same rows, same rates.

    ``own_copy``: always a copy (for the baseline), so that each tree's rating-book cache
    (``STORE.ratebook``) lives beside its own store file: two trees with different cache
    formats taking turns on one store would each find the other's cache stale and
    compile again."""
    head = _head_revision(src_dir)
    with sqlite3.connect(db) as conn:
        current = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    if current == head and not own_copy:
        return db
    copy = db.with_name(f"{db.stem}.rev{head}{'.own' if own_copy else ''}.db")
    shutil.copyfile(db, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (head,))
    return copy


def tandem_env(work: Path) -> dict[str, str]:
    """The environment of a Tandem run: this one without ``PYTHONPATH`` and ``TANDEM_DB``,
    and with Python's bytecode cached (under ``work/pycache``) as an installed package has
    it: where ``PYTHONDONTWRITEBYTECODE`` is set (this sandbox sets it), every run would
    otherwise compile Tandem's modules from source again (some 60 ms)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "TANDEM_DB", "PYTHONDONTWRITEBYTECODE")
    }
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def run_tandem(src_dir: Path, db: Path, cdrs: Path, out: Path) -> tuple[float, float, dict]:
    """Wall and CPU seconds of ``python -m tandem rate`` from ``src_dir``, and its JSON
    summary."""
    argv = [sys.executable, "-m", "tandem", "--db", str(db), "rate", str(cdrs), "-o", str(out)]
    env = tandem_env(out.parent)
    cpu = _cpu(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    res = subprocess.run(
        [*argv, "--json", "-q"], cwd=src_dir, capture_output=True, text=True, env=env, timeout=900
    )
    dt, cpu = time.perf_counter() - t, _cpu(resource.RUSAGE_CHILDREN) - cpu
    if res.returncode != 0:
        raise SystemExit(f"tandem rate from {src_dir} failed:\n{res.stderr}")
    return dt, cpu, json.loads(res.stdout.strip().splitlines()[-1])


_BREAKDOWN = r"""
import json, sys, time
from pathlib import Path
t0 = time.perf_counter()
sys.path.insert(0, {src!r})
import pyarrow as pa, pyarrow.parquet as pq
import tandem.cli.main
from tandem.rating import stream
from tandem.rating.cdr import CdrReader
from tandem.rating.price import Rater, split_rated
from tandem.rating.schedule import PlanSchedule
from tandem.store import Store
steps = {{"imports (tandem CLI, numpy, pyarrow)": time.perf_counter() - t0}}

def step(name, fn):
    t = time.perf_counter()
    out = fn()
    steps[name] = time.perf_counter() - t
    return out

store = step("open the store (schema check)", lambda: Store({db!r}))
rates, plan = step("read rates and tariff plans", lambda: (store.rates(),
                   PlanSchedule.from_store(store)))
rater = step("compile the rating book", lambda: Rater.from_rates(rates, plan))
try:
    from tandem.rating import bookcache
    Path({db!r} + bookcache.CACHE_SUFFIX).unlink(missing_ok=True)
    step("rating book: compile and write the cache", lambda: bookcache.load_rater({db!r},
         lambda: store))
    step("rating book from the cache (store unchanged)", lambda: bookcache.load_rater({db!r},
         lambda: store))
except ImportError:
    pass
batches = step("read Parquet (pyarrow, no canonical form)", lambda: list(
    pq.ParquetFile({cdrs!r}, pre_buffer=False).iter_batches(batch_size=262144)))
del batches
batches = step("read + canonical CDR batches", lambda: list(CdrReader().batches({cdrs!r})))
priced = step("price both sides", lambda: [rater.price(b) for b in batches])
parts = step("split rated / unrated", lambda: [split_rated(p) for p in priced])
del batches, priced
def write():
    a, b = stream._AtomicParquet(Path({out!r})), stream._AtomicParquet(Path({out!r} + ".u"))
    for r, u in parts:
        a.write(r)
        if u.num_rows or a.writer is None:
            b.write(u)
    a.close(parts[0][0].schema)
    b.close(parts[0][0].schema)
from pathlib import Path
step("write rated + unrated Parquet", write)
print(json.dumps(steps))
"""


def breakdown(src_dir: Path, db: Path, cdrs: Path, out: Path) -> dict[str, float]:
    """Each step of a run timed alone in a fresh process (see the module doc)."""
    env = tandem_env(Path(out).parent)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True, env=env)
    start = time.perf_counter() - t
    code = _BREAKDOWN.format(src=str(src_dir), db=str(db), cdrs=str(cdrs), out=str(out))
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900
    )
    if res.returncode != 0:
        raise SystemExit(res.stderr)
    return {"interpreter start (python -c pass)": start, **json.loads(res.stdout.splitlines()[-1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2_000_000, 5_000_000])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prefixes", type=int, default=150_000)
    ap.add_argument("--src", type=Path, default=ROOT, help="Tandem source dir (default: here)")
    ap.add_argument("--baseline-src", type=Path, help="a second Tandem source dir, side by side")
    ap.add_argument("--skip-breakdown", action="store_true")
    ap.add_argument("--tmp", type=Path, help="work directory (default: a temporary one)")
    ap.add_argument(
        "--data", type=Path, help="keep the generated store and CDR files here and reuse them"
    )
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_e2e_", dir=args.tmp))
    data = args.data or tmp
    data.mkdir(parents=True, exist_ok=True)
    try:
        rng = np.random.default_rng(2026)
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
        t = time.perf_counter()
        prefixes = make_prefixes(args.prefixes, rng)
        db = data / f"store_{args.prefixes}.db"
        rates = db.with_suffix(".rates.parquet")
        if not (db.exists() and rates.exists()):
            db.unlink(missing_ok=True)
            rates = make_store(db, prefixes, rng)
        files = {}
        for n in args.sizes:
            files[n] = data / f"cdrs_{n}_{args.prefixes}.parquet"
            if not files[n].exists():
                make_cdr_file(files[n], prefixes, n, rng)
        sizes = ", ".join(f"{n:,}" for n in args.sizes)
        took = time.perf_counter() - t
        print(f"setup: {len(prefixes)} prefixes x 2 decks in a SQLite store, CDR files of "
              f"{sizes} in {took:.1f} s")  # fmt: skip
        sources = {"tandem": args.src.resolve()}
        # the same code with no rating-book cache: the first run after a deck import
        sources["tandem, cold"] = args.src.resolve()
        if args.baseline_src is not None:
            sources["baseline"] = args.baseline_src.resolve()
        dbs = {
            name: store_for(src_dir, db, own_copy=name == "baseline")
            for name, src_dir in sources.items()
        }
        # one untimed warm-up each (page cache, .pyc files, a book cache where there is one)
        run_duckdb(rates, files[args.sizes[0]], tmp / "duck.parquet")
        for name, src_dir in sources.items():
            warm_out = tmp / f"{name.replace(', ', '_')}.parquet"
            run_tandem(src_dir, dbs[name], files[args.sizes[0]], warm_out)
        times: dict[tuple[str, int], list[float]] = {}
        cpus: dict[tuple[str, int], list[float]] = {}
        summaries: dict[tuple[str, int], dict] = {}
        for r in range(args.rounds):
            for n in args.sizes:
                out = tmp / "duck.parquet"
                dt, cpu = run_duckdb(rates, files[n], out)
                times.setdefault(("duckdb", n), []).append(dt)
                cpus.setdefault(("duckdb", n), []).append(cpu)
                duck_rows = pq.ParquetFile(out).metadata.num_rows
                for name, src_dir in sources.items():
                    if name.endswith("cold"):  # the cache beside the store this tree uses
                        Path(os.fspath(dbs[name]) + ".ratebook").unlink(missing_ok=True)
                    out = tmp / f"{name.replace(', ', '_')}.parquet"
                    dt, cpu, summary = run_tandem(src_dir, dbs[name], files[n], out)
                    times.setdefault((name, n), []).append(dt)
                    cpus.setdefault((name, n), []).append(cpu)
                    summaries[(name, n)] = summary
                    if summary["rows_in"] != n or duck_rows != n:
                        raise SystemExit(f"rows: tandem {summary['rows_in']}, duckdb {duck_rows}")
            print(f"round {r + 1} done, load average {os.getloadavg()[0]:.2f}", flush=True)
        print()
        print(f"medians of {args.rounds} rounds; ratio = DuckDB seconds / Tandem seconds "
              "(wall, and CPU: user + system of every thread)")  # fmt: skip
        print(f"{'CDRs':>11}  {'method':<28}{'wall s':>8}{'CDRs/s':>12}{'vs DuckDB':>11}"
              f"{'CPU s':>8}{'CPU vs DuckDB':>15}")  # fmt: skip
        for n in args.sizes:
            duck = statistics.median(times[("duckdb", n)])
            duck_cpu = statistics.median(cpus[("duckdb", n)])
            for name in ["duckdb", *sources]:
                s = statistics.median(times[(name, n)])
                c = statistics.median(cpus[(name, n)])
                label = "DuckDB COPY (2 threads)" if name == "duckdb" else f"tandem rate ({name})"
                print(f"{n:>11,}  {label:<28}{s:>8.2f}{n / s:>12,.0f}{duck / s:>10.2f}x"
                      f"{c:>8.2f}{duck_cpu / c:>14.2f}x")  # fmt: skip
        for n in args.sizes:
            sums = {name: summaries[(name, n)] for name in sources}
            same = len({(s["rated"], s["sell_total"], s["buy_total"]) for s in sums.values()})
            first = next(iter(sums.values()))
            differ = "" if same == 1 else "  (sources DIFFER)"
            print(f"{n:,}: rated {first['rated']}, sell {first['sell_total']}, buy "
                  f"{first['buy_total']}{differ}")  # fmt: skip
        if not args.skip_breakdown:
            n = args.sizes[-1]
            steps = breakdown(sources["tandem"], db, files[n], str(tmp / "bd.parquet"))
            print()
            print(f"where the time goes, {n:,} CDRs, each step alone (--src)")
            for name, s in steps.items():
                print(f"  {name:<44}{s:>8.2f} s")
            print(f"  {'sum':<44}{sum(steps.values()):>8.2f} s")
        print(f"\nload average at end {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
