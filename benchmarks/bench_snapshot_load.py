"""Benchmark: loading a routing-table snapshot, unsigned and signed, against a baseline tree.

    python benchmarks/bench_snapshot_load.py [--carriers 40] [--prefixes 150000]
                                             [--pool 250000] [--runs 5]
                                             [--baseline-src DIR] [--workdir DIR]

Loading is what a proxy pays at start and at every reload of ``routes.tdm``. Since the
snapshot checks of issue 10 an unsigned file is checked in full on load (every section's
bounds, the prefix trie rebuilt from the file's prefix list and compared with the stored
one, the route and quote arrays derived afresh from the rows), while a file signed with
the operator's key (``tandem compile --sign-key``) is checked for its HMAC and layout and
its trie blob loaded as is. This prints, side by side in one run:

* ``unsigned``: ``RoutingTable.load(path)`` of this tree's snapshot;
* ``signed``: ``RoutingTable.load(path, key=KEY)`` of the same table saved signed;
* ``baseline``: ``RoutingTable.load(path)`` in the ``--baseline-src`` tree, of the same
  store compiled and saved by that tree (its own snapshot format).

Each load runs in a fresh process (``python -c``), the three taking turns round by round,
so that they see the same machine; the table gives the median of ``--runs`` rounds and
the ratio to the baseline. The store is the one ``bench_lcr.py`` builds (N carriers each
pricing a random subset of a shared pool, one customer selling the pool); ``--workdir``
keeps it for the next run.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_lcr import MILLI, make_pool  # noqa: E402
from bench_rate_e2e import store_for  # noqa: E402

from tandem.lcr import compile_table  # noqa: E402
from tandem.store import Store  # noqa: E402

_LOAD = r"""
import sys, time
sys.path.insert(0, {src!r})
from tandem.lcr import RoutingTable
key = open({key!r}, "rb").read().strip() if {key!r} else None
t = time.perf_counter()
table = RoutingTable.load({path!r}, **({{"key": key}} if key else {{}}))
print(time.perf_counter() - t, table.prefix_count)
"""

_COMPILE = r"""
import sys
sys.path.insert(0, {src!r})
from tandem.store import Store
from tandem.lcr import compile_table
compile_table(Store({db!r}), 1).save({out!r})
"""


def _run(code: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TANDEM_DB")}
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    if res.returncode != 0:
        raise SystemExit(f"from {cwd}:\n{res.stderr}")
    return res.stdout.strip()


def make_store(db: Path, carriers: int, prefixes: int, pool_size: int) -> None:
    """The store bench_lcr.py builds (same generator, same seed)."""
    rng = np.random.default_rng(20260101)
    pool = make_pool(rng, pool_size)
    store = Store(db)
    for i in range(carriers):
        pick = rng.choice(len(pool), size=prefixes, replace=False)
        rates = rng.integers(1, 200, size=prefixes) * MILLI
        deck = pd.DataFrame({"prefix": pool[pick], "rate": rates})
        store.write_deck(f"carrier{i:02d}", "carrier", deck, currency="USD", effective_from=0)
    sell = pd.DataFrame({"prefix": pool, "rate": rng.integers(50, 250, size=len(pool)) * MILLI})
    store.write_deck("acme", "customer", sell, currency="USD", effective_from=0)
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--carriers", type=int, default=40)
    ap.add_argument("--prefixes", type=int, default=150_000)
    ap.add_argument("--pool", type=int, default=250_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline-src", type=Path, help="a second Tandem source dir")
    ap.add_argument("--workdir", type=Path, help="keep the store and snapshots here")
    args = ap.parse_args()

    tmp = args.workdir or Path(tempfile.mkdtemp(prefix="bench_snap_"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
        sizes = f"{args.carriers}x{args.prefixes}of{args.pool}"
        db = tmp / f"store_{sizes}.db"
        if not db.exists():
            t = time.perf_counter()
            make_store(db, args.carriers, args.prefixes, args.pool)
            print(f"store written in {time.perf_counter() - t:.1f} s (setup)")
        table = compile_table(Store(db), 1)
        key_file = tmp / "key"
        key_file.write_text(secrets.token_hex(32))
        key = key_file.read_bytes().strip()
        files = {"unsigned": tmp / "new.tdm", "signed": tmp / "signed.tdm"}
        table.save(files["unsigned"])
        table.save(files["signed"], key=key)
        variants: dict[str, tuple[Path, Path, str]] = {
            "unsigned": (ROOT, files["unsigned"], ""),
            "signed": (ROOT, files["signed"], str(key_file)),
        }
        if args.baseline_src is not None:
            base = args.baseline_src.resolve()
            base_db = store_for(base, db)
            files["baseline"] = tmp / "baseline.tdm"
            _run(_COMPILE.format(src=str(base), db=str(base_db), out=str(files["baseline"])), base)
            variants["baseline"] = (base, files["baseline"], "")
        print(f"table: {table}; {table.route_count:,} routes")
        for name, path in files.items():
            print(f"  {name:<9} {path.stat().st_size / 2**20:8.1f} MB")
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.runs):
            for name, (src, path, kfile) in variants.items():
                out = _run(_LOAD.format(src=str(src), path=str(path), key=kfile), src)
                seconds, count = out.split()
                if int(count) != table.prefix_count:
                    raise SystemExit(f"{name}: {count} prefixes, expected {table.prefix_count}")
                times[name].append(float(seconds))
        print(f"\nload in a fresh process, median of {args.runs} rounds (taking turns)")
        ref = statistics.median(times["baseline"]) if "baseline" in times else None
        print(f"  {'snapshot':<10}{'load s':>9}{'vs baseline':>13}")
        for name, values in times.items():
            med = statistics.median(values)
            ratio = f"{med / ref:>12.2f}x" if ref else ""
            print(f"  {name:<10}{med:>9.3f}{ratio}")
        print(json.dumps({k: statistics.median(v) for k, v in times.items()}))
        print(f"\nload average at end {os.getloadavg()[0]:.2f}")
    finally:
        if args.workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
