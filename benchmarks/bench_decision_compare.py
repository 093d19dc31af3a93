"""bench_decision.py's in-process figures for two trees, side by side in one sitting.

    python benchmarks/bench_decision_compare.py --baseline /tmp/base-decision12
    python benchmarks/bench_decision_compare.py --baseline DIR --runs 5 --small
    python benchmarks/bench_decision_compare.py --baseline DIR --also DIR2 --no-python-loop

The baseline is the main tree (``git -C /work/main archive main | tar -x -C DIR``). Runs
alternate (baseline, this tree with the C loop, this tree with the Python loop; the order
rotating), each a fresh ``bench_decision.py --no-redis`` process with ``PYTHONPATH`` set to
its tree, so that load on the machine falls on all alike; the table gives, per variant, the
median over the runs of each run's median microseconds, and the extra on top of the
router ("on top") with the ratio to the baseline's. The load average is printed with
every run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def run(tree: Path, extra: list[str], timeout: float) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    script = tree / "benchmarks" / "bench_decision.py"
    if "--steady" in extra:  # this tree's script (the baseline's may lack --steady)
        script = HERE / "benchmarks" / "bench_decision.py"
        env["TANDEM_BENCH_TREE"] = str(tree)
    cmd = [sys.executable, str(script), "--no-redis", *extra]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                         check=True, cwd=tree).stdout  # fmt: skip
    medians: dict[str, float] = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[1].replace(".", "").isdigit():
            medians[cells[0]] = float(cells[1])
    return medians


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", required=True, type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument(
        "--steady", action="store_true",
        help="also the variants timed one at a time (bench_decision.py --steady; this "
        "tree's script runs on every tree then)",
    )  # fmt: skip
    ap.add_argument(
        "--also", type=Path, action="append", default=[],
        help="another tree run alongside (e.g. the previous branch's), after this tree's C loop",
    )  # fmt: skip
    ap.add_argument("--no-python-loop", action="store_true",
                    help="leave out this tree with the Python loop")  # fmt: skip
    args = ap.parse_args()
    extra = ["--small"] if args.small else []
    if args.steady:
        extra.append("--steady")
    configs = {
        "baseline": (args.baseline, extra),
        "this tree (C loop)": (HERE, extra),
    }
    for tree in args.also:
        configs[f"{tree.name}"] = (tree, extra)
    if not args.no_python_loop:
        configs["this tree (Python loop)"] = (HERE, [*extra, "--python-loop"])
    results: dict[str, list[dict[str, float]]] = {k: [] for k in configs}
    names = list(configs)
    for i in range(args.runs):
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            tree, flags = configs[name]
            t = time.perf_counter()
            load = os.getloadavg()[0]
            results[name].append(run(tree, flags, args.timeout))
            print(f"# run {i + 1} {name}: {time.perf_counter() - t:.0f} s, load {load:.2f}",
                  flush=True)  # fmt: skip
    variants = list(results["baseline"][0])
    med = {
        name: {v: statistics.median(r[v] for r in runs) for v in variants}
        for name, runs in results.items()
    }
    print(f"\nmedian of {args.runs} runs' medians (us per decision); load now "
          f"{os.getloadavg()[0]:.2f}\n")  # fmt: skip
    head = " | ".join(f"{n} us | on top" for n in names)
    print(f"| variant | {head} | baseline on top / ours (C loop) |")
    print("|---|" + "---:|---:|" * len(names) + "---:|")
    for v in variants:
        cells = []
        router = "router, steady" if v.endswith(", steady") else "router"
        for n in names:
            us = med[n][v]
            cells.append(f"{us:.2f} | {us - med[n][router]:+.2f}")
        base = med["baseline"][v] - med["baseline"][router]
        ours = med[names[1]][v] - med[names[1]][router]
        ratio = f"{base / ours:.2f}" if v != router and ours > 0 else ""
        print(f"| {v} | " + " | ".join(cells) + f" | {ratio} |")


if __name__ == "__main__":
    main()
