"""Fraud benchmark: the live rules per decision, and ``tandem fraud scan`` throughput.

    python benchmarks/bench_fraud.py                 # 5,000,000 CDRs, 200,000 decisions
    python benchmarks/bench_fraud.py --small         # a quick smoke run (200,000 / 20,000)
    git -C /work/main archive main | tar -x -C /tmp/base
    python benchmarks/bench_fraud.py --only compare --baseline-src /tmp/base   # before/after

* **Per decision** (:meth:`tandem.fraud.FraudEngine.check` over ``MemoryCounters``):
  every rule of the shipped ``data/fraud.toml`` on calls drawn from the generator's
  traffic (50 customers, 200 destinations), median of ``--rounds`` passes, in µs per
  decision; side by side with baselines in the same run: the high-risk rule alone (no
  counters), one empty counters batch (the floor every counted rule pays), and the
  counted rules' batch queued and executed without grading.
* **Scan** (:func:`tandem.fraud.scanner`): the generator's CDRs (``--cdrs``, with every
  planted pattern) as a canonical table in memory, median of ``--rounds`` scans, in CDRs
  per second; and read from Parquet through the CDR reader (what ``tandem fraud scan``
  does), once.
* **Compare** (``--only compare --baseline-src DIR``): this tree against another source tree
  (e.g. ``git archive main``) side by side in one run, on one Parquet file of the
  generator's CDRs (``--data FILE``, written when missing): ``tandem fraud scan FILE
  --json`` end to end (a fresh process: imports, reading, scanning, printing; wall, CPU
  of every thread, peak RSS) and the scan alone (the canonical table read once, then
  ``scan``), each tree in its own process, rounds alternating between the trees; medians,
  the ratio, and a check that both trees print the same alerts (counts per rule, and the
  whole JSON byte for byte).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tandem.fraud import CallFacts, FraudEngine, load_fraud_config, scan  # noqa: E402
from tandem.money import to_scaled  # noqa: E402
from tandem.rating.cdr import CdrReader, canonical_table  # noqa: E402
from tandem.sim import generate_traffic  # noqa: E402
from tandem.sim.patterns import PATTERNS  # noqa: E402
from tandem.state import MemoryCounters  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"


def _facts(table: pa.Table, n: int, rate: float) -> list[CallFacts]:
    """The generator's calls as facts, ``rate`` call attempts per second (the generated
    starts keep their order; a node at 200 calls/s sees a day's 200,000 calls in 17
    minutes)."""
    cols = table.slice(0, n).to_pydict()
    t0 = float(cols["start"][0])
    return [
        CallFacts(
            call_id=cols["call_id"][i],
            customer=cols["customer"][i],
            number=cols["number"][i],
            at=t0 + i / rate,
            trunk=cols["trunk"][i],
            source_ip=cols["source_ip"][i],
            destination=cols["destination"][i],
            group=cols["destination"][i],
            sell_rate=to_scaled(str(cols["sell_rate"][i])),
        )
        for i in range(len(cols["start"]))
    ]


def _per_call(fn: object, facts: list[CallFacts], rounds: int) -> tuple[float, float]:
    """Medians over rounds of µs per call of ``fn(facts)`` (a loop over the facts): wall
    and CPU time of this process."""
    times, cpu = [], []
    for _ in range(rounds):
        t, c = time.perf_counter(), time.process_time()
        fn(facts)  # type: ignore[operator]
        times.append((time.perf_counter() - t) / len(facts) * 1e6)
        cpu.append((time.process_time() - c) / len(facts) * 1e6)
    return statistics.median(times), statistics.median(cpu)


def bench_decisions(decisions: int, rounds: int, rate: float) -> None:
    config = load_fraud_config(DATA / "fraud.toml")
    traffic = generate_traffic(1, calls=decisions, days=1)
    facts = _facts(traffic, decisions, rate)
    rows = []

    def all_rules(fs: list[CallFacts]) -> None:
        engine = FraudEngine(config, MemoryCounters())
        check = engine.check
        for f in fs:
            check(f)

    high_risk_only = dataclasses.replace(
        config,
        rules=dataclasses.replace(
            config.rules,
            **{
                name: dataclasses.replace(getattr(config.rules, name), enabled=False)
                for name in (
                    "concurrent",
                    "cps",
                    "spend",
                    "velocity",
                    "sequential",
                    "wangiri",
                    "first_call",
                )
            },  # fmt: skip
        ),
        customers={},
    )

    def high_risk(fs: list[CallFacts]) -> None:
        engine = FraudEngine(high_risk_only, MemoryCounters())
        check = engine.check
        for f in fs:
            check(f)

    def empty_batch(fs: list[CallFacts]) -> None:
        counters = MemoryCounters()
        for _ in fs:
            counters.batch().execute()

    def one_op_batch(fs: list[CallFacts]) -> None:
        counters = MemoryCounters()
        for f in fs:
            b = counters.batch()
            b.add("k:" + f.customer, 1, window=1, step=1, at=f.at)
            b.execute()

    for name, fn in (
        ("all rules (shipped data/fraud.toml), MemoryCounters", all_rules),
        ("baseline: high-risk rule only (no counters)", high_risk),
        ("baseline: one empty counters batch", empty_batch),
        ("baseline: a batch of one window add", one_op_batch),
    ):
        rows.append((name, _per_call(fn, facts, rounds)))
    print(
        f"\nPer decision: {decisions:,} calls at {rate:g} calls/s, median of {rounds} passes "
        "(µs per decision)"
    )
    print(f"| {'what':60} | µs/decision (wall) | µs/decision (CPU) | decisions/s (CPU) |")
    print(f"|{'-' * 62}|--------------------|-------------------|-------------------|")
    for name, (us, cpu_us) in rows:
        print(f"| {name:60} | {us:18.2f} | {cpu_us:17.2f} | {1e6 / cpu_us:17,.0f} |")


def bench_scan(cdrs: int, rounds: int) -> None:
    config = load_fraud_config(DATA / "fraud.toml")
    t = time.perf_counter()
    raw = generate_traffic(2, calls=cdrs, days=max(1, cdrs // 700_000), fraud=list(PATTERNS))
    gen = time.perf_counter() - t
    table = canonical_table(raw)
    n = table.num_rows
    times, cpu, user = [], [], []
    for _ in range(rounds):
        t, c = time.perf_counter(), os.times()
        result = scan(table, config)
        times.append(time.perf_counter() - t)
        d = os.times()
        cpu.append(d.user - c.user + d.system - c.system)
        user.append(d.user - c.user)
    med = statistics.median(times)
    med_cpu = statistics.median(cpu)
    med_user = statistics.median(user)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cdrs.parquet"
        pq.write_table(raw, path)
        t = time.perf_counter()
        reader = CdrReader(batch_size=262_144)
        batches = list(reader.batches(path))
        read = time.perf_counter() - t
        whole = pa.concat_tables(batches, promote_options="permissive")
        t = time.perf_counter()
        scan(whole, config)
        scan_read = time.perf_counter() - t
    print(f"\nScan: {n:,} CDRs (generated in {gen:.1f} s), median of {rounds} scans")
    print("| what | seconds | CDRs/s |")
    print("|------|---------|--------|")
    print(f"| scan (canonical table in memory), wall | {med:.2f} | {n / med:,.0f} |")
    print(f"| scan (canonical table in memory), CPU | {med_cpu:.2f} | {n / med_cpu:,.0f} |")
    print(f"| of which user CPU (not kernel) | {med_user:.2f} | {n / med_user:,.0f} |")
    print(f"| read Parquet through CdrReader | {read:.2f} | {n / read:,.0f} |")
    print(f"| read + scan (`tandem fraud scan`) | {read + scan_read:.2f} | "
          f"{n / (read + scan_read):,.0f} |")  # fmt: skip
    print(f"alerts: {len(result.alerts)} episodes, by rule {result.by_rule}")


#: The scan alone, run in a tree's own process: the canonical table read once (every
#: column, as either tree's reader gives it), then ``scan`` timed ``rounds`` times.
_INNER = """
import json, os, resource, sys, time
import pyarrow as pa
from tandem.fraud import load_fraud_config, scan
from tandem.rating.cdr import CdrReader
path, rules, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
table = pa.concat_tables(list(CdrReader(batch_size=262_144).batches(path)))
config = load_fraud_config(rules)
out = []
for _ in range(rounds):
    t, c = time.perf_counter(), os.times()
    result = scan(table, config)
    d = os.times()
    out.append([time.perf_counter() - t, d.user - c.user + d.system - c.system])
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"rounds": out, "rss": rss, "alerts": len(result.alerts),
                  "by_rule": result.by_rule}))
