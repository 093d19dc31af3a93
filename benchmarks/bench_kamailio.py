"""Kamailio + Tandem under SIPp load: INVITE -> 302 on loopback at rising rates.

    python benchmarks/bench_kamailio.py                 # 40 carriers x 150,000 prefixes
    python benchmarks/bench_kamailio.py --small         # 4 x 15,000: a quick smoke run
    python benchmarks/bench_kamailio.py --cases a,c --rates 500,1000,2000 --seconds 4

One Kamailio worker (``children=1``) pinned to CPU 0 with taskset, SIPp pinned to CPU 1.
For each case, SIPp sends INVITEs (numbers drawn from the table's prefixes) at each rate of
``--rates`` for ``--seconds`` seconds; a step passes when no call failed and at most 1% of
the INVITEs were retransmitted (not answered within SIPp's 500 ms timer); the case's
figure is the highest rate SIPp achieved (its cumulative CallRate, which falls short of
the rate asked once SIPp's own core or the answers hold it back) in a passing step; the
ramp stops at the first failing step. Each step also gives the CPU time of Kamailio's
processes (and of the Tandem server in case d) per call: the cost of a call, which other
load on a shared machine disturbs less than the highest rate. Cases, in one run:

* (a) a trivial app_python3 KEMI route: a 302 with five fixed Contacts, no lookup
  (benchmarks/kamailio/trivial_kemi.py);
* (b) Kamailio's native ``mtree`` module (an in-memory prefix tree) on the same prefixes,
  each holding the routes Tandem gives that prefix, precomputed (one longest-prefix match
  and a 302 per INVITE; benchmarks/kamailio/mtree.cfg);
* (l) optional (``--cases l``): Kamailio's ``lcr`` module, one rule per prefix and one rule
  target per carrier and prefix (priority: the carrier's rank by rate), from db_text files
  (benchmarks/kamailio/lcr.cfg). It loads the --small table (60,000 targets) in about 5 s
  but did not finish loading the 6,000,000 targets of 40 x 150,000 in 15 minutes;
* (c) Kamailio + Tandem in-process (examples/kamailio/kamailio.cfg, redirect mode) on
  the compiled table of the same rates;
* (d) Kamailio asking ``tandem serve http`` with http_client over one kept-alive
  connection for ``format=sip`` (the SIP answer as text), a reply of the lines it gets as
  they are: nothing to parse (benchmarks/kamailio/http302.cfg);
* (j) the same with ``format=rtjson``: the routes read from the JSON document with
  jansson into the 302's Contacts (``-A RTJSON``: the way (d) asked until format=sip);
* (h) the baseline of (d), a blocking HTTP lookup: the same config with a new TCP
  connection per INVITE (``http_client_query`` of a URL, ``-A NEWCONN``) and rtjson to a
  trivial server that answers every request with the same five routes
  (benchmarks/kamailio/trivial_http.py), as measured before format=sip;
* (s) the same as (h) with ``format=sip`` (the trivial server's five routes as text): the
  baseline that differs from (d) only by the new connection and the trivial server;
* (n) a new connection per INVITE and rtjson, to ``tandem serve http`` (Tandem's answers).

The HTTP servers of (d), (j), (h), (s) and (n) are separate processes: ``--server-cpu``
says where they run (default 0, Kamailio's core; 1 is SIPp's). Their CPU counts in the CPU per call.
``--udp-buffer`` (default 4 MiB) gives every Kamailio (``-b``) and every SIPp
(``-buff_size``) that UDP receive buffer (the kernel caps it at net.core.rmem_max; SIPp's
own default is 64 KiB, Kamailio's about 200 KiB): with the defaults, a stall of a few tens
of milliseconds of either process's core (another process's turn on a shared machine)
overflows the socket, the datagrams are dropped, and SIPp retransmits the INVITE 500 ms
later; a step then fails on drops, not on late answers. A deployment raises them too.
``--tlsf`` starts every Kamailio with ``-x tlsf`` (the TLSF allocator for shared memory:
the xavps that http302.cfg decodes the routes into live there).

Then the memory of each Kamailio worker (RSS and PSS from /proc/PID/smaps_rollup) with the
big table mapped, with ``--memory-workers`` workers (default 4) after a short load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_lcr import MILLI, make_pool  # noqa: E402

from tandem.lcr import compile_rates  # noqa: E402
from tests.kamailio.harness import (  # noqa: E402
    EXAMPLES,
    Kamailio,
    TandemServer,
    free_port,
    run_sipp,
    tools,
)

HERE = Path(__file__).resolve().parent / "kamailio"
UNTIL = 4_102_444_800
#: The cases whose answers are Tandem's routes: each is checked first (CHECK_CALLS INVITEs,
#: every answer compared with Tandem's decision) before it is timed.
CHECKED = ("b", "c", "d", "j", "n")
CHECK_CALLS = 300


def build(workdir: Path, carriers: int, prefixes: int, pool_size: int) -> dict:
    """The rates (cached in ``workdir``): the Tandem snapshot and routing config, the lcr
    db_text tables of the same entries, and numbers to dial."""
    sizes = {"carriers": carriers, "prefixes": prefixes, "pool": pool_size}
    meta_file = workdir / "sizes.json"
    out = {
        "table": workdir / "routes.tdm",
        "config": workdir / "routing.toml",
        "lcr": workdir / "lcr",
        "numbers": workdir / "numbers.txt",
    }
    if meta_file.exists() and json.loads(meta_file.read_text()) == sizes:
        return out
    rng = np.random.default_rng(20260101)
    pool = make_pool(rng, pool_size)
    t0 = time.perf_counter()
    frames = []
    for i in range(carriers):
        pick = rng.choice(len(pool), size=prefixes, replace=False)
        frames.append(
            pd.DataFrame(
                {"account": f"carrier{i:02d}", "kind": "carrier", "prefix": pool[pick],
                 "rate": rng.integers(1, 200, size=prefixes) * MILLI}
            )
        )  # fmt: skip
    frames.append(
        pd.DataFrame(
            {"account": "acme", "kind": "customer", "prefix": pool,
             "rate": rng.integers(150, 250, size=len(pool)) * MILLI}
        )
    )  # fmt: skip
    rates = pd.concat(frames, ignore_index=True).assign(
        currency="USD", connect_fee=0, initial_increment=60, next_increment=60,
        min_duration=0, effective_from=0, effective_until=UNTIL,
    )  # fmt: skip
    table = compile_rates(rates, 1)
    table.save(out["table"])
    print(f"table: {table}; compiled in {time.perf_counter() - t0:.0f} s", flush=True)
    lines = [f'[carriers.carrier{i:02d}]\ntrunk = "sip:10.0.{i // 250}.{i % 250 + 1}:5060"\n'
             for i in range(carriers)]  # fmt: skip
    lines.append('[customers.acme.trunks.bench]\nips = ["127.0.0.1"]\n')
    out["config"].write_text("\n".join(lines))
    # lcr: gateways, one rule per prefix, one target per (carrier, prefix) ranked by rate
    lcr = out["lcr"]
    lcr.mkdir(exist_ok=True)
    buy = rates[rates["kind"] == "carrier"].copy()
    buy["gw"] = buy["account"].str[7:].astype(int) + 1
    prefixes_sorted = sorted(set(buy["prefix"]))
    rule_id = {p: i + 1 for i, p in enumerate(prefixes_sorted)}
    buy["rule"] = buy["prefix"].map(rule_id)
    buy = buy.sort_values(["rule", "rate", "gw"])
    buy["priority"] = buy.groupby("rule").cumcount()
    schema = Path("/usr/share/kamailio/dbtext/kamailio")
    gw_head = (schema / "lcr_gw").read_text().splitlines()[0]
    rule_head = (schema / "lcr_rule").read_text().splitlines()[0]
    target_head = (schema / "lcr_rule_target").read_text().splitlines()[0]
    with open(lcr / "lcr_gw", "w") as fh:
        fh.write(gw_head + "\n")
        for i in range(carriers):
            # id lcr_id gw_name ip_addr hostname port params uri_scheme transport strip
            # prefix tag flags defunct
            fh.write(f"{i + 1}:1:carrier{i:02d}:10.0.{i // 250}.{i % 250 + 1}::5060::1:1:0:::0:0\n")
    with open(lcr / "lcr_rule", "w") as fh:
        fh.write(rule_head + "\n")
        fh.writelines(f"{rule_id[p]}:1:{p}::::0:1\n" for p in prefixes_sorted)
    with open(lcr / "lcr_rule_target", "w") as fh:
        fh.write(target_head + "\n")
        ids = np.arange(1, len(buy) + 1)
        for start in range(0, len(buy), 500_000):
            part = slice(start, start + 500_000)
            fh.writelines(
                f"{i}:1:{r}:{g}:{p}:1\n"
                for i, r, g, p in zip(
                    ids[part].tolist(), buy["rule"].to_numpy()[part].tolist(),
                    buy["gw"].to_numpy()[part].tolist(), buy["priority"].to_numpy()[part].tolist(),
                    strict=True,
                )
            )  # fmt: skip
    with open(lcr / "version", "w") as fh:
        fh.write((schema / "version").read_text().splitlines()[0] + "\n")
        fh.write("1:lcr_gw:3\n2:lcr_rule:3\n3:lcr_rule_target:1\n")
    tails = rng.integers(10**8, 10**9, size=20_000)
    picks = pool[rng.integers(0, len(pool), size=20_000)]
    numbers = ["+" + (p + str(t))[:12] for p, t in zip(picks.tolist(), tails.tolist(), strict=True)]
    out["numbers"].write_text("\n".join(numbers) + "\n")
    meta_file.write_text(json.dumps(sizes))
    print(f"lcr tables: {len(prefixes_sorted):,} rules, {len(buy):,} targets", flush=True)
    return out


def _rmem_max() -> str:
    try:
        return Path("/proc/sys/net/core/rmem_max").read_text().strip()
    except OSError:
        return "unknown"


def cpu_seconds(groups: list[int]) -> float:
    """User + system CPU seconds of every process in the process groups ``groups``
    (Kamailio and the Tandem server each run in their own session)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in groups:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


