"""Where the microseconds of one decision go: each part of bench_decision.py's full decision
timed alone, in one process, on the same table and numbers.

    python benchmarks/bench_decision_parts.py                # 40 carriers x 50,000, 20,000 numbers
    python benchmarks/bench_decision_parts.py --small        # a quick run
    python benchmarks/bench_decision_parts.py --python-loop  # MemoryCounters(native=False)
    PYTHONPATH=/tmp/base python benchmarks/bench_decision_parts.py   # another tree's code

Each part runs over every number in turn (one pass per repeat, the instant one second on
per pass, as the benchmark's rounds), timed with the thread's CPU clock (time spent waiting
for the other core's work is not counted); the figure is the least of ``--repeats`` passes,
in microseconds per call. Unlike bench_decision.py, where the variants take turns call by
call, a part here runs alone, so its own state stays in the caches from one call to the
next: read the figures for their differences (what each part adds), and bench_decision.py
for the cost in a decision.

Parts: the router alone (``Router.route``) and with the quality floor; the lifecycle
(``Calls.route``) with nothing, the credit limit, the fraud rules, and the quality floor
(each the part above it and one more); the fraud rules alone (``FraudEngine.check`` on the
call's facts), and the two halves of its compiled path on in-process counters: the keys
(``Compiled.build``) and the counter operations (the program's runner).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_decision import (  # noqa: E402
    CUSTOMER,
    FRAUD_RULES,
    QUALITY_PLAN,
    T0,
    make_numbers,
    make_table,
)

from tandem.calls import Calls  # noqa: E402
from tandem.fraud import FraudEngine, fraud_config_from_mapping  # noqa: E402
from tandem.lcr.policy import config_from_mapping  # noqa: E402
from tandem.lcr.router import Router  # noqa: E402
from tandem.money import UNIT  # noqa: E402
from tandem.quality import QualityBoard  # noqa: E402
from tandem.state import MemoryCounters  # noqa: E402
from tandem.store import CreditAccount  # noqa: E402


def timed(run: Callable[[int], object], repeats: int, count: int) -> float:
    """The least thread CPU time of ``repeats`` passes of ``run(at)``, us per call."""
    best = float("inf")
    for k in range(repeats):
        start = time.thread_time_ns()
        run(T0 + 1 + k)
        best = min(best, time.thread_time_ns() - start)
    return best / count / 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--carriers", type=int, default=40)
    ap.add_argument("--prefixes", type=int, default=50_000)
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=5, help="passes per part")
    ap.add_argument("--small", action="store_true", help="4 carriers x 5,000, 4,000 calls")
    ap.add_argument("--python-loop", action="store_true", help="MemoryCounters(native=False)")
    args = ap.parse_args()
    if args.small:
        args.carriers, args.prefixes, args.calls = 4, 5_000, 4_000
    args.repeats = max(1, args.repeats)
    table = make_table(args.carriers, args.prefixes)
    numbers = make_numbers(table, args.calls)
    account = CreditAccount(CUSTOMER, "USD", 10**6 * UNIT, 0, 0, T0)

    def counters() -> MemoryCounters:
        return MemoryCounters(native=False) if args.python_loop else MemoryCounters()

    def calls_of(credit: bool, fraud: bool, quality: bool) -> Calls:
        c = counters()
        board = QualityBoard(c) if quality else None
        plan = config_from_mapping(QUALITY_PLAN) if quality else None
        engine = FraudEngine(fraud_config_from_mapping(FRAUD_RULES), c) if fraud else None
        router = Router(table, plan=plan, scores=board)
        return Calls(router, counters=c, fraud=engine, quality=board,
                     accounts=[account] if credit else None)  # fmt: skip

    parts: dict[str, Callable[[int], object]] = {}
    bare = Router(table)
    floor = calls_of(False, False, True).router
    parts["router"] = lambda at: [bare.route(n, customer=CUSTOMER, at=at) for n in numbers]
    parts["router + quality floor"] = lambda at: [
        floor.route(n, customer=CUSTOMER, at=at) for n in numbers
    ]
    for name, flags in (
        ("calls", (False, False, False)),
        ("calls + credit", (True, False, False)),
        ("calls + credit + fraud", (True, True, False)),
        ("calls + credit + fraud + quality", (True, True, True)),
    ):
        calls = calls_of(*flags)

        def decide(at: int, calls: Calls = calls) -> None:
            live = calls._live
            for n in numbers:
                calls.route(n, customer=CUSTOMER, at=at)
                live.clear()  # the decision only: no call is ended here

        parts[name] = decide
    owner = calls_of(False, True, False)
    checker = calls_of(False, True, False).fraud  # its own counters
    engine = owner.fraud
    assert engine is not None and checker is not None
    decisions = [bare.route(n, customer=CUSTOMER, at=T0) for n in numbers]
    facts = [owner.facts_of(f"c{i}", d, T0, None) for i, d in enumerate(decisions)]
    fired = [0]
    # the facts of every pass made beforehand (NamedTuple._replace would cost more than
    # some of the parts)
    facts_at = {T0 + k: [f._replace(at=T0 + k) for f in facts] for k in range(args.repeats + 1)}

    def check(at: int) -> None:
        for f in facts_at[at]:
            if checker.check(f).action != "allow":
                fired[0] += 1

    parts["fraud rules alone (FraudEngine.check)"] = check
    engine.check(facts[0])
    plan = engine._plan(CUSTOMER)
    compiled = plan.compiled[1] if plan.compiled is not None else None
    if compiled is not None:
        keys_of = engine._customer_keys(CUSTOMER)
        parts["  its keys (Compiled.build)"] = lambda at: [
            compiled.build(f, keys_of) for f in facts
        ]
        built = [compiled.build(f, keys_of) for f in facts]
        programs = [compiled.program(variant) for variant, _keys in built]

        def run(at: int) -> None:
            for (_variant, keys), entry in zip(built, programs, strict=True):
                runner = entry[3] if len(entry) > 3 else None  # a tree before the runners
                if runner is not None:
                    runner(keys, at)
                else:
                    engine.counters.run_graded(entry[0], keys, at, entry[1])

        parts["  its counter operations (runner)"] = run
    for fn in parts.values():  # warm up: customers resolved, windows made, caches filled
        fn(T0)
    print(f"# {args.carriers} carriers x {table.prefix_count} prefixes, {len(numbers)} numbers; "
          f"MemoryCounters loop: {'Python' if args.python_loop else 'C'}")  # fmt: skip
    print("\n| part (alone, warm) | us per call (least of passes, thread CPU) |")
    print("|---|---:|")
    for name, fn in parts.items():
        print(f"| {name} | {timed(fn, args.repeats, len(numbers)):.2f} |")
    # numbers of the high-risk list, and (with many passes) a destination called past the
    # velocity rule's min_calls: such calls are graded, the benchmark's are not
    print(f"\n# FraudEngine.check: {fired[0]} of {len(facts) * (args.repeats + 1)} calls "
          "flagged or blocked")  # fmt: skip


if __name__ == "__main__":
    main()
