"""Batch routing (``route_batch``) against ``Router.route`` in a Python loop (issue 14, item 1).

    python benchmarks/bench_batch_route.py           # 40 carriers x 150,000 prefixes, 1M calls
    python benchmarks/bench_batch_route.py --small   # a quick smoke run
    python benchmarks/bench_batch_route.py --rounds 5 --calls 2000000

One synthetic table (``make_table`` of ``bench_decision.py``: ``--carriers`` carriers each
pricing ~60 % of ``--prefixes`` prefixes, one customer selling all of them) and
``--calls`` numbers under its prefixes (``make_numbers``). In each round, in rotating
order, the same calls are decided by:

* ``loop``: ``Router.route`` once per call, in a Python loop (the baseline);
* ``batch (list)``: ``route_batch`` on the same Python list of numbers;
* ``batch (Arrow)``: ``route_batch`` on an Arrow string array of them (a CDR column);
* ``batch, priority plan``: ``route_batch`` (Arrow) with a priority plan and a forced
  route on some destinations (the per-row ordering path).

Medians over ``--rounds`` rounds (seconds per batch and decisions per second) and the
ratio to the loop. The first batch on a table also builds its prefix index and the
per-prefix routes (kept with the table): timed once, shown apart. Answers are checked:
``--check`` random rows of every batch variant equal ``Router.route`` on every field
(``BatchDecisions.decision(i) == Decision.to_dict()``, routes, rates, sell rate), and the
loop and the batch agree on the first route of every call of the sample.
Targets (issue 14): ``route_batch`` >= 10x the loop and >= 2,000,000 decisions/s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_decision import CUSTOMER, T0, make_numbers, make_table  # noqa: E402

from tandem.lcr.batch import BatchDecisions, route_batch  # noqa: E402
from tandem.lcr.policy import config_from_mapping  # noqa: E402
from tandem.lcr.router import Router  # noqa: E402
from tandem.money import to_scaled  # noqa: E402


def check(res: BatchDecisions, router: Router, numbers: list[str], rows: np.ndarray) -> None:
    """Rows ``rows`` of ``res`` equal ``Router.route`` on every field."""
    for i in rows.tolist():
        d = router.route(numbers[i], customer=CUSTOMER, at=T0)
        if res.decision(i) != d.to_dict():
            raise SystemExit(f"row {i} ({numbers[i]}): batch {res.decision(i)} != route {d}")
        routes = d.routes
        got = res.route_carriers(i)
        if got != [r.carrier for r in routes] or [
            int(res.route_rate[i, k]) for k in range(len(routes))
        ] != [to_scaled(r.rate) for r in routes]:
            raise SystemExit(f"row {i} ({numbers[i]}): arrays differ from {routes}")
        if bool(res.blocked[i]) != d.blocked or res.reason(i) != d.reason:
            raise SystemExit(f"row {i}: blocked/reason differ")
        if d.sell_rate_scaled is not None and int(res.sell_rate[i]) != d.sell_rate_scaled:
            raise SystemExit(f"row {i}: sell rate differs")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--carriers", type=int, default=40)
    ap.add_argument("--prefixes", type=int, default=150_000)
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--check", type=int, default=2000, help="rows checked per batch variant")
    ap.add_argument("--small", action="store_true", help="8 x 5,000 table, 50,000 calls")
    args = ap.parse_args()
    if args.small:
        args.carriers, args.prefixes, args.calls, args.check = 8, 5000, 50_000, 300

    t = time.perf_counter()
    table = make_table(args.carriers, args.prefixes)
    numbers = make_numbers(table, args.calls)
    column = pa.array(numbers, pa.string())
    print(
        f"table: {args.carriers} carriers x {table.prefix_count:,} prefixes, "
        f"{table.route_count:,} routes; {args.calls:,} calls "
        f"(built in {time.perf_counter() - t:.1f} s)"
    )
    router = Router(table)
    keys = table.trie.keys()
    forced = [{"prefix": k, "carriers": ["carrier03", "carrier07"]} for k in keys[::500][:40]]
    prio = {f"carrier{c:02d}": c % 3 for c in range(0, args.carriers, 2)}
    priority = Router(
        table,
        plan=config_from_mapping(
            {"customers": {CUSTOMER: {"strategy": "priority", "priority": prio, "forced": forced}}}
        ),
    )

    # The first batch on the table builds its prefix index and per-prefix routes.
    t = time.perf_counter()
    route_batch(router, column[:1000], customers=CUSTOMER, at=T0)
    first_lc = time.perf_counter() - t
    t = time.perf_counter()
    route_batch(priority, column[:1000], customers=CUSTOMER, at=T0)
    first_prio = time.perf_counter() - t

    def loop() -> object:
        route = router.route
        last = None
        for n in numbers:
            last = route(n, customer=CUSTOMER, at=T0)
        return last

    variants = {
        "loop: Router.route per call": loop,
        "batch (list)": lambda: route_batch(router, numbers, customers=CUSTOMER, at=T0),
        "batch (Arrow)": lambda: route_batch(router, column, customers=CUSTOMER, at=T0),
        "batch, priority plan (Arrow)": lambda: route_batch(
            priority, column, customers=CUSTOMER, at=T0
        ),
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    rng = np.random.default_rng(5)
    sample = rng.choice(args.calls, size=min(args.check, args.calls), replace=False)
    names = list(variants)
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            t = time.perf_counter()
            res = variants[name]()
            times[name].append(time.perf_counter() - t)
            if r == 0 and isinstance(res, BatchDecisions):  # answers checked once per variant
                check(res, priority if "priority" in name else router, numbers, sample)
                if "priority" not in name:
                    first = [router.route(numbers[i], customer=CUSTOMER, at=T0) for i in sample]
                    want = [d.routes[0].carrier if d.routes else None for d in first]
                    got = [res.route_carriers(i)[:1] or [None] for i in sample.tolist()]
                    if want != [g[0] for g in got]:
                        raise SystemExit(f"{name}: first routes differ from the loop")
                print(f"checked {len(sample):,} rows of {name!r}: equal to Router.route")

    base = statistics.median(times[names[0]])
    print()
    print(f"{'variant':32} {'median s':>9} {'decisions/s':>13} {'vs loop':>8}  target")
    for name in names:
        med = statistics.median(times[name])
        rate = args.calls / med
        target = ""
        if name == "batch (Arrow)" or name == "batch (list)":
            ok = rate >= 2_000_000 and base / med >= 10
            target = f">= 10x, >= 2,000,000/s: {'met' if ok else 'NOT met'}"
        print(f"{name:32} {med:9.3f} {rate:13,.0f} {base / med:7.1f}x  {target}")
    print(
        f"\nfirst batch on the table (builds the prefix index and per-prefix routes, once): "
        f"least cost {first_lc:.2f} s, priority plan {first_prio:.2f} s"
    )
    print(f"rounds: {args.rounds}; per-round seconds: " + "; ".join(
        f"{n.split(':')[0]} " + ", ".join(f"{x:.3f}" for x in times[n]) for n in names
    ))  # fmt: skip


if __name__ == "__main__":
    main()
