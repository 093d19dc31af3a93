"""Shared-state benchmark: the latency of each counters operation and of one decision's
batch, in memory and in Redis, with 1 and with 8 concurrent clients.

    python benchmarks/bench_state.py [--ops 4000] [--redis redis://127.0.0.1:6379/0] [--runs 3]

Operations: ``acquire+release`` (one call's slots under 3 keys, then its end), ``add``
(a sliding-window count), ``total`` (a window read), ``marked`` (a mark read) and
``decision batch``: what the fraud rules of one decision send, as one batch (acquire under
3 keys, 3 window adds, 2 window totals, a mark read and a mark): one lock in memory, one
round trip in Redis. Baselines measured in the same run: for memory, the lock and dict
increment of the counters this package replaced (``lcr.counters.MemoryCounters.incr``);
for Redis, a bare PING (one round trip, the floor of any operation) and the decision's 9
operations sent one by one (9 round trips). Concurrent clients are threads on one
MemoryCounters (they share it), processes each with its own connection for Redis. Each
cell is the median over ``--runs`` runs of p50 / p99 per operation and operations/s (for
8 clients: all clients' operations over the wall time). Redis keys use a fresh prefix,
deleted afterwards. About 60 s on a small machine.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tandem.state import MemoryCounters, RedisCounters  # noqa: E402

T0 = 1_800_000_000.0


class OldMemoryCounters:
    """The baseline: tandem.lcr.counters.MemoryCounters.incr before this package (a lock
    and a dict, nothing else)."""

    def __init__(self) -> None:
        self._values: dict[str, int] = {}
        self._lock = threading.Lock()

    def incr(self, key: str, delta: int = 1) -> int:
        with self._lock:
            value = max(0, self._values.get(key, 0) + delta)
            self._values[key] = value
            return value


def op_acquire_release(c: Any, client: int, i: int) -> None:
    at = T0 + i * 0.001
    call = f"{client}-{i}"
    c.acquire(call, {f"cust:{client % 50}": 1000, "carrier:atlas": 100_000, "dest:44": 100_000},
              ttl=3600, at=at)  # fmt: skip
    c.release(call, at=at)


def op_add(c: Any, client: int, i: int) -> None:
    c.add(f"cps:{client % 50}", 1, window=60, step=1, at=T0 + i * 0.001)


def op_total(c: Any, client: int, i: int) -> None:
    c.total(f"cps:{client % 50}", window=60, step=1, at=T0 + i * 0.001)


def op_marked(c: Any, client: int, i: int) -> None:
    c.marked(f"first:{client % 50}:{i % 200}", at=T0 + i * 0.001)


def _decision_ops(c: Any, client: int, i: int) -> None:
    at = T0 + i * 0.001
    cust = f"cust:{client % 50}"
    c.acquire(f"{client}-{i}", {cust: 1_000_000, "carrier:atlas": 1_000_000,
                                "dest:44": 1_000_000}, ttl=3600, at=at)  # fmt: skip
    c.add(f"cps:{cust}", 1, window=1, step=1, at=at)
    c.add(f"cpm:{cust}", 1, window=60, step=1, at=at)
    c.add(f"velocity:44{i % 100}", 1, window=300, step=10, at=at)
    c.total(f"spend:h:{cust}", window=3600, step=60, at=at)
    c.total(f"spend:d:{cust}", window=86400, step=3600, at=at)
    c.marked(f"first:{cust}:44{i % 100}", at=at)
    c.mark(f"alert:{cust}:{i % 100}", ttl=60, at=at)


def op_decision_batch(c: Any, client: int, i: int) -> None:
    b = c.batch()
    _decision_ops(b, client, i)
    b.execute()


def op_decision_unbatched(c: Any, client: int, i: int) -> None:
    _decision_ops(c, client, i)


def op_old_incr(c: Any, client: int, i: int) -> None:
    c.incr("carrier:atlas:calls", 1)


def op_ping(c: Any, client: int, i: int) -> None:
    c.client.ping()


OPS: dict[str, Callable[[Any, int, int], None]] = {
    "acquire+release": op_acquire_release,
    "add": op_add,
    "total": op_total,
    "marked": op_marked,
    "decision batch": op_decision_batch,
    "decision, 9 ops unbatched": op_decision_unbatched,
    "baseline: old incr": op_old_incr,
    "baseline: PING": op_ping,
}


def run_ops(
    c: Any, op: str, client: int, n: int, start_at: float = 0.0
) -> tuple[list[int], float, float]:
    """Latencies (ns) of ``n`` operations, and the wall start and end (epoch seconds)."""
    fn = OPS[op]
    for i in range(min(200, n)):  # warm up (scripts loaded, caches)
        fn(c, client, -1 - i)
    while time.time() < start_at:
        time.sleep(0.001)
    lat = []
    clock = time.perf_counter_ns
    began = time.time()
    for i in range(n):
        t = clock()
        fn(c, client, i)
        lat.append(clock() - t)
    return lat, began, time.time()


def redis_worker(
    url: str, prefix: str, op: str, client: int, n: int, start_at: float
) -> tuple[list[int], float, float]:
    c = RedisCounters(url, prefix=prefix, node=f"bench-{client}", socket_timeout=10)
    try:
        return run_ops(c, op, client, n, start_at)
    finally:
        c.close()


def summary(lat: list[int], ops: int, wall: float) -> tuple[float, float, float]:
    lat = sorted(lat)
    p50 = lat[len(lat) // 2] / 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1000
    return p50, p99, ops / wall


def measure(
    backend: str, op: str, clients: int, n: int, url: str, pool: Any
) -> tuple[float, float, float]:
    if backend == "memory":
        c: Any = OldMemoryCounters() if op == "baseline: old incr" else MemoryCounters()
        if clients == 1:
            lat, a, b = run_ops(c, op, 0, n)
            return summary(lat, n, b - a)
        start_at = time.time() + 0.3
        with ThreadPoolExecutor(clients) as threads:
            parts = list(threads.map(lambda k: run_ops(c, op, k, n, start_at), range(clients)))
    else:
        prefix = f"tandem-bench:{uuid.uuid4().hex[:8]}:"
        try:
            if clients == 1:
                c = RedisCounters(url, prefix=prefix, socket_timeout=10)
                lat, a, b = run_ops(c, op, 0, n)
                return summary(lat, n, b - a)
            start_at = time.time() + 1.0
            futures = [
                pool.submit(redis_worker, url, prefix, op, k, n, start_at) for k in range(clients)
            ]
            parts = [f.result() for f in futures]
        finally:
            RedisCounters(url, prefix=prefix).clear()
    lat = [x for p in parts for x in p[0]]
    wall = max(p[2] for p in parts) - min(p[1] for p in parts)
    return summary(lat, n * clients, wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=4000, help="operations per client and run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    plan = [("memory", op) for op in OPS if op not in ("baseline: PING",)] + [
        ("redis", op) for op in OPS if op != "baseline: old incr"
    ]
    print(
        f"shared-state benchmark: {args.ops} operations per client, median of {args.runs} runs; "
        "p50/p99 in microseconds per operation"
    )
    header = f"{'backend':<8} {'operation':<27} "
    header += f"{'1 client p50':>12} {'p99':>8} {'ops/s':>9}   "
    header += f"{args.clients} clients p50".rjust(13) + f" {'p99':>8} {'ops/s':>9}"
    print(header)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.clients, mp_context=context) as pool:
        for backend, op in plan:
            n = args.ops if backend == "redis" or "decision" in op else args.ops * 5
            cells = []
            for clients in (1, args.clients):
                runs = [
                    measure(backend, op, clients, n, args.redis, pool) for _ in range(args.runs)
                ]
                cells.append(tuple(statistics.median(r[j] for r in runs) for j in range(3)))
            (a50, a99, aops), (b50, b99, bops) = cells
            print(
                f"{backend:<8} {op:<27} {a50:>12.1f} {a99:>8.1f} {aops:>9,.0f}   "
                f"{b50:>13.1f} {b99:>8.1f} {bops:>9,.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
