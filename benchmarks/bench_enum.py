"""ENUM benchmark: cached lookup cost, uncached latency against a loopback NSD, and the
cost of a black-holed server versus the time budget.

    python benchmarks/bench_enum.py [--numbers 2000] [--runs 5]

Starts NSD (Debian package ``nsd``) on a free loopback port with a generated zone of
``--numbers`` ENUM names (several NAPTRs each, a third of them ported, a third on-net, a
third dipped), runs each measurement ``--runs`` times and prints medians with a baseline
measured in the same run. Bounded: about 20 s on a small machine.
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dns.e164
import dns.message
import dns.query
import dns.rdatatype
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tandem.enum.local import LocalPortTable, PortEntry  # noqa: E402
from tandem.enum.resolver import EnumResolver, Server  # noqa: E402


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_zone(numbers: list[str]) -> str:
    lines = [
        "$ORIGIN e164.arpa.",
        "$TTL 300",
        "@ 3600 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60",
        "@ IN NS ns.test.",
    ]
    for i, number in enumerate(numbers):
        owner = dns.e164.from_e164("+" + number).to_text()
        if i % 3 == 0:
            lines.append(
                f'{owner} IN NAPTR 10 10 "u" "E2U+pstn:tel" '
                f'"!^(.*)$!tel:\\\\1;npdi;rn=+1999{number[-7:]}!" .'
            )
        elif i % 3 == 1:
            lines.append(
                f'{owner} IN NAPTR 10 10 "u" "E2U+sip" "!^\\\\+(.*)$!sip:\\\\1@core.example.net!" .'
            )
        else:
            lines.append(f'{owner} IN NAPTR 10 10 "u" "E2U+pstn:tel" "!^(.*)$!tel:\\\\1;npdi!" .')
        lines.append(f'{owner} IN NAPTR 20 10 "u" "E2U+sip" "!^.*$!sip:backup@example.net!" .')
    return "\n".join(lines) + "\n"


def start_nsd(workdir: Path, numbers: list[str]) -> tuple[subprocess.Popen, Server]:
    binary = shutil.which("nsd") or "/usr/sbin/nsd"
    port = free_port()
    (workdir / "e164.zone").write_text(make_zone(numbers))
    (workdir / "nsd.conf").write_text(
        f"""server:
  ip-address: 127.0.0.1
  port: {port}
  username: ""
  chroot: ""
  zonesdir: "{workdir}"
  database: ""
  pidfile: "{workdir}/nsd.pid"
  logfile: "{workdir}/nsd.log"
  xfrdfile: "{workdir}/xfrd.state"
  zonelistfile: "{workdir}/zone.list"
  xfrdir: "{workdir}"
  server-count: 1
remote-control:
  control-enable: no
zone:
  name: "e164.arpa"
  zonefile: "e164.zone"
