"""Carrier-quality benchmark: what live quality adds to a routing decision, the cost of
feeding one attempt, and ``tandem quality``'s batch table throughput.

    python benchmarks/bench_quality.py [--calls 20000] [--cdrs 1000000] [--runs 3]
                                       [--redis redis://127.0.0.1:6379/0]

Rates are per CPU second of this process (``time.process_time``: steadier than wall time
on a shared machine; Redis's own time is not in it, so the Redis rows are wall time).
A table of 8 carriers over 2,000 prefixes (every carrier quotes every prefix), one
customer; numbers spread over 200 destination groups of 4 digits. Decisions per second
(median of ``--runs``) for:

* ``least-cost`` (the express path: the baseline, no quality);
* ``least-cost + floors, no score source`` (floors inert: must equal the baseline);
* ``least-cost, general path``: a forced route for a prefix no number has moves every
  decision to the general path, which quality plans take (their baseline);
* ``floors + board (memory, refresh 5 s)``: a floor on every destination, scores reused
  for 5 s (the default), MemoryCounters;
* ``quality + board (memory, refresh 5 s)``: ``strategy = "quality"`` on live ASR;
* ``floors + board (memory, refresh 0)``: every decision reads the series (worst case);
* the same two with RedisCounters (``--redis``; one round trip per decision that misses).

Then ``board.attempt`` per second (memory, Redis), and ``quality_table`` over ``--cdrs``
generated CDRs (CDRs per second, classification to figures, after the reader).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tandem.lcr.policy import config_from_mapping  # noqa: E402
from tandem.lcr.router import Router  # noqa: E402
from tandem.lcr.scores import QualityConfig  # noqa: E402
from tandem.lcr.table import OPEN_END, compile_rates  # noqa: E402
from tandem.money import UNIT  # noqa: E402
from tandem.quality import QualityBoard, quality_table  # noqa: E402
from tandem.rating.cdr import CdrReader  # noqa: E402
from tandem.state import MemoryCounters, RedisCounters  # noqa: E402

T0 = 1_800_000_000
CARRIERS = [f"carrier{i}" for i in range(8)]
COLUMNS = [
    "account", "kind", "currency", "prefix", "rate", "connect_fee", "initial_increment",
    "next_increment", "min_duration", "effective_from", "effective_until",
]  # fmt: skip


def make_table(rng: np.random.Generator) -> tuple[object, list[str]]:
    groups = [str(g) for g in rng.choice(np.arange(2000, 9999), 200, replace=False)]
    prefixes = [g + str(d) for g in groups for d in range(10)]
    rows = []
    for p in prefixes:
        for c in CARRIERS:
            rate = int(rng.integers(5, 50)) * UNIT // 1000
            rows.append((c, "carrier", "USD", p, rate, 0, 60, 60, 0, 0, OPEN_END))
        rows.append(("acme", "customer", "USD", p, 60 * UNIT // 1000, 0, 60, 60, 0, 0, OPEN_END))
    table = compile_rates(pd.DataFrame(rows, columns=COLUMNS), 0)
    numbers = [p + f"{int(rng.integers(0, 10**6)):06d}" for p in rng.choice(prefixes, 4000)]
    return table, numbers


def fill(board: QualityBoard, numbers: list[str], rng: np.random.Generator) -> None:
    """30 attempts per carrier and group, ASR from 0.2 to 0.7 by carrier."""
    groups = sorted({board.group_of(n) for n in numbers})
    for ci, c in enumerate(CARRIERS):
        for g in groups:
            for i in range(30):
                ok = rng.random() < 0.2 + 0.07 * ci
                board.attempt(c, g, at=T0 - 600 + i, sip_code=200 if ok else 503,
                              duration=60 if ok else 0)  # fmt: skip


def decisions_per_s(router: Router, numbers: list[str], calls: int, wall: bool = False) -> float:
    n = len(numbers)
    clock = time.perf_counter if wall else time.process_time
    start = clock()
    for i in range(calls):
        router.route(numbers[i % n], customer="acme", at=T0 + i // 1000, call_id=f"c{i}")
    return calls / (clock() - start)


def median(f, runs: int) -> float:
    return statistics.median(f() for _ in range(runs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--cdrs", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    table, numbers = make_table(rng)
    floor = {"min_asr": "0.30", "min_attempts": 20, "cooldown": 300, "probe_share": "0.05"}
    plain = config_from_mapping({})
    floors = config_from_mapping({"defaults": {"floors": [floor]}})
    live = config_from_mapping({"defaults": {"strategy": "quality"}})
    rows: list[tuple[str, float]] = []

    def run(label: str, router: Router) -> None:
        wall = "redis" in label
        rate = median(lambda: decisions_per_s(router, numbers, args.calls, wall), args.runs)
        rows.append((label, rate))
        print(f"  {label:<44} {rows[-1][1]:>12,.0f} decisions/s", flush=True)

    print(f"decisions: {args.calls:,} calls, median of {args.runs} runs")
    run("least-cost (express path, baseline)", Router(table, plain))
    run("least-cost + floors, no score source", Router(table, floors))
    general = config_from_mapping(
        {"defaults": {"forced": [{"prefix": "1", "carriers": ["carrier0"]}]}}
    )
    run("least-cost, general path (forced elsewhere)", Router(table, general))
    backends = [("memory", MemoryCounters())]
    redis = None
    try:
        redis = RedisCounters(args.redis, prefix=f"bench-quality-{uuid.uuid4().hex[:8]}:")
        redis.current("ping")
        backends.append(("redis", redis))
    except Exception as exc:  # noqa: BLE001 - a benchmark without Redis still runs
        print(f"  (Redis not measured: {exc})")
    try:
        for name, counters in backends:
            cached = QualityBoard(counters, QualityConfig(refresh=5))
            fill(cached, numbers, rng)
            fresh = QualityBoard(counters, QualityConfig(refresh=0))
            run(f"floors + board ({name}, refresh 5 s)", Router(table, floors, scores=cached))
            run(f"quality + board ({name}, refresh 5 s)", Router(table, live, scores=cached))
            run(f"floors + board ({name}, refresh 0)", Router(table, floors, scores=fresh))
            n = 5000
            start = time.perf_counter()
            for i in range(n):
                cached.attempt(CARRIERS[i % 8], "4420", at=T0 + i / 100, sip_code=486,
                               pdd_ms=1800, call_id=f"a{i}")  # fmt: skip
            print(f"  board.attempt ({name}, with call id)          "
                  f"{n / (time.perf_counter() - start):>12,.0f} attempts/s")  # fmt: skip
    finally:
        if redis is not None:
            redis.clear()
            redis.close()
    m = args.cdrs
    answers = np.array(["200", "486", "480", "503", "487", "603", "404"])
    cdrs = pa.table(
        {
            "start": T0 + np.sort(rng.integers(0, 86_400, m)),
            "duration": np.where(rng.random(m) < 0.45, rng.integers(1, 600, m), 0),
            "number": rng.choice(np.array(numbers), m),
            "carrier": rng.choice(np.array(CARRIERS), m),
            "sip_code": rng.choice(answers, m),
            "pdd_ms": rng.integers(100, 9000, m),
            "call_id": np.char.add("c", np.arange(m).astype(str)),
        }
    )
    canonical = list(CdrReader().batches(cdrs))

    def batch() -> float:
        start = time.perf_counter()
        quality_table(iter(canonical), config=QualityConfig(half_life=600.0), window=86_400 * 2)
        return m / (time.perf_counter() - start)

    print(f"quality_table over {m:,} CDRs (decay on, 8 carriers x 200 groups): "
          f"{median(batch, args.runs):,.0f} CDRs/s")  # fmt: skip


if __name__ == "__main__":
    main()
