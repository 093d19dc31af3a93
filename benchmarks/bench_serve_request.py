"""The Python cost of one ``GET /route`` in ``tandem serve http``, in process: the request
Kamailio's ``http302.cfg`` sends (``format=sip``, the number escaped, ``source_ip``) fed to
the server's protocol with a fake transport, on the table of ``bench_kamailio.py``.

    python benchmarks/bench_serve_request.py --workdir /tmp/kam13c
    python benchmarks/bench_serve_request.py --workdir /tmp/kam13c --tree /tmp/base --rounds 11

Two figures per round, each the median of its runs: **warm**, a loop of 10,000 requests (5
runs); **after a pause**, 3,000 requests each timed alone after a 100 µs sleep: the state of
the server in the Kamailio benchmark, where Kamailio runs between two requests on the same
core and the server finds its caches cold. ``--tree DIR`` runs another checkout's Tandem
(e.g. the base of an A/B: ``git archive BASE | tar -x -C DIR``); with ``--tree`` given twice,
the trees take turns, ``--rounds`` times, one process per turn, and the medians and the
median ratio of each turn's pair are printed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(workdir: Path) -> tuple[float, float]:
    """``(warm µs, after-a-pause µs)`` per request with the Tandem on ``sys.path``."""
    import gc
    import time

    from tandem.calls import Calls
    from tandem.lcr.policy import load_config
    from tandem.lcr.router import Router
    from tandem.lcr.table import RoutingTable
    from tandem.serve import http
    from tandem.serve.metrics import Metrics
    from tandem.serve.service import RouteService
    from tandem.state import MemoryCounters

    table_path = workdir / "routes.tdm"
    router = Router(RoutingTable.load(table_path), plan=load_config(workdir / "routing.toml"))
    calls = Calls(router, counters=MemoryCounters())
    service = RouteService(router, table_path, metrics=Metrics("http"), calls=calls,
                           keep_calls=True, lifecycle_json=False)  # fmt: skip
    numbers = (workdir / "numbers.txt").read_text().split()[:2000]
    requests = [
        (f"GET /route?format=sip&number=%2b{n.lstrip('+')}&source_ip=127.0.0.1 HTTP/1.1\r\n"
         "Host: 127.0.0.1:8080\r\nUser-Agent: kamailio (5.6.3 (x86_64/linux))\r\n"
         "Accept: */*\r\n\r\n").encode()
        for n in numbers
    ]  # fmt: skip

    class Sink:
        def write(self, data: bytes) -> None:
            pass

        def is_closing(self) -> bool:
            return False

        def close(self) -> None:
            pass

    proto = http._HttpProtocol(http.HttpApi(service), set())
    proto.connection_made(Sink())  # type: ignore[arg-type]
    gc.freeze()
    feed = proto.data_received
    for i in range(4000):
        feed(requests[i % 2000])
    warm = []
    for _ in range(5):
        t0 = time.perf_counter()
        for i in range(10_000):
            feed(requests[i % 2000])
        warm.append((time.perf_counter() - t0) / 10_000 * 1e6)
    cold = []
    for i in range(3000):
        time.sleep(0.0001)
        t0 = time.perf_counter()
        feed(requests[i % 2000])
        cold.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(warm), statistics.median(cold)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--workdir", type=Path, required=True,
        help="bench_kamailio.py's --workdir (routes.tdm, routing.toml, numbers.txt)",
    )  # fmt: skip
    ap.add_argument("--tree", action="append", type=Path, help="a checkout (default: this one)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        warm, cold = measure(args.workdir)
        print(f"{warm:.2f} {cold:.2f}")
        return
    trees = args.tree or [ROOT]
    figures: dict[Path, list[tuple[float, float]]] = {t: [] for t in trees}
    for _ in range(args.rounds):
        for tree in trees:
            out = subprocess.run(
                [sys.executable, "-c", "import runpy, sys; sys.path.insert(0, sys.argv[1]); "
                 "sys.argv = [sys.argv[2], '--one', '--workdir', sys.argv[3]]; "
                 "runpy.run_path(sys.argv[0], run_name='__main__')",
                 str(tree), __file__, str(args.workdir)],
                capture_output=True, text=True, check=True,
            ).stdout.split()  # fmt: skip
            figures[tree].append((float(out[0]), float(out[1])))
            print(f"{tree}: warm {out[0]} µs, after a pause {out[1]} µs", flush=True)
    for tree, rows in figures.items():
        warm = statistics.median(r[0] for r in rows)
        cold = statistics.median(r[1] for r in rows)
        print(f"{tree}: medians warm {warm:.1f} µs, after a pause {cold:.1f} µs ({len(rows)} runs)")
    if len(trees) == 2:
        a, b = figures[trees[0]], figures[trees[1]]
        for k, name in ((0, "warm"), (1, "after a pause")):
            ratio = statistics.median(x[k] / y[k] for x, y in zip(a, b, strict=True))
            print(f"{name}: {trees[0].name} / {trees[1].name}, median of the pairs' ratios "
                  f"{ratio:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