"""
    )
    proc = subprocess.Popen(
        [binary, "-d", "-c", str(workdir / "nsd.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    q = dns.message.make_query("e164.arpa.", dns.rdatatype.SOA)
    deadline = time.monotonic() + 15
    while True:
        try:
            if dns.query.udp(q, "127.0.0.1", port=port, timeout=0.2).answer:
                break
        except Exception:  # noqa: BLE001 - not up yet
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("nsd did not start (apt-get install nsd)")
        time.sleep(0.05)
    return proc, Server("127.0.0.1", port)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def bench_cached(server: Server, numbers: list[str], runs: int) -> tuple[float, float]:
    resolver = EnumResolver([server], budget_ms=1000)
    sample = numbers[:200]
    for n in sample:
        resolver.lookup(n)
    table = LocalPortTable(PortEntry(n, "1999" + n[-7:]) for n in numbers)
    loops = 50
    ours, base = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(loops):
            for n in sample:
                resolver.lookup(n)
        ours.append((time.perf_counter() - t0) / (loops * len(sample)) * 1e6)
        t0 = time.perf_counter()
        for _ in range(loops):
            for n in sample:
                table.lookup(n)
        base.append((time.perf_counter() - t0) / (loops * len(sample)) * 1e6)
    return statistics.median(ours), statistics.median(base)


def bench_uncached(server: Server, numbers: list[str], runs: int) -> dict[str, float]:
    resolver = EnumResolver([server], budget_ms=1000)
    ours: list[float] = []
    base: list[float] = []
    kinds: dict[str, int] = {}
    per_run = numbers[: max(1, len(numbers) // runs)]
    for _ in range(runs):
        for n in per_run:
            t0 = time.perf_counter()
            info = resolver.resolve(n, use_cache=False).info
            ours.append((time.perf_counter() - t0) * 1000)
            kinds[info.kind.value] = kinds.get(info.kind.value, 0) + 1
            q = dns.message.make_query(dns.e164.from_e164("+" + n), dns.rdatatype.NAPTR)
            t0 = time.perf_counter()
            dns.query.udp(q, server.host, port=server.port, timeout=1)
            base.append((time.perf_counter() - t0) * 1000)
    return {
        "p50": pct(ours, 50),
        "p90": pct(ours, 90),
        "p99": pct(ours, 99),
        "max": max(ours),
        "base_p50": pct(base, 50),
        "base_p90": pct(base, 90),
        "base_p99": pct(base, 99),
        "base_max": max(base),
        "count": len(ours),
        "kinds": kinds,  # type: ignore[dict-item]
    }


def bench_blackhole(budget_ms: float, lookups: int) -> list[float]:
    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never read: silence
    hole.bind(("127.0.0.1", 0))
    resolver = EnumResolver([Server("127.0.0.1", hole.getsockname()[1])], budget_ms=budget_ms)
    took = []
    for i in range(lookups):
        t0 = time.perf_counter()
        info = resolver.lookup(f"+4420712345{i:02d}")
        took.append((time.perf_counter() - t0) * 1000)
        assert info.kind.value == "timeout", info
    took.sort()
    hole.close()
    return took


def bench_vectorised(numbers: list[str], runs: int) -> tuple[float, float, int]:
    rng = random.Random(7)
    table = LocalPortTable(
        [PortEntry(n, "1999" + n[-7:]) for n in numbers]
        + [PortEntry("1303" + str(b), "1888" + str(b)) for b in range(100, 200)]
    )
    calls = [
        rng.choice(numbers) if rng.random() < 0.3 else f"1303{rng.randrange(10**7):07d}"
        for _ in range(200_000)
    ]
    series = pd.Series(calls)
    ours, base = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        got = table.routing_numbers(series)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        scalar = [table.lookup(c).routing_number for c in calls]
        base.append(time.perf_counter() - t0)
    assert [None if pd.isna(v) else v for v in got] == scalar
    return statistics.median(ours), statistics.median(base), len(calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(42)
    numbers = sorted({f"1202{rng.randrange(10**7):07d}" for _ in range(args.numbers)})
    with tempfile.TemporaryDirectory() as tmp:
        proc, server = start_nsd(Path(tmp), numbers)
        try:
            cached, local = bench_cached(server, numbers, args.runs)
            unc = bench_uncached(server, numbers, args.runs)
        finally:
            proc.terminate()
            proc.wait(5)
    holes = {b: bench_blackhole(b, 50) for b in (10.0, 50.0)}
    vec, loop, n_vec = bench_vectorised(numbers, 3)

    print(f"ENUM benchmark: {len(numbers)} ENUM names in a loopback NSD, {args.runs} runs\n")
    print(f"{'measurement':<44} {'tandem':>12} {'baseline':>12} {'ratio':>7}")
    print(
        f"{'cached lookup, median (us/lookup)':<44} {cached:>12.2f} {local:>12.2f} "
        f"{cached / local:>7.2f}   baseline: LocalPortTable.lookup (in-memory)"
    )
    for p in ("p50", "p90", "p99", "max"):
        ours, base = unc[p], unc[f"base_{p}"]
        print(
            f"{'uncached lookup vs NSD, ' + p + ' (ms)':<44} {ours:>12.3f} {base:>12.3f} "
            f"{ours / base:>7.2f}   baseline: bare dns.query.udp"
        )
    print(f"  ({unc['count']} uncached lookups: {unc['kinds']})")
    for budget, took in holes.items():
        print(
            f"{f'black-holed server, budget {budget:.0f} ms: median':<44} "
            f"{statistics.median(took):>12.2f} {budget:>12.2f} "
            f"{statistics.median(took) / budget:>7.2f}   baseline: the budget"
        )
        for label, value in (("p99", pct(took, 99)), ("max", max(took))):
            print(
                f"{f'black-holed server, budget {budget:.0f} ms: {label}':<44} "
                f"{value:>12.2f} {budget:>12.2f} {value / budget:>7.2f}"
            )
    print(
        f"{f'routing_numbers, {n_vec:,} numbers (ms)':<44} {vec * 1000:>12.1f} "
        f"{loop * 1000:>12.1f} {vec / loop:>7.2f}   baseline: scalar lookup loop"
    )


if __name__ == "__main__":
    main()
