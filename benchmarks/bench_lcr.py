"""LCR benchmark: compile, snapshot load, per-call decisions, memory; baselines side by side.

    python benchmarks/bench_lcr.py                # 40 carriers x 150,000 prefixes (pool 250,000)
    python benchmarks/bench_lcr.py --small        # a quick smoke run (4 x 15,000)

Generates a synthetic store (SQLite, in a temporary directory): N carriers, each pricing a
random subset of a shared pool of prefixes, and one customer selling the whole pool. Then:

* compile from the store (``compile_table(store, at)``), median of runs;
* snapshot save, and load in a fresh process (median of runs), with the resident memory
  of the loaded table after routing calls;
* a full decision: translation of ``+E.164`` + number lookup (a cache that answers
  "not ported") + least-cost policy + margin check, top 5 routes; median per call and
  decisions per second on one core;
* baselines in the same run: a bare Python dict longest-prefix probe (the floor) and a
  SQL ``LIKE`` longest-prefix query on SQLite (what many billing systems do).

Before/after in one run (A/B): ``--baseline-src DIR`` times the decision loop of this tree
and of another source tree (a ``git worktree`` of the base commit) side by side instead of
the measures above. Each tree runs in its own process (``lcr_ab_worker.py``) on the same
snapshot and numbers; the two take turns (ABBA order), one pass over the numbers at a
time, so drift and other load on the machine fall on both alike. Reported: medians of
decisions per CPU second and per wall second, their ratio after/before, and the median
of the per-round ratios; a check that both trees make the same decisions::

    git worktree add --detach /tmp/tandem-base d812863
    python benchmarks/bench_lcr.py --small --baseline-src /tmp/tandem-base --ab-rounds 9
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

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tandem.enum.types import LookupKind, NumberInfo  # noqa: E402
from tandem.lcr.router import Router  # noqa: E402
from tandem.lcr.table import RoutingTable, compile_table  # noqa: E402
from tandem.store import Store  # noqa: E402

MILLI = 10**6  # 0.001 currency units, scaled


def make_pool(rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` distinct digit prefixes, 2-7 digits, first digit 1-9 (E.164-like)."""
    out: set[str] = set()
    lengths = np.array([2, 3, 4, 5, 6, 7])
    weights = np.array([0.01, 0.04, 0.15, 0.3, 0.3, 0.2])
    while len(out) < size:
        need = size - len(out)
        ls = rng.choice(lengths, size=need * 2, p=weights)
        lo = 10 ** (ls - 1)
        vals = lo + (rng.random(need * 2) * (9 * lo)).astype(np.int64)
        out.update(map(str, vals.tolist()))
    return np.array(sorted(out)[:size], dtype=object)


class CacheLookup:
    """A number-lookup cache hit: the shape of a real ENUM/LNP cache on the hot path."""

    def __init__(self) -> None:
        self.cache: dict[str, NumberInfo] = {}
        self.miss = NumberInfo("", LookupKind.NOT_FOUND, source="cache")

    def lookup(self, number: str) -> NumberInfo:
        return self.cache.get(number, self.miss)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_load(path: str, numbers_file: str, verify: bool) -> None:
    """Run in a fresh process: time the load, route calls, report RSS growth."""
    base = rss_mb()
    t0 = time.perf_counter()
    table = RoutingTable.load(path, verify=verify)
    load_s = time.perf_counter() - t0
    after_load = rss_mb()
    numbers = Path(numbers_file).read_text().split()
    router = Router(table)
    for n in numbers:
        router.route(n, customer="acme", at=1)
    print(
        json.dumps({"load_s": load_s, "rss_load": after_load - base, "rss_routed": rss_mb() - base})
    )