"""


def _tree_env(src: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(src)
    return env


#: Where the trees' processes run: not a source tree (``python -m`` and ``-c`` put the
#: working directory first on ``sys.path``, before PYTHONPATH).
_NEUTRAL = Path(tempfile.gettempdir())


def _check_tree(src: Path) -> None:
    """Refuse to time a tree whose processes would import another tree's ``tandem``."""
    proc = subprocess.run(
        [sys.executable, "-c", "import tandem; print(tandem.__file__)"],
        env=_tree_env(src),
        cwd=_NEUTRAL,
        capture_output=True,
        text=True,
        check=True,
    )
    found = Path(proc.stdout.strip()).resolve()
    if not found.is_relative_to(src.resolve()):
        raise SystemExit(f"{src}: its processes import tandem from {found}")


def _run_cli(src: Path, path: Path) -> tuple[bytes, float, float, int]:
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tandem", "fraud", "scan", str(path), "--json"],
        env=_tree_env(src),
        cwd=_NEUTRAL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if status != 0:
        raise SystemExit(f"tandem fraud scan failed in {src} (status {status})")
    return out, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def _run_inner(src: Path, path: Path, rounds: int) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", _INNER, str(path), str(DATA / "fraud.toml"), str(rounds)],
        env=_tree_env(src),
        cwd=_NEUTRAL,
        capture_output=True,
        check=False,
    )
    if proc.returncode:
        raise SystemExit(f"the scan failed in {src}: {proc.stderr.decode()[-2000:]}")
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def _loadavg() -> str:
    """The machine's load averages (1, 5 and 15 minutes), '?' where not known."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def bench_compare(cdrs: int, rounds: int, baseline: Path, data: Path | None) -> None:
    """This tree against ``baseline`` (a source tree), side by side in one run."""
    here = Path(__file__).resolve().parents[1]
    load_at_start = _loadavg()
    with tempfile.TemporaryDirectory() as tmp:
        path = data if data is not None else Path(tmp) / "cdrs.parquet"
        if not path.exists():
            raw = generate_traffic(
                2, calls=cdrs, days=max(1, cdrs // 700_000), fraud=list(PATTERNS)
            )
            pq.write_table(raw, path)
        n = pq.ParquetFile(path).metadata.num_rows
        trees = {"baseline": baseline, "this tree": here}
        for src in trees.values():
            _check_tree(src)
        cli: dict[str, list[tuple[float, float, int]]] = {k: [] for k in trees}
        outputs: dict[str, bytes] = {}
        for _ in range(rounds):  # alternate the trees: both see the same load
            for name, src in trees.items():
                out, wall, cpu, rss = _run_cli(src, path)
                cli[name].append((wall, cpu, rss))
                if outputs.setdefault(name, out) != out:
                    raise SystemExit(f"{name}: two runs printed different alerts")
        inner = {name: _run_inner(src, path, rounds) for name, src in trees.items()}
    base_json, new_json = (json.loads(outputs[k]) for k in trees)
    same_counts = (
        len(base_json["alerts"]) == len(new_json["alerts"])
        and base_json["by_rule"] == new_json["by_rule"]
        and inner["baseline"]["by_rule"] == inner["this tree"]["by_rule"]
    )
    identical = outputs["baseline"] == outputs["this tree"]

    def med(values: list[float]) -> float:
        return statistics.median(values)

    rows: list[tuple[str, float, float]] = []
    for label, pick in (("wall", 0), ("CPU (user + system, all threads)", 1)):
        rows.append(
            (
                f"`tandem fraud scan FILE --json`, {label}",
                med([r[pick] for r in cli["baseline"]]),
                med([r[pick] for r in cli["this tree"]]),
            )
        )
    for label, pick in (("wall", 0), ("CPU", 1)):
        rows.append(
            (
                f"scan alone (table in memory), {label}",
                med([r[pick] for r in inner["baseline"]["rounds"]]),  # type: ignore[index]
                med([r[pick] for r in inner["this tree"]["rounds"]]),  # type: ignore[index]
            )
        )
    print(
        f"\nCompare: {n:,} CDRs ({path.name}), baseline {baseline} vs this tree, "
        f"medians of {rounds} rounds (alternating)"
    )
    print("| what | baseline s | baseline CDRs/s | this tree s | this tree CDRs/s | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for what, b, t in rows:
        print(f"| {what} | {b:.2f} | {n / b:,.0f} | {t:.2f} | {n / t:,.0f} | {b / t:.2f}x |")
    for label, values in (("`tandem fraud scan`", cli),):
        b_rss = max(r[2] for r in values["baseline"])
        t_rss = max(r[2] for r in values["this tree"])
        print(f"| {label} peak RSS | {b_rss / 2**30:.2f} GiB | | {t_rss / 2**30:.2f} GiB | | "
              f"{b_rss / t_rss:.2f}x |")  # fmt: skip
    b_in, t_in = inner["baseline"]["rss"], inner["this tree"]["rss"]
    print(f"| scan alone, peak RSS (table included) | {b_in / 2**30:.2f} GiB | | "  # type: ignore[operator]
          f"{t_in / 2**30:.2f} GiB | | {b_in / t_in:.2f}x |")  # type: ignore[operator]  # fmt: skip
    print(f"alerts: baseline {len(base_json['alerts'])} episodes {base_json['by_rule']}")
    print(f"alerts: this tree {len(new_json['alerts'])} episodes {new_json['by_rule']}")
    print(f"same alert counts: {'yes' if same_counts else 'NO'}; "
          f"--json output identical: {'yes' if identical else 'NO'}")  # fmt: skip
    e2e = n / med([r[0] for r in cli["this tree"]])
    print(f"target >= 1,000,000 CDRs/s end to end (wall): {e2e:,.0f} -> "
          f"{'met' if e2e >= 1_000_000 else 'not met'}")  # fmt: skip
    print(f"load average (1, 5, 15 min) at the start: {load_at_start}; at the end: {_loadavg()}")
    if not (same_counts and identical):
        raise SystemExit("the trees disagree on the alerts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a quick smoke run")
    parser.add_argument("--cdrs", type=int, default=5_000_000)
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--rate", type=float, default=200.0, help="call attempts per second (decisions)"
    )
    parser.add_argument("--only", choices=["decisions", "scan", "compare"], default=None)
    parser.add_argument(
        "--baseline-src", type=Path, help="compare: the source tree to compare against"
    )
    parser.add_argument(
        "--data", type=Path, help="compare: the Parquet file of CDRs (written when missing)"
    )
    args = parser.parse_args()
    if args.only == "compare":
        if args.baseline_src is None:
            parser.error("--only compare needs --baseline-src DIR")
        bench_compare(args.cdrs, args.rounds, args.baseline_src, args.data)
        return
    if args.small:
        args.cdrs, args.decisions = 200_000, 20_000
    if args.only in (None, "decisions"):
        bench_decisions(args.decisions, args.rounds, args.rate)
    if args.only in (None, "scan"):
        bench_scan(args.cdrs, args.rounds)


if __name__ == "__main__":
    main()
