"""Rating before/after in one run: this checkout against a baseline source tree.

    python benchmarks/bench_rating_ab.py --baseline-src DIR [--cdrs 2000000]
                                         [--prefixes 150000] [--rounds 5]

``DIR`` is another checkout of Tandem, e.g. the code before a change:
``git worktree add --detach /tmp/tandem-base d812863``. Both trees do the same two jobs on
the same generated data (``bench_rating.py``'s generators: a 150,000-prefix customer deck
and carrier deck, CDRs over one month):

* **in memory**: ``Rater.from_rates`` then ``Rater.price`` on one Arrow batch, both sides
  (the inner loop), in a worker process per tree that imports that tree's ``tandem``;
* **end to end**: ``python -m tandem --db DB rate CDRS.parquet -o OUT --json`` in a fresh
  process with the tree as working directory (``-m`` puts it first on the path): CLI
  start, store read, compile, read, price, write. Each tree has its own SQLite store,
  written by its own ``Store.write_deck`` (the schemas may differ between the trees).

The trees take turns (A B B A …), so both see the same load on a shared machine; the table
gives medians and the ratio after / before (below 1.00 is faster). Both trees must price
alike: the sell and buy totals of the end-to-end runs are compared and printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_rating import make_cdrs, make_prefixes, make_rates  # noqa: E402

#: The worker: imports ``tandem`` from one tree, compiles the decks once per round and
#: prices the batch; prints one JSON line per ``run`` line read on stdin.
_WORKER = """
import json, sys, time
sys.path.insert(0, {src!r})
import pandas as pd
import pyarrow.parquet as pq
from tandem.rating.cdr import canonical_table
from tandem.rating.price import Rater
rates = pd.read_parquet({rates!r})
canon = canonical_table(pq.read_table({cdrs!r}))
Rater.from_rates(rates).price(canon)  # warm up
print(json.dumps({{"ready": sys.modules["tandem"].__file__}}), flush=True)
for line in sys.stdin:
    if line.strip() != "run":
        break
    t0 = time.perf_counter()
    rater = Rater.from_rates(rates)
    t1 = time.perf_counter()
    rater.price(canon)
    t2 = time.perf_counter()
    print(json.dumps({{"compile": t1 - t0, "price": t2 - t1}}), flush=True)
"""

#: Writes the decks into a tree's own store with that tree's ``Store.write_deck``.
_STORE = """
import sys
sys.path.insert(0, {src!r})
import pandas as pd
from tandem.store import Store
rates = pd.read_parquet({rates!r})
columns = ["prefix", "destination", "rate", "connect_fee", "initial_increment",
           "next_increment", "min_duration", "effective_from"]
store = Store({db!r})
for (account, kind), deck in rates.groupby(["account", "kind"]):
    store.write_deck(account, kind, deck[columns].reset_index(drop=True), currency="USD",
                     effective_from=int(deck["effective_from"].min()))
store.close()
"""


class Worker:
    """One tree's in-memory pricing worker (a subprocess that stays up between runs)."""

    def __init__(self, src: Path, rates: Path, cdrs: Path) -> None:
        code = _WORKER.format(src=str(src), rates=str(rates), cdrs=str(cdrs))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, cwd=src,
        )  # fmt: skip
        self.where = self._read()["ready"]

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"worker failed (exit {self.proc.wait()})")
        return json.loads(line)

    def run(self) -> dict[str, float]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return {k: float(v) for k, v in self._read().items()}

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def end_to_end(src: Path, db: Path, cdrs: Path, out: Path) -> tuple[float, dict[str, object]]:
    """Wall seconds of ``python -m tandem --db DB rate CDRS -o OUT --json`` run in ``src``."""
    argv = [sys.executable, "-m", "tandem", "--db", str(db), "rate", str(cdrs), "-o", str(out),
            "--json"]  # fmt: skip
    t = time.perf_counter()
    res = subprocess.run(argv, cwd=src, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(f"{src}: tandem rate failed:\n{res.stderr}")
    return wall, json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-src", type=Path, required=True, help="the 'before' checkout")
    ap.add_argument("--cdrs", type=int, default=2_000_000)
    ap.add_argument("--prefixes", type=int, default=150_000)
    ap.add_argument("--rounds", type=int, default=5, help="turns per tree (A B B A ...)")
    args = ap.parse_args()
    trees = {"before": args.baseline_src.resolve(), "after": ROOT}
    rng = np.random.default_rng(2026)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="tandem-rating-ab-") as tmp_name:
        tmp = Path(tmp_name)
        prefixes = make_prefixes(args.prefixes, rng)
        rates_path, cdrs_path = tmp / "rates.parquet", tmp / "cdrs.parquet"
        make_rates(prefixes, rng).to_parquet(rates_path)
        pq.write_table(make_cdrs(prefixes, args.cdrs, rng), cdrs_path, row_group_size=262_144)
        dbs = {}
        for name, src in trees.items():
            dbs[name] = tmp / f"{name}.db"
            code = _STORE.format(src=str(src), rates=str(rates_path), db=str(dbs[name]))
            subprocess.run([sys.executable, "-c", code], cwd=src, check=True, timeout=900)
        workers = {name: Worker(src, rates_path, cdrs_path) for name, src in trees.items()}
        for name, w in workers.items():
            print(f"{name}: tandem from {w.where}")
        times: dict[str, dict[str, list[float]]] = {
            name: {"compile": [], "price": [], "end to end": []} for name in trees
        }
        totals: dict[str, set[tuple[object, ...]]] = {name: set() for name in trees}
        for r in range(args.rounds):
            order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
            for name in order:
                for key, value in workers[name].run().items():
                    times[name][key].append(value)
                wall, summary = end_to_end(trees[name], dbs[name], cdrs_path, tmp / "out.parquet")
                times[name]["end to end"].append(wall)
                totals[name].add(
                    (summary.get("rows_in"), summary.get("sell_total"), summary.get("buy_total"))
                )
        for w in workers.values():
            w.close()
    n = args.cdrs
    print(f"\n{n:,} CDRs x 2 sides, {args.prefixes:,}-prefix decks; medians of {args.rounds} "
          "turns per tree, interleaved")  # fmt: skip
    print(f"{'job':<44}{'before s':>10}{'after s':>10}{'after/before':>14}{'after CDRs/s':>14}")
    for key, label in (
        ("compile", "Rater.from_rates (compile both decks)"),
        ("price", "Rater.price (in memory, both sides)"),
        ("end to end", "tandem rate FILE -o OUT --json"),
    ):
        before = statistics.median(times["before"][key])
        after = statistics.median(times["after"][key])
        rate = f"{n / after:>14,.0f}" if key != "compile" else f"{'':>14}"
        print(f"{label:<44}{before:>10.3f}{after:>10.3f}{after / before:>13.3f}x{rate}")
    same = totals["before"] == totals["after"] and len(totals["after"]) == 1
    print(
        f"\nend-to-end totals (rows in, sell, buy): before {sorted(totals['before'])}, "
        f"after {sorted(totals['after'])}: {'same' if same else 'DIFFERENT'}"
    )
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