Step = tuple[int, int, int, int, float, float]  # asked, calls, answered, late, sent, us/call


def udp_drops(port: int) -> int | None:
    """Datagrams the kernel dropped at the UDP socket bound to 127.0.0.1:``port`` since it
    was opened (its receive buffer was full), from /proc/net/udp; None without one."""
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port:
            return int(fields[-1])
    return None


class DropWatch(threading.Thread):
    """The most drops seen at SIPp's socket while a step runs (it closes with SIPp)."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.most = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            self.most = max(self.most, udp_drops(self.port) or 0)


def cpu0_ticks() -> tuple[int, int]:
    """``(busy, total)`` clock ticks of CPU 0 since boot (/proc/stat): how much of
    Kamailio's core other processes took during a step (a shared machine's noise)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu0 "):
            ticks = [int(v) for v in line.split()[1:]]
            idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
            return sum(ticks) - idle, sum(ticks)
    return 0, 0


def write_mtree(data: dict) -> Path:
    """The mtree table of case (b), once: per prefix of the table, the routes Tandem gives
    a number of exactly that prefix (cheapest first, at most 5, margin protection), as
    ``HOST:PORT,...``; a dialed number's longest matching prefix then holds its routes."""
    out = data["table"].parent / "mtree"
    if (out / "mtree").exists():
        return out
    from tandem.lcr import Router, RoutingTable, load_config
    from tandem.serve.answer import contact_uri

    table = RoutingTable.load(data["table"])
    router = Router(table, plan=load_config(data["config"]))
    out.mkdir(exist_ok=True)
    schema = Path("/usr/share/kamailio/dbtext/kamailio")
    rows = 0
    with open(out / "mtree", "w") as fh:
        fh.write((schema / "mtree").read_text().splitlines()[0] + "\n")
        for prefix in table.trie.keys():  # noqa: SIM118 - a marisa-trie, not a dict
            decision = router.route("+" + prefix, customer="acme", at=1)
            hosts = [contact_uri("", r.carrier, r.trunk).split("@", 1)[1] for r in decision.routes]
            if hosts:
                rows += 1
                fh.write(f"{rows}:{prefix}:{','.join(hosts).replace(':', chr(92) + ':')}\n")
    with open(out / "version", "w") as fh:
        fh.write((schema / "version").read_text().splitlines()[0] + "\n1:mtree:1\n")
    print(f"mtree table: {rows:,} prefixes with routes", flush=True)
    return out


