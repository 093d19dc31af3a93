"""Benchmark: import a 1,000,000-row vendor CSV deck into a fresh SQLite store.

Run: ``python benchmarks/bench_deck_import.py [--rows N] [--runs R] [--reimport R]``

Generates the deck in a temporary directory (Code, Destination, Rate, Effective Date,
Increment; unique prefixes, 4-decimal rates), then times, each in a fresh subprocess
(so peak RSS is the import's own):

* ``tandem import``: :func:`tandem.decks.importer.import_deck` into a fresh SQLite file
  (read + header detection + validation + diff + atomic write), median of R runs;
* ``pandas.read_csv``: the baseline, reading the same file (strings), median of R runs;
* with ``--reimport R``: R imports of the same deck over a stored first version (diff
  against a million stored codes, supersession of every one of them), interleaved with
  the runs above; the ratio to the fresh import's median is printed.

Prints a table with medians, the ratio, and each run's peak RSS.
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

ROOT = Path(__file__).resolve().parents[1]


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """Write a vendor-style CSV deck of ``rows`` unique prefixes."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    # Unique prefixes: distinct 9-digit numbers below 10**9 with a country-code-ish head.
    codes = np.unique(rng.integers(10**8, 10**9, size=int(rows * 1.1)))
    codes = rng.permutation(codes)[:rows]
    while len(codes) < rows:  # pragma: no cover - the 1.1 oversample is plenty
        codes = np.unique(np.concatenate([codes, rng.integers(10**8, 10**9, size=rows)]))[:rows]
    cents = rng.integers(10, 2_000_000, size=rows)  # 0.0010 .. 200.0000 in 1/10000
    rate = [f"{c // 10000}.{c % 10000:04d}" for c in cents.tolist()]
    names = np.array(["Destination A", "Destination B Mobile", "Zone C", "Réseau D"])
    table = pa.table(
        {
            "Code": pa.array(codes.astype(str)),
            "Destination": pa.array(names[rng.integers(0, len(names), size=rows)]),
            "Rate": pa.array(rate),
            "Effective Date": pa.array(["2026-12-01"] * rows),
            "Increment": pa.array(np.array(["60/60", "1/1", "30/6"])[rng.integers(0, 3, rows)]),
        }
    )
    pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(quoting_style="none"))


def _child(kind: str, deck: Path, db: Path) -> None:
    import resource

    sys.path.insert(0, str(ROOT))
    start = time.perf_counter()
    if kind == "pandas":
        import pandas as pd

        frame = pd.read_csv(deck, dtype=str)
        n = len(frame)
        phases: dict[str, float] = {}
    else:
        from tandem.decks.importer import import_deck
        from tandem.store import Store

        marks: dict[str, float] = {}
        store = Store(db)
        opened = time.perf_counter()
        if kind == "reimport":  # a first version to compare with and supersede
            import_deck(store, deck, account="bench", kind="carrier", now=0)
        t0 = time.perf_counter()
        report = import_deck(
            store,
            deck,
            account="bench",
            kind="carrier",
            now=0,
            on_step=lambda s: marks.__setitem__(s, time.perf_counter()),
        )
        end = time.perf_counter()
        n = report.accepted
        phases = {
            "open store": opened - start,
            **({"first version": t0 - opened} if kind == "reimport" else {}),
            "read+validate": marks["comparing"] - marks["reading"],
            "diff": marks["writing"] - marks["comparing"],
            "write": end - marks["writing"],
        }
        start = t0
    seconds = time.perf_counter() - start
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "rows": n, "rss_mb": rss_kb / 1024, "phases": phases}))


def _run(kind: str, deck: Path, tmp: Path, i: int) -> dict:
    db = tmp / f"bench-{kind}-{i}.db"
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(deck), str(db)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if db.exists():
        db.unlink()
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--reimport",
        type=int,
        default=0,
        metavar="R",
        help="also time R re-imports of the deck over a stored first version",
    )
    parser.add_argument("--child", nargs=3, metavar=("KIND", "DECK", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        deck = tmp / "vendor.csv"
        t = time.perf_counter()
        generate(deck, args.rows)
        size_mb = deck.stat().st_size / 1e6
        print(
            f"deck: {args.rows:,} rows, {size_mb:.1f} MB, generated in "
            f"{time.perf_counter() - t:.1f} s; {os.cpu_count()} CPUs; {args.runs} runs each"
        )
        results: dict[str, list[dict]] = {"pandas.read_csv": [], "tandem import": []}
        again: list[dict] = []
        for i in range(max(args.runs, args.reimport)):  # interleaved: load hits all alike
            if i < args.runs:
                results["pandas.read_csv"].append(_run("pandas", deck, tmp, i))
                results["tandem import"].append(_run("tandem", deck, tmp, i))
            if i < args.reimport:
                again.append(_run("reimport", deck, tmp, i))
        base = statistics.median(r["seconds"] for r in results["pandas.read_csv"])
        print(
            f"{'what':<18} {'median s':>9} {'min s':>7} {'max s':>7} {'x baseline':>10} "
            f"{'peak RSS MB':>12}"
        )
        for name, runs in results.items():
            secs = [r["seconds"] for r in runs]
            med = statistics.median(secs)
            print(
                f"{name:<18} {med:>9.2f} {min(secs):>7.2f} {max(secs):>7.2f} "
                f"{med / base:>10.2f} {max(r['rss_mb'] for r in runs):>12.0f}"
            )
        phases = results["tandem import"]
        names = list(phases[0]["phases"])
        print(
            "tandem import phases (median s): "
            + ", ".join(
                f"{k} {statistics.median(r['phases'][k] for r in phases):.2f}" for k in names
            )
        )
        print(f"codes stored: {phases[0]['rows']:,}")
        if again:
            secs = [r["seconds"] for r in again]
            fresh = statistics.median(r["seconds"] for r in phases)
            print(
                f"re-import over an existing {args.rows:,}-code version: median "
                f"{statistics.median(secs):.2f} s (min {min(secs):.2f}, max {max(secs):.2f}) "
                f"over {len(secs)} run(s), {statistics.median(secs) / fresh:.2f}x the fresh "
                f"import, peak RSS {max(r['rss_mb'] for r in again):.0f} MB; phases: "
                + ", ".join(
                    f"{k} {statistics.median(r['phases'][k] for r in again):.2f}"
                    for k in again[0]["phases"]
                )
            )


if __name__ == "__main__":
    main()
