"""The main thread's CPU and page faults per batch of a ``tandem rate`` run.

    python benchmarks/trace_rate_main.py [-v] -- --db STORE rate CDRS.parquet -o OUT --json -q

Runs the ``tandem`` command in this process (the checkout this file is in, or the one on
``PYTHONPATH`` first), with :meth:`Rater.price`, :meth:`RatingSummary.add`,
``fastrate.price_side`` and ``fastrate.plain_keys`` wrapped: each call's wall time, the
calling thread's CPU time (``time.thread_time``) and its minor page faults
(``getrusage(RUSAGE_THREAD)``). Prints their totals on the main thread (``-v``: every
call, with its start and end in seconds from the launch) and the process's peak RSS, on
stderr, when the command exits. Set ``PYTHONPYCACHEPREFIX`` (and unset
``PYTHONDONTWRITEBYTECODE``) as ``bench_rate_e2e.py`` does, or every run compiles Tandem.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from typing import Any

T0 = time.perf_counter()
EVENTS: list[tuple[str, str, float, float, float, int]] = []


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt


def _wrap(owner: Any, name: str) -> None:
    f = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        t, c, m = time.perf_counter(), time.thread_time(), _faults()
        try:
            return f(*args, **kwargs)
        finally:
            EVENTS.append(
                (
                    threading.current_thread().name,
                    name,
                    t - T0,
                    time.perf_counter() - T0,
                    time.thread_time() - c,
                    _faults() - m,
                )
            )

    setattr(owner, name, timed)


def _report(verbose: bool) -> None:
    totals: dict[str, list[float]] = {}
    for thread, name, start, end, cpu, faults in EVENTS:
        if verbose:
            sys.stderr.write(
                f"{thread:12s} {name:12s} {start:.3f} {end:.3f} wall {1e3 * (end - start):6.1f}"
                f" cpu {1e3 * cpu:6.1f} ms faults {faults}\n"
            )
        if thread == "MainThread":
            total = totals.setdefault(name, [0, 0.0, 0])
            total[0] += 1
            total[1] += cpu
            total[2] += faults
    for name, (calls, cpu, faults) in totals.items():
        sys.stderr.write(
            f"main thread {name:12s} calls {int(calls):3d} cpu {1e3 * cpu:7.1f} ms"
            f" faults {int(faults)}\n"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    sys.stderr.write(f"exit at {time.perf_counter() - T0:.3f} s, peak RSS {peak} MB\n")


def main() -> None:
    args = sys.argv[1:]
    verbose = bool(args) and args[0] == "-v"
    args = args[1:] if verbose else args
    if args and args[0] == "--":
        args = args[1:]
    import tandem.cli.main
    from tandem.rating import fastrate
    from tandem.rating.price import Rater, RatingSummary

    _wrap(Rater, "price")
    _wrap(RatingSummary, "add")
    _wrap(fastrate, "price_side")
    _wrap(fastrate, "plain_keys")
    real_exit = os._exit

    def exit_reporting(code: int) -> None:  # the command ends by os._exit (no teardown)
        _report(verbose)
        real_exit(code)

    os._exit = exit_reporting  # type: ignore[assignment]
    sys.argv = ["tandem", *args]
    try:
        tandem.cli.main.main()
    finally:
        _report(verbose)


if __name__ == "__main__":
    main()