class TrivialLookup:
    """benchmarks/kamailio/trivial_http.py on a free loopback port (pinned to ``cpu``), in
    its own session: the blocking-lookup baseline's server (cases h and s). Another port
    when the one drawn was taken meanwhile (a case with a new connection per INVITE leaves
    thousands of loopback connections behind)."""

    def __init__(self, workdir: Path, cpu: int | None) -> None:
        for attempt in range(5):
            try:
                self._start(workdir, cpu)
                return
            except AssertionError as exc:
                if "address already in use" not in str(exc) or attempt == 4:
                    raise

    def _start(self, workdir: Path, cpu: int | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, str(HERE / "trivial_http.py"), str(self.port)]
        if cpu is not None and shutil.which("taskset"):
            args = ["taskset", "-c", str(cpu), *args]
        self.log = workdir / f"trivial-http-{self.port}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"the trivial lookup did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)


def start_tandem(data: dict, workdir: Path, cpu: int | None) -> TandemServer:
    """``tandem serve http`` on a free port (another one when the port it drew was taken
    meanwhile: case h leaves thousands of loopback connections behind)."""
    for attempt in range(5):
        server = TandemServer("http", data["table"], data["config"], workdir, cpu=cpu)
        try:
            return server.start(timeout=900)
        except AssertionError as exc:
            if "address already in use" not in str(exc) or attempt == 4:
                raise
    raise AssertionError("unreachable")