def ab_compare(baseline: Path, snap: Path, numbers_file: Path, args: argparse.Namespace) -> None:
    """Time the decision loop of ``baseline`` (before) and of this tree (after) side by
    side: one worker process per tree, taking turns in ABBA order (see the docstring)."""
    worker = Path(__file__).resolve().with_name("lcr_ab_worker.py")
    trees = {"before": baseline.resolve(), "after": Path(__file__).resolve().parents[1]}
    n = len(numbers_file.read_text().split())
    print(
        f"\nA/B, same run: before = {trees['before']}, after = {trees['after']}; "
        f"{n:,} calls per pass, {args.ab_rounds} passes per tree, interleaved ABBA"
    )
    print(f"\n  {'path':<8} {'tree':<13} {'decisions/CPU s':>16} {'decisions/wall s':>17}")
    for path in args.ab_paths.split(","):
        procs: dict[str, subprocess.Popen] = {}
        digests = {}
        for name, src in trees.items():
            proc = subprocess.Popen(
                [sys.executable, str(worker), str(src), str(snap), str(numbers_file), path],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONHASHSEED": "0"},  # same dict layouts in both
            )
            procs[name] = proc
            digests[name] = json.loads(proc.stdout.readline())["digest"]
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for r in range(args.ab_rounds):
            for name in ("before", "after") if r % 2 == 0 else ("after", "before"):
                procs[name].stdin.write("run\n")
                procs[name].stdin.flush()
                runs[name].append(json.loads(procs[name].stdout.readline()))
        for proc in procs.values():
            proc.stdin.close()
            proc.wait()
        rate = {
            (name, clock): statistics.median(n / run[clock] for run in runs[name])
            for name in trees
            for clock in ("cpu", "wall")
        }
        for name in trees:
            print(
                f"  {path:<8} {name:<13} {rate[name, 'cpu']:>16,.0f} {rate[name, 'wall']:>17,.0f}"
            )
        paired = [b["cpu"] / a["cpu"] for a, b in zip(runs["after"], runs["before"], strict=True)]
        cpu_ratio = rate["after", "cpu"] / rate["before", "cpu"]
        wall_ratio = rate["after", "wall"] / rate["before", "wall"]
        print(
            f"  {path:<8} {'after/before':<13} {cpu_ratio:>16.3f} {wall_ratio:>17.3f}"
            f"   per-round CPU ratios: median {statistics.median(paired):.3f}, "
            f"{min(paired):.3f}-{max(paired):.3f}; same decisions: "
            + ("yes" if digests["before"] == digests["after"] else "NO")
        )
    load = os.getloadavg()[0]
    print(f"\n  load average at the end: {load:.2f} on {os.cpu_count()} cores")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--carriers", type=int, default=40)
    ap.add_argument("--prefixes", type=int, default=150_000)
    ap.add_argument("--pool", type=int, default=250_000)
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--small", action="store_true", help="4 carriers x 15,000 of 25,000")
    ap.add_argument(
        "--workdir",
        help="keep the generated store here and reuse it on the next run (same sizes/seed)",
    )
    ap.add_argument(
        "--baseline-src",
        metavar="DIR",
        help="A/B: time the decision loop of this tree and of the source tree DIR, interleaved",
    )
    ap.add_argument("--ab-rounds", type=int, default=9, help="A/B: timed passes per tree")
    ap.add_argument(
        "--ab-paths",
        default="express,general",
        help="A/B: router paths to time: express (default plan), general (a plan with a "
        "blocked prefix, so no call takes the express path)",
    )
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_load(args.child[0], args.child[1], args.child[2] == "1")
        return
    if args.small:
        args.carriers, args.prefixes, args.pool, args.calls = 4, 15_000, 25_000, 20_000
    rng = np.random.default_rng(20260101)
    tmp = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="tandem-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    reuse = (tmp / "bench.db").exists() and (tmp / "sizes.json").exists()
    sizes = {"carriers": args.carriers, "prefixes": args.prefixes, "pool": args.pool}
    if reuse and json.loads((tmp / "sizes.json").read_text()) != sizes:
        sys.exit(f"{tmp} holds a store of other sizes; use another --workdir")
    print(
        f"LCR benchmark: {args.carriers} carriers x {args.prefixes:,} prefixes from a pool of "
        f"{args.pool:,}; 1 customer selling the pool; {args.calls:,} calls; median of "
        f"{args.runs} runs; python {sys.version.split()[0]}, numpy {np.__version__}"
    )

    # -- store -------------------------------------------------------------------------
    pool = make_pool(rng, args.pool)
    store = Store(tmp / "bench.db")
    t0 = time.perf_counter()
    for i in range(0 if reuse else args.carriers):
        pick = rng.choice(len(pool), size=args.prefixes, replace=False)
        deck = pd.DataFrame(
            {"prefix": pool[pick], "rate": rng.integers(1, 200, size=args.prefixes) * MILLI}
        )
        store.write_deck(f"carrier{i:02d}", "carrier", deck, currency="USD", effective_from=0)
    sell = pd.DataFrame({"prefix": pool, "rate": rng.integers(50, 250, size=len(pool)) * MILLI})
    rows = args.carriers * args.prefixes + len(pool)
    if reuse:
        print(f"\nstore reused from {tmp}: {rows:,} rate rows")
    else:
        store.write_deck("acme", "customer", sell, currency="USD", effective_from=0)
        (tmp / "sizes.json").write_text(json.dumps(sizes))
        write_s = time.perf_counter() - t0
        print(f"\nstore written: {rows:,} rate rows in {write_s:.1f} s (setup, not a target)")

    # -- compile -----------------------------------------------------------------------
    times, cpu = [], []
    for _ in range(1 if args.baseline_src else args.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        table = compile_table(store, 1)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    compile_s, compile_cpu = statistics.median(times), statistics.median(cpu)
    snap = tmp / "routes.tdm"
    t0 = time.perf_counter()
    table.save(snap)
    save_s = time.perf_counter() - t0
    size_mb = snap.stat().st_size / 2**20
    print(f"table: {table}; {table.route_count:,} (prefix, carrier) entries; file {size_mb:.0f} MB")

    # -- calls -------------------------------------------------------------------------
    base = pool[rng.integers(0, len(pool), size=args.calls)]
    tails = rng.integers(10**8, 10**9, size=args.calls)
    numbers = ["+" + (p + str(t))[:12] for p, t in zip(base.tolist(), tails.tolist(), strict=True)]
    numbers_file = tmp / "numbers.txt"
    numbers_file.write_text("\n".join(numbers))
    if args.baseline_src:
        ab_compare(Path(args.baseline_src), snap, numbers_file, args)
        store.close()
        return

    loads = []
    for verify in ("0", "1"):
        res = []
        for _ in range(args.runs):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(snap), str(numbers_file), verify],
                capture_output=True,
                text=True,
                check=True,
            )
            res.append(json.loads(out.stdout))
        loads.append(
            {k: statistics.median(r[k] for r in res) for k in ("load_s", "rss_load", "rss_routed")}
        )

    loaded = RoutingTable.load(snap)
    router = Router(loaded, lookup=CacheLookup())
    route = router.route
    for n in numbers[:2000]:  # warm up
        route(n, customer="acme", at=1)

    def per_call(fn) -> tuple[float, float, float]:
        """(median ns per call from individual timings, calls per wall second and per CPU
        second of a tight loop; CPU time leaves out time the process was not scheduled)."""
        medians, rates, cpu_rates = [], [], []
        clock = time.perf_counter_ns
        for _ in range(args.runs):
            samples = []
            for n in numbers:
                t = clock()
                fn(n)
                samples.append(clock() - t)
            medians.append(statistics.median(samples))
            t0, c0 = time.perf_counter(), time.thread_time()
            for n in numbers:
                fn(n)
            rates.append(len(numbers) / (time.perf_counter() - t0))
            cpu_rates.append(len(numbers) / (time.thread_time() - c0))
        return statistics.median(medians), statistics.median(rates), statistics.median(cpu_rates)

    overhead = statistics.median(
        [(lambda c: c() - c())(time.perf_counter_ns) * -1 for _ in range(10000)]
    )
    dec_ns, dec_rate, dec_cpu = per_call(lambda n: route(n, customer="acme", at=1))
    full_ns, full_rate, _full_cpu = per_call(lambda n: route(n, customer="acme", at=1).routes)
    routed = [route(n, customer="acme", at=1) for n in numbers[:5000]]
    with_routes = sum(1 for d in routed if d.routes) / len(routed)
    avg_routes = statistics.mean(len(d.routes) for d in routed)

    # Baseline 1: bare dict longest-prefix probe over the same union of prefixes.
    prefixes = {loaded.prefix_of(i): i for i in range(loaded.prefix_count)}
    get = prefixes.get

    def dict_probe(n: str) -> int:
        d = n[1:]
        for k in range(len(d), 0, -1):
            v = get(d[:k])
            if v is not None:
                return v
        return -1

    dict_ns, dict_rate, dict_cpu = per_call(dict_probe)

    # The prefix index alone: the marisa-trie probe the router uses, and the best dict
    # alternative (probing only lengths up to the longest stored prefix).
    longest = max(map(len, prefixes))
    iter_prefixes = loaded.trie.iter_prefixes_with_ids

    def trie_probe(n: str) -> int:
        uid = -1
        for _key, uid in iter_prefixes(n[1:]):  # noqa: B007
            pass
        return uid

    def bounded_dict_probe(n: str) -> int:
        d = n[1:]
        for k in range(min(len(d), longest), 0, -1):
            v = get(d[:k])
            if v is not None:
                return v
        return -1

    trie_ns, _r, trie_cpu = per_call(trie_probe)
    bdict_ns, _r, bdict_cpu = per_call(bounded_dict_probe)

    # Baseline 2: SQL LIKE longest prefix per carrier on SQLite.
    import sqlite3

    conn = sqlite3.connect(tmp / "bench.db")
    like_sql = (
        "SELECT account_id, MAX(length(prefix)) FROM rates WHERE ? LIKE prefix || '%' "
        "AND effective_from <= 1 AND (effective_until IS NULL OR effective_until > 1) "
        "GROUP BY account_id"
    )
    like_times = []
    for n in numbers[:3]:
        t0 = time.perf_counter()
        conn.execute(like_sql, (n[1:],)).fetchall()
        like_times.append(time.perf_counter() - t0)
    like_s = statistics.median(like_times)

    def row(name: str, value: str, target: str = "", verdict: str = "") -> None:
        print(f"  {name:<58} {value:>14}  {target:>10}  {verdict}")

    def ok(good: bool) -> str:
        return "ok" if good else "MISSED"

    print(f"\n  {'measure':<58} {'value':>14}  {'target':>10}")
    row("compile from the store (SQLite), wall", f"{compile_s:.2f} s", "< 10 s", ok(compile_s < 10))
    row("compile from the store (SQLite), CPU time", f"{compile_cpu:.2f} s", "< 10 s",
        ok(compile_cpu < 10))  # fmt: skip
    row("snapshot save", f"{save_s:.2f} s")
    row("snapshot load, fresh process (checksum verified)", f"{loads[1]['load_s']:.3f} s",
        "< 0.5 s", ok(loads[1]["load_s"] < 0.5))  # fmt: skip
    row("snapshot load, fresh process (verify=False)", f"{loads[0]['load_s']:.3f} s",
        "< 0.5 s", ok(loads[0]["load_s"] < 0.5))  # fmt: skip
    rss0, rss1 = loads[0]["rss_routed"], loads[1]["rss_routed"]
    row(f"RSS of loaded table after {len(numbers):,} calls (verify=False)",
        f"{rss0:.0f} MB", "<= 500 MB", ok(rss0 <= 500))  # fmt: skip
    row("RSS of loaded table after calls (verified: every page read)",
        f"{rss1:.0f} MB", "<= 500 MB", ok(rss1 <= 500))  # fmt: skip
    row("full decision, median per call", f"{dec_ns / 1000:.2f} us", "<= 5 us",
        ok(dec_ns <= 5000))  # fmt: skip
    row("full decision, decisions per wall second", f"{dec_rate:,.0f}", ">= 200,000",
        ok(dec_rate >= 200_000))  # fmt: skip
    row("full decision, decisions per CPU second (one core)", f"{dec_cpu:,.0f}", ">= 200,000",
        ok(dec_cpu >= 200_000))  # fmt: skip
    row("full decision + Route objects built, median per call", f"{full_ns / 1000:.2f} us")
    row("full decision + Route objects built, decisions/s", f"{full_rate:,.0f}")
    row("baseline: bare dict longest-prefix probe, median", f"{dict_ns / 1000:.2f} us")
    row("baseline: bare dict longest-prefix probe, probes/s (wall)", f"{dict_rate:,.0f}")
    row("baseline: bare dict longest-prefix probe, probes per CPU second", f"{dict_cpu:,.0f}")
    row("index only: marisa-trie probe (used), median", f"{trie_ns / 1000:.2f} us")
    row("index only: marisa-trie probes per CPU second", f"{trie_cpu:,.0f}")
    row("index only: dict probe bounded to the longest prefix, median", f"{bdict_ns / 1000:.2f} us")
    row("index only: bounded dict probes per CPU second", f"{bdict_cpu:,.0f}")
    row("baseline: SQLite LIKE longest prefix per carrier, median", f"{like_s * 1000:.0f} ms")
    row("decision vs dict probe (ratio)", f"{dec_ns / dict_ns:.2f}x")
    row("decision vs SQLite LIKE (speed-up)", f"{like_s * 1e9 / dec_ns:,.0f}x")
    load = os.getloadavg()[0]
    print(f"\n  load average during the run: {load:.2f} on {os.cpu_count()} cores")
    print(
        f"  (timer overhead ~{overhead:.0f} ns per sample is included in the medians; "
        f"{with_routes:.0%} of calls got routes, {avg_routes:.1f} routes on average)"
    )
    store.close()


if __name__ == "__main__":
    main()
