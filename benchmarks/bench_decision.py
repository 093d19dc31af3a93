"""What fraud rules, live quality and the credit limit add to one routing decision.

    python benchmarks/bench_decision.py                 # in-process, then Redis (8 clients)
    python benchmarks/bench_decision.py --small         # a quick smoke run
    python benchmarks/bench_decision.py --no-redis      # in-process only
    python benchmarks/bench_decision.py --python-loop   # without the optional C loop

Against the main tree, side by side in one sitting (runs alternating):
``python benchmarks/bench_decision_compare.py --baseline /tmp/base-decision12``.

One synthetic table (``--carriers`` x ``--prefixes``, one customer selling every prefix),
numbers drawn from its prefixes. Side by side in one run, taking turns call by call (the
order rotating), so that load on the machine and the caches each variant leaves behind
fall on every variant alike (median and p90 nanoseconds per decision):

* ``router``: today's decision, ``Router.route`` (plain least cost, no counters);
* ``calls``: ``Calls.route`` with nothing but the router (the lifecycle's own cost);
* ``+credit``: and the customer's credit account (max_duration, exact);
* ``+fraud``: and every fraud rule with thresholds (``--fraud``, default: the issue's
  rules with every counting rule active) on in-process counters;
* ``+quality``: and a live quality board the router reads (a quality floor in the plan);
* with ``--per-rule``: ``+credit`` and one fraud rule alone, for each rule;
* with ``--steady``: every variant again, timed one variant at a time (a whole pass over
  the numbers each) as ``NAME, steady``: what a proxy running that variant alone sees,
  its own state in the caches from one call to the next (taking turns call by call, the
  lines above, each variant's state is also evicted by the other four's: the harder
  measure, kept as the target's).

The ``+quality`` line is the cost on top of ``router``: the target is <= 3 us. Before
timing, every variant's routes are checked against the router's on 200 numbers (no rule
fires and no floor drops a carrier here, so they must agree).

With Redis (``--redis URL``, default the local one; a unique key prefix, deleted after):
the same full decision (fraud + quality + credit) on :class:`RedisCounters`, counting round
trips per decision (every command or pipeline sent on the client's connections, counted
by :func:`tandem.state.counting_client`; the target is at most one), then
``--clients`` processes deciding concurrently: p50/p99 latency per decision and decisions
per second in total.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

# the tree whose tandem is timed: this one, or TANDEM_BENCH_TREE (bench_decision_compare.py
# --steady runs this script on a baseline tree whose own script has no --steady)
sys.path.insert(0, os.environ.get("TANDEM_BENCH_TREE") or str(Path(__file__).resolve().parents[1]))

from tandem.calls import Calls  # noqa: E402
from tandem.fraud import FraudEngine, fraud_config_from_mapping  # noqa: E402
from tandem.lcr.policy import config_from_mapping  # noqa: E402
from tandem.lcr.router import Router  # noqa: E402
from tandem.lcr.table import OPEN_END, RoutingTable, compile_rates  # noqa: E402
from tandem.money import UNIT  # noqa: E402
from tandem.quality import QualityBoard  # noqa: E402
from tandem.state import MemoryCounters, RedisCounters, counting_client  # noqa: E402
from tandem.store import CreditAccount  # noqa: E402

T0 = 1_767_225_600
CUSTOMER = "acme"
MILLI = UNIT // 1000

#: Every counting rule active, thresholds far above the benchmark's traffic (so every rule
#: is evaluated on every call and none blocks).
FRAUD_RULES = {
    "high_risk": {"prefixes": ["881", "882", "883", "979"]},
    "concurrent": {"customer": {"warning": 10**6}, "group": {"warning": 10**6}},
    "cps": {"customer": {"warning": 10**6}, "source_ip": {"warning": 10**6}},
    "spend": {"hour": {"warning": "1000000"}, "day": {"warning": "10000000"}},
    "velocity": {"factors": {"warning": 1000}},
    "sequential": {"same_number": {"warning": 10**6}, "block": {"warning": 10**6}},
    "wangiri": {"calls": {"warning": 10**6}},
    "first_call": {"rate": "1000"},
}


def make_table(carriers: int, prefixes: int, seed: int = 7) -> RoutingTable:
    """``carriers`` carriers each pricing ~60 % of ``prefixes`` prefixes; one customer
    selling all of them above every buy rate."""
    rng = np.random.default_rng(seed)
    pool: set[str] = set()
    while len(pool) < prefixes:
        n = int(rng.integers(2, 8))
        pool.add(str(int(rng.integers(10 ** (n - 1), 10**n))).replace("0", "1", 1))
    pfx = np.array(sorted(pool)[:prefixes], dtype=object)
    frames = []
    for c in range(carriers):
        mine = pfx[rng.random(len(pfx)) < 0.6]
        frames.append(
            pd.DataFrame(
                {
                    "account": f"carrier{c:02d}",
                    "kind": "carrier",
                    "prefix": mine,
                    "rate": rng.integers(1, 50, len(mine)) * MILLI,
                }
            )
        )
    frames.append(
        pd.DataFrame(
            {"account": CUSTOMER, "kind": "customer", "prefix": pfx, "rate": 60 * MILLI}
        )  # fmt: skip
    )
    frame = pd.concat(frames, ignore_index=True)
    frame["currency"] = "USD"
    frame["connect_fee"] = 0
    frame["initial_increment"] = 30
    frame["next_increment"] = 6
    frame["min_duration"] = 0
    frame["effective_from"] = 0
    frame["effective_until"] = OPEN_END
    return compile_rates(frame, T0)


def make_numbers(table: RoutingTable, n: int, seed: int = 11, skew: float = 0.0) -> list[str]:
    """``n`` numbers under the table's prefixes: uniformly spread (``skew`` 0), or with
    Zipf-like popularity (prefix of rank r drawn with weight ``r ** -skew``), as real
    traffic concentrates on a few destinations."""
    rng = np.random.default_rng(seed)
    keys = table.trie.keys()
    if skew > 0:
        weights = np.arange(1, len(keys) + 1, dtype=float) ** -skew
        order = rng.permutation(len(keys))
        picks = order[rng.choice(len(keys), n, p=weights / weights.sum())]
    else:
        picks = rng.integers(0, len(keys), n)
    tails = rng.integers(0, 10**9, n)
    return [
        "+" + (keys[i] + f"{t:09d}")[:11]
        for i, t in zip(picks.tolist(), tails.tolist(), strict=True)
    ]


QUALITY_PLAN = {
    "quality": {"min_attempts": 20, "refresh": 5.0},
    "defaults": {"floors": [{"prefix": "", "min_asr": "0.1", "cooldown": 600}]},
}


def one_rule(name: str) -> dict:
    """The benchmark's fraud rules with only ``name`` enabled (and high_risk off unless it
    is ``name``)."""
    rules = {k: {"enabled": False} for k in FRAUD_RULES if k != "high_risk"}
    rules["high_risk"] = {**FRAUD_RULES["high_risk"], "enabled": name == "high_risk"}
    if name != "high_risk":
        rules[name] = FRAUD_RULES[name]
    return rules


def variants(table: RoutingTable, counters_factory, per_rule: bool = False) -> dict[str, object]:
    """name -> a callable(number, at) making one decision (``per_rule``: also one variant
    per fraud rule alone, on top of the credit limit)."""
    account = CreditAccount(CUSTOMER, "USD", 10**6 * UNIT, 0, 0, T0)
    out: dict[str, object] = {}
    bare = Router(table)
    out["router"] = lambda number, at: bare.route(number, customer=CUSTOMER, at=at)

    def lifecycle(credit: bool, fraud: bool | dict, quality: bool):
        counters = counters_factory()
        board = QualityBoard(counters) if quality else None
        plan = config_from_mapping(QUALITY_PLAN) if quality else None
        router = Router(table, plan=plan, scores=board)
        rules = fraud if isinstance(fraud, dict) else FRAUD_RULES
        engine = FraudEngine(fraud_config_from_mapping(rules), counters) if fraud else None
        calls = Calls(router, counters=counters, fraud=engine, quality=board,
                      accounts=[account] if credit else None)  # fmt: skip
        live = calls._live

        def decide(number: str, at: int) -> object:
            call = calls.route(number, customer=CUSTOMER, at=at)
            live.clear()  # the decision only: no call is ended here
            return call

        return decide

    out["calls"] = lifecycle(False, False, False)
    out["+credit"] = lifecycle(True, False, False)
    out["+fraud"] = lifecycle(True, True, False)
    out["+quality"] = lifecycle(True, True, True)
    if per_rule:
        for name in FRAUD_RULES:
            out[f"+credit, {name} alone"] = lifecycle(True, one_rule(name), False)
    return out


def check_answers(fns: dict, numbers: list[str], at: int) -> None:
    """Every variant routes (or refuses, when no carrier covers the number) like the router
    (no counting rule fires, no floor drops a carrier: the benchmark's thresholds and board
    are set so) but for numbers in the high-risk list, which the variants with that rule
    block; the lifecycle's routed decisions carry the credit's max_duration."""
    bare = fns["router"]
    risky = tuple(FRAUD_RULES["high_risk"]["prefixes"])
    for number in numbers[:500]:
        routed = bare(number, at)
        want = [r.carrier for r in routed.routes]
        for name, fn in fns.items():
            got = fn(number, at)
            decision = got.decision if name != "router" else got
            if number[1:].startswith(risky) and (
                name in ("+fraud", "+quality") or "high_risk" in name
            ):
                assert decision.blocked and "high_risk" in decision.reason, (name, number)
                continue
            assert [r.carrier for r in decision.routes] == want, (name, number)
            assert decision.blocked == routed.blocked, (name, number, decision.reason)
            if name not in ("router", "calls") and not routed.blocked:
                assert got.max_duration is not None and got.max_duration > 0, name


def in_process(
    table: RoutingTable,
    numbers: list[str],
    rounds: int,
    per_rule: bool,
    factory=MemoryCounters,
    steady: bool = False,
) -> dict:
    """Median and p90 nanoseconds per decision of each variant. Variants take turns call
    by call (the order rotating from one number to the next), so load on the machine and
    the caches each variant leaves behind fall on all of them alike. With ``steady``, then
    the same rounds again with one variant at a time (a whole pass over the numbers each,
    the order rotating per round), named ``NAME, steady``: the caches as a proxy that runs
    one variant sees them (its own state only; the turns above also evict it with the
    other variants' state, so they are the harder measure)."""
    fns = variants(table, factory, per_rule)
    names = list(fns)
    times: dict[str, list[int]] = {k: [] for k in names}
    at = T0
    for fn in fns.values():  # warm up: customers resolved, caches filled
        for number in numbers:
            fn(number, at)
    check_answers(fns, numbers, at)
    clock = time.perf_counter_ns
    k = 0
    for _ in range(rounds):
        at += 1
        for number in numbers:
            k += 1
            shift = k % len(names)
            for name in names[shift:] + names[:shift]:
                fn = fns[name]
                t = clock()
                fn(number, at)
                times[name].append(clock() - t)
    if steady:
        # one variant at a time: a whole pass over the numbers each (the order rotating
        # from round to round), as in a proxy that runs only that variant
        for r in range(rounds):
            at += 1
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:
                fn = fns[name]
                timing = times[f"{name}, steady"] = times.get(f"{name}, steady", [])
                for number in numbers:
                    t = clock()
                    fn(number, at)
                    timing.append(clock() - t)
    out = {}
    for name, v in times.items():
        v.sort()
        out[name] = (v[len(v) // 2] / 1000, v[len(v) * 9 // 10] / 1000)
    return out


def full_decider(table: RoutingTable, url: str, prefix: str, node: str):
    """The full decision on Redis, and the round trips its client counts."""
    client, trips = counting_client(url)
    counters = RedisCounters(url, prefix=prefix, node=node, client=client)
    return variants(table, lambda: counters)["+quality"], trips


def redis_round_trips(table: RoutingTable, numbers: list[str], url: str, prefix: str) -> float:
    decide, trips = full_decider(table, url, prefix, "rt")
    for number in numbers[:200]:
        decide(number, T0)
    before = trips.sent
    n = min(len(numbers), 2000)
    for i, number in enumerate(numbers[:n]):
        decide(number, T0 + 1 + i // 100)
    return (trips.sent - before) / n


def _client(args: tuple) -> tuple[list[float], float]:
    path, numbers, url, prefix, k, seconds = args
    table = RoutingTable.load(path)
    decide, _trips = full_decider(table, url, prefix, f"c{k}")
    for number in numbers[:100]:
        decide(number, T0)
    lat: list[float] = []
    perf = time.perf_counter
    start = perf()
    i = 0
    while perf() - start < seconds:
        number = numbers[i % len(numbers)]
        t = perf()
        decide(number, T0 + 10 + i // 200)
        lat.append(perf() - t)
        i += 1
    return lat, perf() - start


def redis_concurrent(path: str, numbers: list[str], url: str, prefix: str, clients: int,
                     seconds: float) -> dict:  # fmt: skip
    ctx = mp.get_context("fork")
    with ctx.Pool(clients) as pool:
        out = pool.map(_client, [(path, numbers, url, prefix, k, seconds) for k in range(clients)])
    lat = sorted(x for lat_k, _ in out for x in lat_k)
    total = sum(len(lat_k) for lat_k, _ in out)
    wall = max(w for _, w in out)
    return {
        "p50_us": lat[len(lat) // 2] * 1e6,
        "p99_us": lat[int(len(lat) * 0.99)] * 1e6,
        "decisions_per_s": total / wall,
        "decisions": total,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--carriers", type=int, default=40)
    ap.add_argument("--prefixes", type=int, default=50_000)
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--small", action="store_true", help="4 carriers x 5,000, 4,000 calls")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--no-redis", action="store_true")
    ap.add_argument(
        "--per-rule", action="store_true",
        help="also each fraud rule alone (on top of +credit): where the fraud cost goes",
    )  # fmt: skip
    ap.add_argument(
        "--python-loop", action="store_true",
        help="in-process counters without the optional C loop (tandem/state/_fastwin.c)",
    )  # fmt: skip
    ap.add_argument(
        "--steady", action="store_true",
        help="also each variant timed one at a time (a pass over the numbers each): "
        "lines NAME, steady",
    )  # fmt: skip
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument(
        "--skew", type=float, default=0.0,
        help="Zipf exponent of destination popularity (0: uniform over the prefixes)",
    )  # fmt: skip
    args = ap.parse_args()
    if args.small:
        args.carriers, args.prefixes, args.calls, args.rounds = 4, 5_000, 4_000, 2
        args.seconds = 2.0
    t = time.perf_counter()
    table = make_table(args.carriers, args.prefixes)
    numbers = make_numbers(table, args.calls, skew=args.skew)
    print(f"# table {args.carriers} carriers x {table.prefix_count} prefixes "
          f"({time.perf_counter() - t:.1f} s); {len(numbers)} numbers (skew {args.skew}); load "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    factory = MemoryCounters
    try:
        from tandem.state.memory import NATIVE
    except ImportError:  # a tree before the C loop
        NATIVE = False
    if args.python_loop and NATIVE:
        factory = lambda: MemoryCounters(native=False)  # noqa: E731
    print(f"# MemoryCounters loop: {'C' if NATIVE and not args.python_loop else 'Python'}")
    med = in_process(table, numbers, args.rounds, args.per_rule, factory, args.steady)
    print("\n| decision (in-process counters) | median us | p90 us | median on top of router |")
    print("|---|---:|---:|---:|")
    for name, (us, p90) in med.items():
        tail = ", steady" if name.endswith(", steady") else ""
        base = med["router" + tail][0]
        credit = med["+credit" + tail][0]
        extra = f" ({us - credit:+.2f} on +credit)" if "alone" in name else ""
        print(f"| {name} | {us:.2f} | {p90:.2f} | {us - base:+.2f}{extra} |")
    if args.no_redis:
        return
    prefix = f"bench-decision-{uuid.uuid4().hex[:8]}:"
    try:
        rt = redis_round_trips(table, numbers, args.redis, prefix)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "routes.tdm")
            table.save(path)
            res = redis_concurrent(path, numbers, args.redis, prefix, args.clients,
                                   args.seconds)  # fmt: skip
    finally:
        import redis

        client = redis.Redis.from_url(args.redis)
        names = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for i in range(0, len(names), 1000):
            client.delete(*names[i : i + 1000])
    print(f"\nRedis ({args.redis}), full decision (fraud + quality + credit):")
    print(f"round trips per decision: {rt:.3f}")
    print("\n| clients | p50 us | p99 us | decisions/s |\n|---:|---:|---:|---:|")
    print(f"| {args.clients} | {res['p50_us']:.0f} | {res['p99_us']:.0f} | "
          f"{res['decisions_per_s']:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