def expected_answers(data: dict, numbers: list[str]) -> dict[str, tuple[int, list[str]]]:
    """Per dialed number (without its "+"): the SIP code and the Contact URIs in order that
    Tandem's decision gives it (``tandem route`` for the benchmark's customer)."""
    from tandem.lcr import Router, RoutingTable, load_config
    from tandem.serve.answer import block_answer, contact_uri

    table = RoutingTable.load(data["table"])
    router = Router(table, plan=load_config(data["config"]))
    out = {}
    for number in numbers:
        decision = router.route(number, customer="acme", at=int(time.time()))
        if decision.blocked:
            out[number.lstrip("+")] = (block_answer(decision).code, [])
        else:
            uris = [contact_uri(decision.normalized, r.carrier, r.trunk) for r in decision.routes]
            out[number.lstrip("+")] = (302, uris)
    return out


def check_answers(k: Kamailio, sipp: str, workdir: Path, numbers: list[str],
                  expected: dict[str, tuple[int, list[str]]]) -> str:  # fmt: skip
    """Send each of ``numbers`` once (100/s, traced) and compare every answer with Tandem's
    decision: the code, and the 302's Contact URIs in order. Raises on a difference; the
    summary line otherwise."""
    run = run_sipp(sipp, k.port, workdir, [(n, "") for n in numbers], rate=100,
                   timeout=len(numbers) / 100 + 20)  # fmt: skip
    if len(run.responses) != len(numbers):
        raise AssertionError(f"{len(run.responses)} answers to {len(numbers)} INVITEs:\n{run.out}")
    codes: dict[int, int] = {}
    for response in run.responses:
        code, uris = expected[response["number"].lstrip("+")]
        got = [h.split("<", 1)[1].split(">", 1)[0] for h in response["headers"]
               if h.lower().startswith("contact:") and "<" in h]  # fmt: skip
        if response["code"] != code or (code == 302 and got != uris):
            raise AssertionError(
                f"{response['number']}: got {response['code']} {got}, Tandem says {code} {uris}"
            )
        codes[code] = codes.get(code, 0) + 1
    summary = ", ".join(f"{n} x {c}" for c, n in sorted(codes.items()))
    return f"answers checked against Tandem's decisions: {len(numbers)} INVITEs, {summary}"


