"""Benchmark: ``tandem simulate`` replaying 1,000,000 calls with failover and pricing, end to
end, against ``tandem rate`` of the same file in the same run.

    python benchmarks/bench_simulate.py [--calls 1000000] [--days 7] [--rounds 3]

Setup (not timed): a SQLite store with 6 carriers and 50 customers over the 289 ranges of
:data:`tandem.sim.universe.DESTINATIONS` (sell decks at each range's sell rate, carrier
decks at seeded 55-95 % of it, billed per second), a stored routing plan capping one
carrier (``max_concurrent``), ``--calls`` generated calls (:func:`tandem.sim.generate_traffic`,
seed 1, over ``--days``) written to Parquet, and a scenario: a 6-hour outage of the carrier
most calls go to first, and a day-long quality collapse (ASR 0.2) of another on ``44``.

Timed, each a fresh process (``python -m tandem``, CLI start included), median of the rounds:

* ``simulate --json``: file in, JSON out (read the CDRs, route every call with batch
  routing at its instant, failover and capacity over simulated time, price the carried
  calls buy and sell, aggregate);
* ``simulate --json --report``: the same plus the CSV/Parquet tables and the HTML page;
* ``rate`` (the baseline): ``tandem rate`` of the same file, pricing every CDR on both
  sides and writing the rated Parquet file: what pricing alone costs.

Then in this process (the inner loop, traffic already in memory, median of the rounds):
``replay`` + ``summarize`` and, inside it, batch routing of every call alone.

Every run's answer is checked: nothing lost (carried + unanswered + blocked = calls), the
per-carrier sums equal the totals, no call carried by the down carrier during its outage
and failovers counted there, the capped carrier never above its cap at any instant,
and a sample of calls outside the events routed first to the carrier ``Router.route``
puts first.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tandem.instant import format_instant, parse_instant  # noqa: E402
from tandem.money import to_scaled  # noqa: E402

START = parse_instant("2026-11-02T00:00:00Z")
CAPPED = "cygnus"


def make_store(db: Path, cap: int) -> None:
    """Carrier and customer decks over every destination range, and a routing plan."""
    from tandem.lcr.plans import import_plan
    from tandem.sim.profile import DEFAULT_CARRIERS
    from tandem.sim.universe import DESTINATIONS
    from tandem.store import Store

    rng = np.random.default_rng(11)
    store = Store(str(db))
    prefixes = sorted({d.prefix for d in DESTINATIONS})
    sell = {d.prefix: d.sell_rate for d in DESTINATIONS}
    names = {d.prefix: d.name for d in DESTINATIONS}

    def frame(rates: dict[str, Decimal]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "prefix": list(rates),
                "destination": [names[p] for p in rates],
                "rate": [to_scaled(r) for r in rates.values()],
                "initial_increment": 1,
                "next_increment": 1,
                "effective_from": 0,
            }
        )

    for carrier in DEFAULT_CARRIERS:
        factor = rng.uniform(0.55, 0.95, len(prefixes))
        rates = {
            p: (sell[p] * Decimal(str(round(f, 3)))).quantize(Decimal("0.000001"))
            for p, f in zip(prefixes, factor, strict=True)
        }
        store.write_deck(carrier, "carrier", frame(rates), currency="USD", effective_from=0)
    for i in range(1, 51):
        store.write_deck(
            f"cust{i:02d}", "customer", frame(dict(sell)), currency="USD", effective_from=0
        )
    plan = f"[defaults]\nmax_routes = 4\n\n[carriers.{CAPPED}]\nmax_concurrent = {cap}\n"
    import_plan(store, plan.encode(), kind="routing", effective=0)
    store.close()


def make_traffic(path: Path, calls: int, days: int) -> None:
    from tandem.sim import generate_traffic

    pq.write_table(generate_traffic(1, calls=calls, days=days, start=START), path)


def top_carrier(path: Path, db: Path) -> str:
    """The carrier most calls go to first (the outage's victim)."""
    from tandem.lcr.batch import route_batch
    from tandem.lcr.router import Router
    from tandem.lcr.table import compile_table
    from tandem.store import Store

    t = pq.read_table(path, columns=["number", "customer", "start"]).slice(0, 20_000)
    store = Store(str(db))
    table = compile_table(store, START)
    dec = route_batch(Router(table), t.column("number"), customers=t.column("customer"), at=START)
    first = np.asarray(dec.route_carrier)[:, 0]
    counts = np.bincount(first[first >= 0], minlength=len(dec.carriers))
    store.close()
    return dec.carriers[int(np.argmax(counts))]


def scenario_text(down: str, days: int) -> tuple[str, int, int]:
    """An outage of ``down`` on the second day 08:00-14:00, a collapse of another on 44."""
    day = START + 86_400 * (1 if days > 1 else 0)
    frm, until = day + 8 * 3600, day + 14 * 3600
    other = "borealis" if down != "borealis" else "atlas"
    text = (
        f'[[events]]\ncarrier = "{down}"\ndown_from = "{format_instant(frm)}"\n'
        f'down_until = "{format_instant(until)}"\n\n'
        f'[[events]]\ncarrier = "{other}"\nprefix = "44"\nasr = 0.2\n'
        f'from = "{format_instant(START)}"\nuntil = "{format_instant(START + 86_400)}"\n'
    )
    return text, frm, until


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(args: list[str]) -> tuple[float, float, str]:
    """Wall and CPU seconds (user + system, every thread) of one fresh process, its output."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    c0 = _cpu()
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "tandem", *args], capture_output=True, text=True, env=env,
        cwd=ROOT, check=False, timeout=600,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    cpu = _cpu() - c0
    if done.returncode != 0:
        raise SystemExit(f"tandem {' '.join(args)} failed: {done.stderr[-2000:]}")
    return wall, cpu, done.stdout


def check_json(out: dict, calls: int, down: str, frm: int, until: int) -> None:  # noqa: PLR0913
    """Nothing lost, sums equal totals, the outage respected, the cap respected."""
    assert out["calls"] == calls, out["calls"]
    assert out["carried"] + out["unanswered"] + sum(out["blocked"].values()) == calls
    rows = out["by_carrier"]
    assert sum(r["carried"] for r in rows) == out["carried"]
    for k in ("cost", "revenue", "margin"):
        assert sum(Decimal(r[k]) for r in rows) == Decimal(out["totals"][k]), k
    assert next(r for r in rows if r["carrier"] == down)["failovers"] > 0
    for r in out["over_time"]:
        if r["carrier"] == down and frm <= parse_instant(r["time"]) < until:
            assert r["carried"] == 0, r
    assert out["skipped_capacity"].get(CAPPED, 0) > 0


def check_replay(result, numbers: list[str], db: Path, cap: int) -> None:
    """The capped carrier's concurrency at every instant, and first routes vs Router.route
    (``numbers``: the dialled numbers in the replay's order, by start)."""
    from tandem.lcr.router import Router
    from tandem.lcr.table import compile_table
    from tandem.sim.attempts import CARRIED
    from tandem.store import Store

    att = result.attempts
    c = result.carriers.index(CAPPED)
    mine = (att.end == CARRIED) & (att.carrier == c)
    s = np.sort(result.start[mine])
    e = np.sort(result.start[mine] + result.duration[mine])
    live = np.searchsorted(s, s, "right") - np.searchsorted(e, s, "right")
    assert live.max() <= cap, live.max()
    store = Store(str(db))
    router = Router(compile_table(store, START))
    rng = np.random.default_rng(5)
    routed = np.flatnonzero(result.routes[:, 0] >= 0)
    checked = 0
    for row in rng.choice(routed, size=min(300, len(routed)), replace=False).tolist():
        cust = result.customer[row].as_py()
        first = result.carriers[int(result.routes[row, 0])]
        number = numbers[row]
        d = router.route(number, customer=cust, at=int(result.start[row]))
        assert d.routes[0].carrier == first, (number, first, d.routes[0].carrier)
        checked += 1
    assert checked > 0
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_simulate_"))
    db, cdrs = work / "store.db", work / "traffic.parquet"
    t0 = time.perf_counter()
    cap = max(2, args.calls // (args.days * 8000))  # about half the carrier's peak load
    make_store(db, cap)
    make_traffic(cdrs, args.calls, args.days)
    down = top_carrier(cdrs, db)
    text, frm, until = scenario_text(down, args.days)
    scenario = work / "scenario.toml"
    scenario.write_text(text)
    print(f"setup {time.perf_counter() - t0:.1f} s: {args.calls:,} calls over {args.days} "
          f"days, outage of {down}, {CAPPED} capped at {cap}; {work}")  # fmt: skip

    sim = ["simulate", str(cdrs), "--db", str(db), "--scenario", str(scenario), "--json", "-q"]
    times: dict[str, list[float]] = {"simulate --json": [], "simulate --json --report": [],
                                     "rate (baseline)": []}  # fmt: skip
    cpus: dict[str, list[float]] = {k: [] for k in times}
    for r in range(args.rounds):
        wall, cpu, text_out = run(sim)
        check_json(json.loads(text_out), args.calls, down, frm, until)
        times["simulate --json"].append(wall)
        cpus["simulate --json"].append(cpu)
        wall, cpu, text_out = run([*sim, "--report", str(work / f"report{r}")])
        check_json(json.loads(text_out), args.calls, down, frm, until)
        assert (work / f"report{r}" / "simulation.html").stat().st_size > 10_000
        times["simulate --json --report"].append(wall)
        cpus["simulate --json --report"].append(cpu)
        wall, cpu, text_out = run(["rate", str(cdrs), "--db", str(db), "-o",
                                   str(work / "rated.parquet"), "--json", "-q"])  # fmt: skip
        assert json.loads(text_out)["rows_in"] == args.calls
        times["rate (baseline)"].append(wall)
        cpus["rate (baseline)"].append(cpu)

    # the inner loop, in this process
    from tandem.lcr.batch import route_batch
    from tandem.lcr.router import Router
    from tandem.rating.bookcache import load_rater
    from tandem.rating.schedule import PlanSchedule
    from tandem.sim.attempts import play_attempts
    from tandem.sim.replay import replay
    from tandem.sim.run import _with_changes, read_cdrs
    from tandem.sim.scenario import load_scenario
    from tandem.sim.summary import summarize
    from tandem.sim.world import World
    from tandem.store import Store

    store = Store(str(db))
    sc = load_scenario(scenario)
    inner, routing, inner_cpu, routing_cpu = [], [], [], []
    reading, reading_cpu, walking, walking_cpu = [], [], [], []
    result = None
    for _ in range(args.rounds):
        t1, c1 = time.perf_counter(), time.process_time()
        traffic = read_cdrs(cdrs)
        reading.append(time.perf_counter() - t1)
        reading_cpu.append(time.process_time() - c1)
        rater, _ = load_rater(str(db), lambda: store)
        world = _with_changes(
            World(None, store, schedule=PlanSchedule.from_store(store), base_rater=rater), sc
        )
        t1, c1 = time.perf_counter(), time.process_time()
        result = replay(traffic, world, sc, seed=0)
        summarize(result)
        inner.append(time.perf_counter() - t1)
        inner_cpu.append(time.process_time() - c1)
        router = Router(world.compile(START))
        t1, c1 = time.perf_counter(), time.process_time()
        route_batch(router, traffic.column("number"), customers=traffic.column("customer"),
                    at=traffic.column("start").to_numpy())  # fmt: skip
        routing.append(time.perf_counter() - t1)
        routing_cpu.append(time.process_time() - c1)
        att = result.attempts
        n = len(att.end)
        fail = np.zeros(result.routes.shape, dtype=np.int32)  # the walk alone, no events
        t1, c1 = time.perf_counter(), time.process_time()
        play_attempts(result.routes[:n], result.start, result.duration, result.duration > 0,
                      fail, fail > 0, {result.carriers.index(CAPPED): cap})  # fmt: skip
        walking.append(time.perf_counter() - t1)
        walking_cpu.append(time.process_time() - c1)
    assert result is not None
    order = np.argsort(traffic.column("start").to_numpy(), kind="stable")
    check_replay(result, traffic.column("number").take(order).to_pylist(), db, cap)
    store.close()

    base = statistics.median(times["rate (baseline)"])
    base_cpu = statistics.median(cpus["rate (baseline)"])
    print(f"\n{args.calls:,} calls, medians of {args.rounds} rounds; 'vs rate' = seconds / "
          "the rate baseline's (wall, and CPU: user + system of every thread)")  # fmt: skip
    head = f"{'run':<30}{'wall s':>8}{'calls/s':>12}{'vs rate':>9}{'CPU s':>8}{'CPU vs rate':>13}"
    print(head)
    rows = [(name, times[name], cpus[name]) for name in times] + [
        ("inner: replay + summarize", inner, inner_cpu),
        ("inner: read_cdrs alone", reading, reading_cpu),
        ("inner: route_batch alone", routing, routing_cpu),
        ("inner: attempts + capacity", walking, walking_cpu),
    ]
    for name, ts, cs in rows:
        m, c = statistics.median(ts), statistics.median(cs)
        print(f"{name:<30}{m:>8.2f}{args.calls / m:>12,.0f}{m / base:>9.2f}{c:>8.2f}"
              f"{c / base_cpu:>13.2f}")  # fmt: skip
    print("answers checked: nothing lost, sums = totals, outage and cap respected, "
          "first routes = Router.route on a sample")  # fmt: skip


if __name__ == "__main__":
    main()
