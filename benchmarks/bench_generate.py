"""Traffic generator benchmark: rows per second of ``generate_traffic``, against a floor.

    python benchmarks/bench_generate.py [--calls 1000000 5000000] [--runs 3]

For each ``--calls`` it times, ``--runs`` times each, and prints medians:

* ``normal``: ``generate_traffic(seed, calls=N)``;
* ``planted``: the same with every fraud pattern and a quality collapse;
* ``floor``: the least any generator of this table must do: draw N uniform random
  starts, durations, numbers and account indices, sort by start, and build the same
  Arrow columns (numbers and call ids cast to text, names taken from small tables),
  with no profile, curve, shares or outcomes.

Bounded: about a minute for the defaults on a small machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tandem.sim import PATTERNS, generate_traffic  # noqa: E402


def floor(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    start = 1793577600 + rng.integers(0, 86400, n)
    order = np.argsort(start, kind="stable")
    names = pa.array([f"cust{i:02d}" for i in range(50)])
    carriers = pa.array(["atlas", "borealis", "cygnus", "draco", "eridanus", "fornax"])
    row = pc.utf8_lpad(pc.cast(pa.array(np.arange(n)), pa.string()), 9, "0")
    return pa.table(
        {
            "start": start[order],
            "duration": rng.integers(0, 600, n)[order],
            "number": pc.cast(pa.array(rng.integers(10**10, 10**12, n)[order]), pa.string()),
            "customer": names.take(rng.integers(0, 50, n)[order]),
            "carrier": carriers.take(rng.integers(0, 6, n)[order]),
            "call_id": pc.binary_join_element_wise(pa.scalar("sim1-"), row, ""),
            "sip_code": rng.integers(200, 600, n).astype(np.int16)[order],
            "pdd_ms": rng.integers(100, 5000, n).astype(np.int32)[order],
        }
    )


def timed(fn) -> float:  # noqa: ANN001
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    generate_traffic(1, calls=1_000, fraud=PATTERNS, quality_collapse=True)  # warm imports
    print("| calls | case | rows | median s | rows/s | × floor |")
    print("|---:|---|---:|---:|---:|---:|")
    for n in args.calls:
        cases = {
            "floor": lambda n=n: floor(n, 1),
            "normal": lambda n=n: generate_traffic(1, calls=n),
            "planted": lambda n=n: generate_traffic(
                1, calls=n, fraud=PATTERNS, quality_collapse=True
            ),
        }
        rows = {k: f().num_rows for k, f in cases.items()}
        med: dict[str, float] = {}
        for name, fn in cases.items():
            med[name] = statistics.median(timed(fn) for _ in range(args.runs))
        for name in cases:
            ratio = med[name] / med["floor"]
            print(
                f"| {n:,} | {name} | {rows[name]:,} | {med[name]:.2f} | "
                f"{rows[name] / med[name]:,.0f} | {ratio:.1f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