def ramp(k: Kamailio, sipp: str, workdir: Path, numbers: list[str], rates: list[int],
         seconds: float, groups: list[int], buffer: int) -> list[Step]:  # fmt: skip
    """``(rate, calls, answered, late, achieved rate, CPU us per call)`` per step, until the
    first failing step (late: the failed calls, plus the retransmissions when they are
    more than 1% of the calls). The CPU is that
    of every process of ``groups`` (Kamailio's workers, timers and main, and the Tandem
    server for case d) during the step, printed split between the two."""
    rows = [(n, "") for n in numbers]
    steps = []
    for rate in rates:
        total = int(rate * seconds)
        before = [cpu_seconds([g]) for g in groups]
        busy0, total0 = cpu0_ticks()
        k_drops = udp_drops(k.port) or 0
        watch = DropWatch(free_port())
        watch.start()
        run = run_sipp(sipp, k.port, workdir, rows, calls=total, rate=rate,
                       timeout=seconds + 20, trace=False, cpu=1, buffer=buffer,
                       local_port=watch.port)  # fmt: skip
        watch.done.set()
        watch.join()
        k_drops = (udp_drops(k.port) or 0) - k_drops
        parts = [cpu_seconds([g]) - b for g, b in zip(groups, before, strict=True)]
        ours = sum(parts)
        busy1, total1 = cpu0_ticks()
        per_call = ours / max(total, 1) * 1e6
        span = max(total1 - total0, 1)
        busy = (busy1 - busy0) / span
        others = max(0.0, busy - ours * os.sysconf("SC_CLK_TCK") / span)
        # a step fails when a call failed, or more than 1% of the INVITEs had to be sent
        # again (no answer within SIPp's 500 ms retransmission timer: on a shared machine
        # a few are noise, many are an overloaded proxy)
        late = run.failed + (run.retransmissions if run.retransmissions > total // 100 else 0)
        steps.append((rate, total, run.successful, late, run.rate, per_call))
        names = ("Kamailio", "server")
        split = " + ".join(
            f"{name} {part / max(total, 1) * 1e6:.0f}"
            for name, part in zip(names, parts, strict=False)
        )
        print(f"  {rate:>6}/s asked, {run.rate:7.0f}/s sent: {total} calls, {run.successful} "
              f"answered, {run.failed} failed, {run.retransmissions} retransmissions; "
              f"{per_call:.0f} us CPU per call ({split}); CPU 0 busy {busy:.0%}, other processes "
              f"{others:.0%}; datagrams dropped by full sockets: Kamailio's {k_drops}, "
              f"SIPp's {watch.most}", flush=True)  # fmt: skip
        if late or run.successful != total:
            break
    return steps


def best(steps: list[Step]) -> tuple[float, float]:
    """The highest rate SIPp achieved in a passing step, and the CPU microseconds per call
    in that step (at low rates the timers' fixed cost weighs on each call)."""
    ok = [(sent, us) for _r, total, good, bad, sent, us in steps if bad == 0 and good == total]
    if not ok:
        return 0.0, 0.0
    return max(ok)


def same_step(a: list[Step], b: list[Step]) -> tuple[int, float, float] | None:
    """The highest rate asked at which both ramps passed, and the CPU microseconds per call
    of each there (the same rate: the same share of the timers' fixed cost per call)."""
    passed_a = {r: us for r, total, good, bad, _sent, us in a if bad == 0 and good == total}
    passed_b = {r: us for r, total, good, bad, _sent, us in b if bad == 0 and good == total}
    common = sorted(set(passed_a) & set(passed_b))
    if not common:
        return None
    return common[-1], passed_a[common[-1]], passed_b[common[-1]]


def children_memory(main_pid: int) -> list[tuple[int, float, float]]:
    """``(pid, RSS MB, PSS MB)`` of every process of the Kamailio whose main is ``main_pid``
    (the taskset wrapper exec()s kamailio, so the main keeps the Popen pid)."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid != main_pid and int(proc.name) != main_pid:
                continue
            fields = {}
            for line in (proc / "smaps_rollup").read_text().splitlines()[1:]:
                name, value = line.split(":", 1)
                fields[name] = int(value.split()[0]) / 1024
            out.append((int(proc.name), fields.get("Rss", 0.0), fields.get("Pss", 0.0)))
        except (OSError, IndexError, ValueError):
            continue
    return sorted(out, key=lambda row: -row[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--carriers", type=int, default=40)
    ap.add_argument("--prefixes", type=int, default=150_000)
    ap.add_argument("--pool", type=int, default=250_000)
    ap.add_argument("--small", action="store_true", help="4 carriers x 15,000 of 25,000")
    ap.add_argument("--cases", default="a,b,c,d")
    ap.add_argument("--rates", default="500,1000,1500,2000,3000,4000,5000,6000,8000,10000")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--memory-workers", type=int, default=4)
    ap.add_argument("--workdir", help="keep (and reuse) the generated tables here")
    ap.add_argument(
        "--server-cpu",
        type=int,
        default=0,
        help="CPU of the HTTP servers of cases d, j, h, s and n (default 0: Kamailio's)",
    )
    ap.add_argument("--tlsf", action="store_true", help="kamailio -x tlsf in every case")
    ap.add_argument(
        "--udp-buffer",
        type=int,
        default=4_194_304,
        help="UDP socket receive buffer (bytes) of every Kamailio (-b) and SIPp (-buff_size); "
        "the kernel caps it at net.core.rmem_max; 0: their defaults (default 4 MiB)",
    )
    ap.add_argument(
        "--kamailio-debug",
        type=int,
        default=None,
        help="Kamailio's log level in http302.cfg (cases d, j, h, s, n; -A DEBUG=N): its "
        "default -1 logs errors only, 1 also sl's warning on every 3xx reply",
    )
    args = ap.parse_args()
    if args.small:
        args.carriers, args.prefixes, args.pool = 4, 15_000, 25_000
    _kamailio, sipp, _modules = tools()
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="tandem-kam-"))
    work.mkdir(parents=True, exist_ok=True)
    rates = [int(r) for r in args.rates.split(",")]
    print(
        f"Kamailio benchmark: {args.carriers} carriers x {args.prefixes:,} prefixes (pool "
        f"{args.pool:,}); rates {rates}, {args.seconds:g} s each; Kamailio on CPU 0, SIPp on "
        f"CPU 1, the HTTP servers of d and h on CPU {args.server_cpu}"
        f"{'; kamailio -x tlsf' if args.tlsf else ''}; UDP receive buffers "
        f"{args.udp_buffer or 'default'} (net.core.rmem_max {_rmem_max()}); "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        flush=True,
    )
    data = build(work, args.carriers, args.prefixes, args.pool)
    numbers = data["numbers"].read_text().split()
    env = {"TANDEM_TABLE": str(data["table"]), "TANDEM_CONFIG": str(data["config"])}
    cases = {
        "a": ("(a) trivial app_python3 route", EXAMPLES / "kamailio.cfg", {}, (),
              HERE / "trivial_kemi.py"),
        "b": ("(b) native mtree module, routes precomputed", HERE / "mtree.cfg", {},
              (f'DBURL="text://{data["table"].parent / "mtree"}"',), EXAMPLES / "tandem_kemi.py"),
        "l": ("(b') native lcr module", HERE / "lcr.cfg", {},
              (f'DBURL="text://{data["lcr"]}"', f"ROWS={args.carriers * args.prefixes + 10}"),
              EXAMPLES / "tandem_kemi.py"),
        "c": ("(c) Tandem in-process", EXAMPLES / "kamailio.cfg", env, (),
              EXAMPLES / "tandem_kemi.py"),
        "d": ("(d) Tandem over HTTP (http_client, kept-alive connection, format=sip)",
              HERE / "http302.cfg", {}, (), EXAMPLES / "tandem_kemi.py"),
        "j": ("(j) Tandem over HTTP (http_client, kept-alive connection, rtjson)",
              HERE / "http302.cfg", {}, ("RTJSON",), EXAMPLES / "tandem_kemi.py"),
        "h": ("(h) blocking HTTP lookup, new connection per INVITE (trivial server, rtjson)",
              HERE / "http302.cfg", {}, ("NEWCONN", "RTJSON"), EXAMPLES / "tandem_kemi.py"),
        "s": ("(s) blocking HTTP lookup, new connection per INVITE (trivial server, format=sip)",
              HERE / "http302.cfg", {}, ("NEWCONN",), EXAMPLES / "tandem_kemi.py"),
        "n": ("(n) Tandem over HTTP, new connection per INVITE (rtjson)", HERE / "http302.cfg",
              {}, ("NEWCONN", "RTJSON"), EXAMPLES / "tandem_kemi.py"),
    }  # fmt: skip
    results = {}
    all_steps: dict[str, list[Step]] = {}
    expected = None
    for name in args.cases.split(","):
        title, config, case_env, defines, script = cases[name]
        print(title, flush=True)
        server: TandemServer | TrivialLookup | None = None
        if name in ("d", "j", "n"):
            server = start_tandem(data, work, args.server_cpu)
            defines = (*defines, f'TANDEM="{server.url}"', f'TANDEMCON="tandem=>{server.url}"')
        elif name in ("h", "s"):
            server = TrivialLookup(work, args.server_cpu)
            defines = (*defines, f'TANDEM="{server.url}"', f'TANDEMCON="tandem=>{server.url}"')
        if args.kamailio_debug is not None and config.name == "http302.cfg":
            defines = (*defines, f"DEBUG={args.kamailio_debug}")
        k = None  # the server stops even when Kamailio does not start (or is not run)
        try:
            k = Kamailio(config, work, case_env, cpu=0, defines=defines, script=script)
            # lcr's tables in shared memory; db_text's query buffers in the main's pkg memory
            extra = {"l": ["-m", "8192", "-M", "4096"], "b": ["-m", "1024", "-M", "1024"]}
            if name == "b":
                write_mtree(data)
            k_extra = extra.get(name, []) + (["-x", "tlsf"] if args.tlsf else [])
            if args.udp_buffer:
                k_extra += ["-b", str(args.udp_buffer)]
            k.args[k.args.index("-DD") : k.args.index("-DD")] = k_extra
            t0 = time.perf_counter()
            k.start(timeout=900)
            print(f"  started in {time.perf_counter() - t0:.1f} s", flush=True)
            if name in CHECKED:
                if expected is None:
                    expected = expected_answers(data, numbers[:CHECK_CALLS])
                print("  " + check_answers(k, sipp, work, numbers[:CHECK_CALLS], expected),
                      flush=True)  # fmt: skip
            groups = [k.proc.pid] if k.proc else []
            if server is not None and server.proc is not None:
                groups.append(server.proc.pid)
            steps = ramp(k, sipp, work, numbers, rates, args.seconds, groups, args.udp_buffer)
            mem = children_memory(k.proc.pid) if k.proc else []
        finally:
            if k is not None:
                k.stop()
            if server is not None:
                server.stop()
        results[name] = (title, best(steps), mem, k.proc.pid if k.proc else 0)
        all_steps[name] = steps
    print("\n| case | highest rate: 0 failed, <= 1% retransmitted | CPU per call there (us) "
          "| calls/s per CPU core | worker RSS / PSS (MB) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    for _name, (title, (rate, us), mem, main_pid) in results.items():
        worker = next((m for m in mem if m[0] != main_pid), (0, 0.0, 0.0))
        core = 1e6 / us if us else 0.0
        print(f"| {title} | {rate:,.0f}/s | {us:.0f} | {core:,.0f} | "
              f"{worker[1]:.0f} / {worker[2]:.0f} |")  # fmt: skip
    pairs = (("c", "b"), ("c", "a"), ("d", "c"), ("d", "j"), ("d", "h"), ("d", "s"), ("d", "n"))
    for a, b in pairs:
        if a in results and b in results and results[b][1][0] and results[a][1][1]:
            (ra, ua), (rb, ub) = results[a][1], results[b][1]
            line = f"({a}) / ({b}): rate {ra / rb:.2f}, calls per CPU second {ub / ua:.2f}"
            same = same_step(all_steps[a], all_steps[b])
            if same is not None:
                asked, us_a, us_b = same
                line += (f"; at {asked}/s asked, the highest step both passed: {us_a:.0f} vs "
                         f"{us_b:.0f} us per call, {us_b / us_a:.2f}")  # fmt: skip
            print(line)
    if args.memory_workers:
        print(f"\nmemory with {args.memory_workers} Tandem workers after 2 s at 500/s:")
        k = Kamailio(EXAMPLES / "kamailio.cfg", work, env, workers=args.memory_workers)
        k.start(timeout=900)
        try:
            run_sipp(sipp, k.port, work, [(n, "") for n in numbers], calls=1000, rate=500,
                     trace=False)  # fmt: skip
            mem = children_memory(k.proc.pid) if k.proc else []
        finally:
            k.stop()
        table_mb = data["table"].stat().st_size / 2**20
        main_pid = k.proc.pid if k.proc else 0
        print(f"table file {table_mb:.0f} MB; processes by RSS (the SIP workers come first):")
        print("| process | RSS MB | PSS MB |\n|---|---:|---:|")
        for pid, rss, pss in mem[: args.memory_workers + 2]:
            print(f"| {'main ' if pid == main_pid else ''}{pid} | {rss:.0f} | {pss:.0f} |")
        total_pss = sum(p for _pid, _r, p in mem)
        print(f"all {len(mem)} processes: PSS {total_pss:.0f} MB")
    os.sync()


if __name__ == "__main__":
    main()
