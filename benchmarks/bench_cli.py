"""CLI start-up benchmark: wall time of ``python -m tandem --help``.

    python benchmarks/bench_cli.py [--runs 10] [--compare OTHER_CHECKOUT]

Runs ``python -m tandem --help`` ``--runs`` times from this checkout (``-m`` puts the
working directory first on the path, so the checkout's own code runs) and prints the
median wall time and the median CPU time of the process (user + system: less sensitive
to other load on the machine than wall time), with two baselines measured in the same
run, interleaved: the bare interpreter (``python -c pass``) and ``import click``.
``--compare DIR`` times another checkout too (e.g. the code before a change), interleaved
with this one so both see the same load.
Bounded: about 1 s per run and command.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _once(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``argv``."""
    cpu, started = _cpu(), time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started, _cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--compare", type=Path, help="Another checkout to time the same way.")
    args = parser.parse_args()

    python = sys.executable
    jobs: dict[str, tuple[list[str], Path]] = {
        "python -c pass": ([python, "-c", "pass"], ROOT),
        "python -c 'import click'": ([python, "-c", "import click"], ROOT),
        f"tandem --help ({ROOT})": ([python, "-m", "tandem", "--help"], ROOT),
    }
    if args.compare is not None:
        other = args.compare.resolve()
        jobs[f"tandem --help ({other})"] = ([python, "-m", "tandem", "--help"], other)
    for argv, cwd in jobs.values():  # warm the page cache and the .pyc files
        _once(argv, cwd)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in jobs}
    for _ in range(args.runs):
        for name, (argv, cwd) in jobs.items():
            times[name].append(_once(argv, cwd))
    print(f"{'command':<50} {'wall median':>12} {'min':>6} {'max':>6} {'CPU median':>11}")
    for name, runs in times.items():
        wall = [w for w, _ in runs]
        cpu = [c for _, c in runs]
        print(
            f"{name:<50} {statistics.median(wall) * 1000:9.0f} ms {min(wall) * 1000:6.0f}"
            f" {max(wall) * 1000:6.0f} {statistics.median(cpu) * 1000:8.0f} ms"
        )
    print(f"{args.runs} runs of each, interleaved")


if __name__ == "__main__":
    main()
