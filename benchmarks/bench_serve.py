"""Serving proxies: SIPp INVITE -> 302 against ``tandem serve sip`` at rising rates, and the
HTTP route API's decisions per second with p50/p99, on three server stacks.

    python benchmarks/bench_serve.py                    # 40 x 150,000 table, everything
    python benchmarks/bench_serve.py --small            # 5 x 20,000, short steps
    python benchmarks/bench_serve.py --no-http          # the SIP ladder only
    python benchmarks/bench_serve.py --rates 2000,4000,8000 --seconds 5

One synthetic table (``--carriers`` x ``--prefixes``, the table of
``bench_decision.py``, compiled once and kept in the temp directory), numbers drawn from
its prefixes, one customer (named in ``X-Tandem-Customer`` / ``customer=``). The server
runs pinned to core 0 (``taskset -c 0``), the load generator to core 1, on loopback.

**SIP** (SIPp, ``benchmarks/sipp/invite_302.xml``: INVITE, expect a 302 within 2 s, ACK):
each rate runs ``--seconds`` seconds (``-r RATE -m RATE*SECONDS``); a call fails when no
302 came (SIPp retransmits the INVITE every 500 ms over UDP). The answer is the highest
rate whose run had zero failed calls and reached at least 95 % of the rate asked.

**HTTP** (wrk, ``--connections`` keep-alive connections, one thread, a Lua script cycling
through the numbers): requests per second and the latency percentiles wrk reports, for
``format=rtjson`` (what Kamailio asks) and the full decision JSON, on each stack of
``serve_stacks.py``: ``tandem`` (``tandem serve http``: asyncio + httptools, no ASGI),
``uvicorn`` (a bare ASGI app) and ``starlette``; the stacks take turns, ``--rounds``
times, medians reported.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_decision import CUSTOMER, make_numbers, make_table  # noqa: E402

from tandem.lcr.table import RoutingTable  # noqa: E402

SCENARIO = ROOT / "benchmarks" / "sipp" / "invite_302.xml"
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def pinned(core: int | None) -> list[str]:
    if core is None or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(core)]


def table_file(carriers: int, prefixes: int) -> Path:
    path = Path(tempfile.gettempdir()) / f"tandem-bench-serve-{carriers}x{prefixes}.tdm"
    if not path.exists():
        print(f"compiling a {carriers} x {prefixes} table ...", flush=True)
        make_table(carriers, prefixes).save(path)
    return path


def start(cmd: list[str], timeout: float = 120) -> tuple[subprocess.Popen, int]:
    """Start a server; its port from the 'listening' line it writes on stderr."""
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        m = re.search(r"listening on (?:udp\S* )?(?:http://)?127\.0\.0\.1:(\d+)", line)
        if m:
            # keep draining stderr so the server never blocks on a full pipe
            subprocess.Popen(["cat"], stdin=proc.stderr, stdout=subprocess.DEVNULL)
            port = int(m.group(1))
            while time.monotonic() < deadline and "http" in line:  # accepting yet?
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            return proc, port
    proc.kill()
    raise SystemExit(f"server did not start: {' '.join(cmd)}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- SIP ----------------------------------------------------------------------------------
def sipp_step(port: int, rate: int, seconds: float, csv: Path, core: int | None,
              work: Path, server_pid: int) -> dict:  # fmt: skip
    stat = work / f"stat-{rate}.csv"
    calls = int(rate * seconds)
    cmd = [
        *pinned(core), "sipp", f"127.0.0.1:{port}", "-sf", str(SCENARIO), "-inf", str(csv),
        "-i", "127.0.0.1", "-p", "0", "-r", str(rate), "-m", str(calls),
        "-l", str(max(1000, rate * 3)), "-timeout", f"{int(seconds * 4 + 20)}s",
        "-trace_stat", "-stf", str(stat), "-fd", "1", "-nostdin",
    ]  # fmt: skip
    started = time.monotonic()
    cpu = cpu_seconds(server_pid)
    subprocess.run(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=seconds * 4 + 60, check=False)  # fmt: skip
    wall = time.monotonic() - started
    cpu = cpu_seconds(server_pid) - cpu
    rows = [line.split(";") for line in stat.read_text().splitlines() if line.strip()]
    head, last = rows[0], rows[-1]
    col = {name: i for i, name in enumerate(head)}
    ok = int(last[col["SuccessfulCall(C)"]])
    failed = int(last[col["FailedCall(C)"]])
    return {
        "rate": rate,
        "calls": calls,
        "ok": ok,
        "failed": failed,
        "retrans": int(last[col["Retransmissions(C)"]]),
        "achieved": float(last[col["CallRate(C)"]]),
        "wall": wall,
        "cpu_us": cpu / max(1, ok + failed) * 1e6,
    }


def sip_ladder(table: Path, numbers: list[str], rates: list[int], seconds: float) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="tandem-bench-sipp-"))
    csv = work / "calls.csv"
    csv.write_text("SEQUENTIAL\n" + "".join(f"{CUSTOMER};{n.lstrip('+')};\n" for n in numbers))
    proc, port = start([*pinned(0), sys.executable, "-m", "tandem", "serve", "sip", "--table",
                        str(table), "--listen", "127.0.0.1:0", "--no-tcp"])  # fmt: skip
    out = []
    try:
        sipp_step(port, 500, 1, csv, 1, work, proc.pid)  # warm up
        for rate in rates:
            step = sipp_step(port, rate, seconds, csv, 1, work, proc.pid)
            out.append(step)
            print(
                f"  SIP {rate:>6}/s: {step['ok']:>7} ok, {step['failed']} failed, "
                f"{step['retrans']} retransmissions, SIPp's rate {step['achieved']:.0f}/s, "
                f"server CPU {step['cpu_us']:.1f} us/call",
                flush=True,
            )
            if step["failed"] or step["achieved"] < 0.95 * rate:
                break
    finally:
        stop(proc)
    return out


# -- HTTP ---------------------------------------------------------------------------------
def lua_script(numbers: list[str], fmt: str, work: Path) -> Path:
    path = work / f"route-{fmt}.lua"
    items = ",".join(f'"{n.replace("+", "%2B")}"' for n in numbers[:20000])
    suffix = "&format=rtjson" if fmt == "rtjson" else ""
    path.write_text(
        f"local numbers = {{{items}}}\nlocal i = 0\n"
        "request = function()\n  i = i % #numbers + 1\n"
        f'  return wrk.format("GET", "/route?customer={CUSTOMER}{suffix}&number=" .. numbers[i])\n'
        "end\n"
    )
    return path


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk_run(port: int, script: Path, seconds: float, connections: int, pid: int = 0) -> dict:
    cmd = [*pinned(1), "wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency",
           "-s", str(script), f"http://127.0.0.1:{port}"]  # fmt: skip
    cpu = cpu_seconds(pid) if pid else 0.0
    text = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    cpu = cpu_seconds(pid) - cpu if pid else 0.0
    done = re.search(r"(\d+) requests in", text)
    found = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if found is None:
        raise SystemExit(f"wrk gave no result: {text}")
    rps = float(found.group(1))
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", text, re.M))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    return {
        "rps": rps,
        "p50": _ms(pct.get("50", "nan")),
        "p99": _ms(pct.get("99", "nan")),
        "non2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
        "cpu_us": cpu / int(done.group(1)) * 1e6 if pid and done else float("nan"),
    }


def http_stacks(table: Path, numbers: list[str], stacks: list[str], seconds: float,
                rounds: int, connections: int) -> dict:  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="tandem-bench-http-"))
    scripts = {fmt: lua_script(numbers, fmt, work) for fmt in ("rtjson", "json")}
    results: dict[tuple[str, str], list[dict]] = {}
    for r in range(rounds):
        for stack in stacks:
            if stack == "tandem":
                cmd = [*pinned(0), sys.executable, "-m", "tandem", "serve", "http", "--table",
                       str(table), "--listen", "127.0.0.1:0"]  # fmt: skip
            else:
                cmd = [*pinned(0), sys.executable, str(ROOT / "benchmarks" / "serve_stacks.py"),
                       stack, str(table), str(free_port())]  # fmt: skip
            proc, port = start(cmd)
            try:
                wrk_run(port, scripts["rtjson"], 1, connections)  # warm up
                for fmt in ("rtjson", "json"):
                    got = wrk_run(port, scripts[fmt], seconds, connections, proc.pid)
                    results.setdefault((stack, fmt), []).append(got)
                    print(
                        f"  round {r + 1} {stack:>9} {fmt:>6}: {got['rps']:>8.0f} req/s, "
                        f"p50 {got['p50']:.2f} ms, p99 {got['p99']:.2f} ms, "
                        f"server CPU {got['cpu_us']:.1f} us/request, "
                        f"non-2xx {got['non2xx']} {got['socket_errors']}",
                        flush=True,
                    )
            finally:
                stop(proc)
    return results


def cpu_ceiling(table: Path, numbers: list[str], n: int = 20_000) -> dict[str, float]:
    """CPU microseconds per request in-process (no sockets), best of 3: what one core
    could serve at most, before the sockets' share."""
    from stacks_inproc import http_api, invite_bytes, sip_server

    sip = sip_server(table)
    messages = [invite_bytes(num, f"cpu{i}") for i, num in enumerate(numbers[:n])]
    api = http_api(table)
    targets = {
        fmt: [f"/route?customer={CUSTOMER}&number={num.replace('+', '%2B')}"
              + ("&format=rtjson" if fmt == "rtjson" else "") for num in numbers[:n]]
        for fmt in ("rtjson", "json")
    }  # fmt: skip
    out = {}
    for name, run in (
        ("sip INVITE", lambda: [sip.handle(m, "127.0.0.1", 5060) for m in messages]),
        ("http rtjson", lambda: [api.handle("GET", t, None) for t in targets["rtjson"]]),
        ("http json", lambda: [api.handle("GET", t, None) for t in targets["json"]]),
    ):
        best = float("inf")
        for _ in range(3):
            started = time.process_time()  # CPU time: what a loaded machine cannot inflate
            run()
            best = min(best, time.process_time() - started)
        out[name] = best / len(messages) * 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--carriers", type=int, default=40)
    parser.add_argument("--prefixes", type=int, default=150_000)
    parser.add_argument("--rates", default="500,1000,2000,4000,6000,8000,10000,12000,14000")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--stacks", default="tandem,uvicorn,starlette")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-sip", action="store_true")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--small", action="store_true", help="5 x 20,000, 3 s steps, 1 round")
    args = parser.parse_args()
    if args.small:
        args.carriers, args.prefixes, args.seconds, args.rounds = 5, 20_000, 3.0, 1
    table = table_file(args.carriers, args.prefixes)
    numbers = make_numbers(RoutingTable.load(table), 20_000)
    print(f"table {args.carriers} x {args.prefixes} ({table.stat().st_size >> 20} MiB); "
          f"server on core 0, load on core 1; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    ceiling = cpu_ceiling(table, numbers)
    print("\nin-process CPU per request (no sockets; best of 3):")
    for name, us in ceiling.items():
        print(f"  {name}: {us:.1f} us  (at most {1e6 / us:,.0f}/s on one core)")
    if not args.no_sip:
        rates = [int(r) for r in args.rates.split(",")]
        steps = sip_ladder(table, numbers, rates, args.seconds)
        clean = [s["rate"] for s in steps if not s["failed"] and s["achieved"] >= 0.95 * s["rate"]]
        print("\n| rate asked (calls/s) | SIPp's rate | calls | failed | retransmissions "
              "| server CPU per call (us) |")  # fmt: skip
        print("|---:|---:|---:|---:|---:|---:|")
        for s in steps:
            print(f"| {s['rate']} | {s['achieved']:.0f} | {s['ok'] + s['failed']} | "
                  f"{s['failed']} | {s['retrans']} | {s['cpu_us']:.1f} |")  # fmt: skip
        cpu = statistics.median(s["cpu_us"] for s in steps)
        print(f"server CPU per call (median of the steps): {cpu:.1f} us, so one core "
              f"serves at most {1e6 / cpu:,.0f} calls/s")  # fmt: skip
        print(f"\nhighest rate with zero failed calls: {max(clean) if clean else 'none'} calls/s")
    if not args.no_http:
        stacks = args.stacks.split(",")
        results = http_stacks(table, numbers, stacks, args.seconds, args.rounds,
                              args.connections)  # fmt: skip
        print("\n| stack | format | decisions/s (median) | p50 ms | p99 ms | non-2xx "
              "| server CPU us/request |")  # fmt: skip
        print("|---|---|---:|---:|---:|---:|---:|")
        base = {fmt: statistics.median(r["rps"] for r in results[("tandem", fmt)])
                for fmt in ("rtjson", "json") if ("tandem", fmt) in results}  # fmt: skip
        for (stack, fmt), runs in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            rps = statistics.median(r["rps"] for r in runs)
            ratio = f" ({rps / base[fmt]:.2f}x)" if fmt in base else ""
            print(
                f"| {stack} | {fmt} | {rps:.0f}{ratio} | "
                f"{statistics.median(r['p50'] for r in runs):.2f} | "
                f"{statistics.median(r['p99'] for r in runs):.2f} | "
                f"{sum(r['non2xx'] for r in runs)} | "
                f"{statistics.median(r['cpu_us'] for r in runs):.1f} |"
            )


if __name__ == "__main__":
    main()
