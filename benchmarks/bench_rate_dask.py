"""Benchmark: ``tandem rate --dask local:N`` against the single-process streaming path.

    python benchmarks/bench_rate_dask.py [--cdrs 20000000] [--rounds 3] [--workers 1 2]
                                         [--prefixes 150000] [--tmp /tmp/dask15/bench]

The month-end job on one machine, the same CDR file (``--cdrs`` CDRs in one Parquet file,
row groups of 1,000,000, generated here under ``--tmp`` and not committed), the same
store (150,000-prefix customer and carrier decks, rating book cached), each run a fresh
process, wall time of the whole command:

* ``tandem rate CDRS.parquet -o rated.parquet``: the single-machine streaming path (one
  process; it prices on 2 threads and encodes Parquet on 2).
* ``tandem rate CDRS.parquet --dask local:N -o DIR``: a local Dask cluster of N worker
  processes (one thread each) started by the command, the file cut at row groups into
  tasks of 1,048,576 CDRs, the parts written by the workers, totals summed on the cluster.
  The cluster's start (a few seconds) is in the time, as a user pays it.

Rounds interleave the methods so that all see the same load; the table gives medians:
CDRs/s, the ratio to the single process, the scaling efficiency (CDRs/s of local:N over N
times those of local:1), the CPU seconds (user + system of the command and its worker
processes: the work done, whatever the load) and the peak resident memory (``VmHWM``) of
each process: the single process, and per Dask worker the largest of them. "per added
worker" is CDRs/s of local:N minus local:N-1, as measured. Every run's answer is
checked: the same rows in, rated and unrated, the same exact sell, buy and margin totals
as the single process, and the part files' footers hold exactly the rows the summary
counts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_rate_e2e import make_cdr_file, make_store  # noqa: E402
from bench_rating import make_prefixes  # noqa: E402


def _children(pid: int) -> list[int]:
    """Child processes of ``pid``, started by any of its threads."""
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(x) for x in fh.read().split()]
    except OSError:
        pass
    return out


def _hwm_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakWatcher:
    """Polls the peak resident memory (``VmHWM``, a high-water mark: exact, whenever
    read) of a process and of every descendant, until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            todo = [self.pid]
            while todo:
                p = todo.pop()
                kb = _hwm_kb(p)
                if kb is not None:
                    self.peaks[p] = max(self.peaks.get(p, 0), kb)
                todo += _children(p)
            time.sleep(0.05)

    def stop(self) -> tuple[int, list[int]]:
        """Peak MB of the process itself and of its descendants (largest first)."""
        self._stop.set()
        self._thread.join()
        own = self.peaks.pop(self.pid, 0)
        return own // 1024, sorted((kb // 1024 for kb in self.peaks.values()), reverse=True)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(argv: list[str]) -> tuple[float, float, dict, int, list[int]]:
    """Wall seconds, CPU seconds (user + system, of the command and of the worker
    processes it started and waited for), JSON summary and peak memory (own,
    descendants) of one command."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cpu = _cpu()
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tandem", *argv, "--json", "-q"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    watch = PeakWatcher(proc.pid)
    out, err = proc.communicate(timeout=1800)
    dt = time.perf_counter() - t
    cpu = _cpu() - cpu
    own, children = watch.stop()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{err}")
    return dt, cpu, json.loads(out.strip().splitlines()[-1]), own, children


_SAME = ("rows_in", "rated", "unrated", "buy_rated", "buy_unrated", "sell_total", "buy_total",
         "margin", "currency", "by_currency")  # fmt: skip


def check(doc: dict, want: dict, out: Path | None, n: int) -> None:
    """The answer is the single process's: counts and exact totals; the parts hold it."""
    assert doc["rows_in"] == n, doc["rows_in"]
    for key in _SAME:
        assert doc[key] == want[key], (key, doc[key], want[key])
    if out is not None:
        for kind, rows in (("rated", doc["rated"]), ("unrated", sum(doc["unrated"].values()))):
            held = sum(pq.ParquetFile(p).metadata.num_rows for p in (out / kind).glob("*.parquet"))
            assert held == rows, (kind, held, rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cdrs", type=int, default=20_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--prefixes", type=int, default=150_000)
    ap.add_argument("--tmp", type=Path, default=Path("/tmp/dask15/bench"))
    args = ap.parse_args()

    tmp = args.tmp
    tmp.mkdir(parents=True, exist_ok=True)
    db, cdrs = tmp / "store.db", tmp / f"cdrs-{args.cdrs}.parquet"
    rng = np.random.default_rng(2026)
    prefixes = make_prefixes(args.prefixes, rng)
    if not db.exists():
        t = time.perf_counter()
        make_store(db, prefixes, rng)
        print(f"store written in {time.perf_counter() - t:.1f} s", flush=True)
    if not cdrs.exists():
        t = time.perf_counter()
        make_cdr_file(cdrs, prefixes, args.cdrs, rng)
        print(f"{args.cdrs:,} CDRs written in {time.perf_counter() - t:.1f} s", flush=True)
    base = ["--db", str(db), "rate", str(cdrs)]
    single = tmp / "single.parquet"
    run([*base, "-o", str(single)])  # warm: the rating book cached, the file in page cache

    methods = ["single process"] + [f"local:{w}" for w in args.workers]
    times: dict[str, list[float]] = {m: [] for m in methods}
    cpus: dict[str, list[float]] = {m: [] for m in methods}
    own_peak: dict[str, list[int]] = {m: [] for m in methods}
    worker_peak: dict[str, list[int]] = {m: [] for m in methods}
    want: dict | None = None
    for r in range(args.rounds):
        for m in methods:
            if m == "single process":
                dt, cpu, doc, own, kids = run([*base, "-o", str(single)])
                want = want or doc
                check(doc, want, None, args.cdrs)
            else:
                out = tmp / f"out-{m.replace(':', '')}"
                dt, cpu, doc, own, kids = run([*base, "--dask", m, "-o", str(out)])
                assert want is not None
                check(doc, want, out, args.cdrs)
                workers = int(m.split(":")[1])
                assert doc["dask"]["workers"] == workers
                worker_peak[m].append(max(kids[:workers]))
                shutil.rmtree(out)
            times[m].append(dt)
            cpus[m].append(cpu)
            own_peak[m].append(own)
            print(f"round {r + 1}: {m:15s} {dt:7.2f} s  CPU {cpu:7.2f} s  peak {own} MB  "
                  f"children {kids[:4]} MB", flush=True)  # fmt: skip

    med = {m: statistics.median(times[m]) for m in methods}
    rate = {m: args.cdrs / med[m] for m in methods}
    one = rate.get("local:1")
    print(f"\nmedians of {args.rounds} rounds, {args.cdrs:,} CDRs, {os.cpu_count()} cores")
    print(
        f"{'method':>16}  {'wall s':>7}  {'CDRs/s':>10}  {'vs single':>9}  "
        f"{'efficiency':>10}  {'per added worker':>16}  {'CPU s':>7}  {'client MB':>9}  "
        f"{'worker MB':>9}"
    )
    prev = None
    for m in methods:
        eff = add = "-"
        wmb = "-"
        if m != "single process":
            n = int(m.split(":")[1])
            if one is not None:
                eff = f"{rate[m] / (n * one):.2f}"
            if prev is not None:
                add = f"{rate[m] - rate[prev]:+,.0f}"
            prev = m
            wmb = f"{statistics.median(worker_peak[m]):,.0f}"
        ratio = rate[m] / rate["single process"]
        own = statistics.median(own_peak[m])
        cpu_s = statistics.median(cpus[m])
        print(f"{m:>16}  {med[m]:7.2f}  {rate[m]:10,.0f}  {ratio:8.2f}x  {eff:>10}  "
              f"{add:>16}  {cpu_s:7.1f}  {own:9,.0f}  {wmb:>9}")  # fmt: skip
    assert want is not None
    print(f"answer: {want['rows_in']:,} CDRs, rated {want['rated']:,}, sell {want['sell_total']}, "
          f"buy {want['buy_total']}, margin {want['margin']} (equal in every run)")  # fmt: skip


if __name__ == "__main__":
    main()
