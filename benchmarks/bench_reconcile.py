"""Benchmark: ``tandem reconcile OURS THEIRS --carrier acme`` on two 1,000,000-CDR files.

    python benchmarks/bench_reconcile.py [--size 1000000] [--rounds 3] [--prefixes 20000]
                                         [--tmp DIR] [--skip-python]

The files are what a carrier meets at month end: ours a Parquet file of our switch's CDRs
(UTC epoch starts, ``+E.164`` numbers, call ids; 2 % of them to another carrier or
unanswered, which the reconciliation leaves out), the vendor's a CSV file with its own
column names (``Connect Time``, ``Billed Sec``, ``Called Number``, ``Rate/min``,
``Charge``), local times in Europe/Paris without a zone, UK numbers in national format
(``0207 946...``) and the rest as ``00`` + digits, no call ids (so every call is matched
on number and start time), its rate and amount per call; its clock is 0-2 s late.
Planted: 1,000 calls missing on each side, 1,000 durations 6 s long, 1,000 rates
above our deck, 1,000 duplicated lines. The answer is checked: the command's ``--json``
must give exactly the planted counts, and the disputed amounts must add up to the
vendor's total minus ours.

Timed, each a median of ``--rounds``:

* ``tandem reconcile`` end to end: a fresh process (``python -m tandem``) with the
  rating book cached beside the store, ``--json -q``: start, imports, both files read,
  matched, priced, classified, printed. Target: under 10 s. Wall time and CPU time
  (user + system of every thread): on a shared, loaded machine the CPU time is the
  figure that does not depend on the other processes.
* ``read both files``: the floor: :func:`tandem.recon.read_side` of both files in this
  process (what any reconciliation has to pay before matching).
* ``match (vectorised)``: :func:`tandem.recon.match_sides` on the columns read, in this
  process; against ``match (per-row Python)``: the same rule (duplicates, then number and
  closest start within the window) written as a dict-of-lists loop over the records, once
  (unless ``--skip-python``): the ratio is what vectorising the matcher buys.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tandem.store import Store  # noqa: E402

T0 = 1_793_577_600  # 2026-11-01T00:00:00Z: a month of calls from here
PLANT = 1_000
WINDOW = 60
MAP = [
    "--map-column", "start=Connect Time", "--map-column", "duration=Billed Sec",
    "--map-column", "number=Called Number", "--map-column", "rate=Rate/min",
    "--map-column", "amount=Charge",
]  # fmt: skip


def make_deck(rng: np.random.Generator, prefixes: int) -> pd.DataFrame:
    """A buy deck: UK (44, 4420, 447...), France, Germany and random longer prefixes;
    1/1 increments; rates of 4 decimals."""
    base = ["44", "4420", "447", "33", "336", "49", "4915", "1", "1212", "39", "34"]
    extra = set()
    while len(extra) < prefixes - len(base):
        root = base[rng.integers(len(base))]
        # no 0 after a country code: 440... is no UK number (and reads as 00 nationally)
        more = [int(rng.integers(1, 10))] + rng.integers(0, 10, rng.integers(0, 4)).tolist()
        extra.add(root + "".join(map(str, more)))
    codes = base + sorted(extra)
    rates = rng.integers(50, 900, len(codes)) * 10**5  # 0.0050 .. 0.0899 per minute
    return pd.DataFrame(
        {
            "prefix": codes,
            "destination": ["" for _ in codes],
            "rate": rates.astype(np.int64),
            "connect_fee": np.zeros(len(codes), np.int64),
            "initial_increment": np.ones(len(codes), np.int64),
            "next_increment": np.ones(len(codes), np.int64),
            "min_duration": np.zeros(len(codes), np.int64),
            "effective_from": np.zeros(len(codes), np.int64),
        }
    )


def make_files(d: Path, n: int, prefixes: int, seed: int = 14) -> dict:
    """The store, our Parquet file and the vendor's CSV; returns the planted answer."""
    rng = np.random.default_rng(seed)
    deck = make_deck(rng, prefixes)
    db = d / "store.db"
    for p in d.glob("store.db*"):
        p.unlink()
    s = Store(db)
    s.write_deck("acme", "carrier", deck, currency="USD", effective_from=0)
    s.write_deck("other", "carrier", deck.head(100), currency="USD", effective_from=0)
    s.close()
    # n calls of ours to acme, numbers = a deck prefix + digits up to 11-12 digits
    pick = rng.integers(0, len(deck), n)
    prefix = deck["prefix"].to_numpy()[pick]
    tail_len = 12 - np.char.str_len(prefix.astype(str))
    tails = rng.integers(10**8, 10**9, n)  # 9 digits, the first not 0
    numbers = np.asarray(
        [p + str(t).zfill(9)[:k] for p, t, k in zip(prefix, tails, tail_len, strict=True)]
    )
    start = T0 + np.sort(rng.integers(0, 30 * 86_400, n))
    duration = rng.integers(1, 1_800, n)
    call_id = np.char.add("c", np.arange(n).astype(str))
    left_out = 2 * n // 100
    ours = pd.DataFrame(
        {
            "call_id": np.concatenate([call_id, np.char.add("x", np.arange(left_out).astype(str))]),
            "start": np.concatenate([start, T0 + rng.integers(0, 30 * 86_400, left_out)]),
            "billsec": np.concatenate([duration, np.zeros(left_out // 2, np.int64),
                                       rng.integers(1, 99, left_out - left_out // 2)]),
            "number": np.char.add("+", np.concatenate([numbers, numbers[:left_out]])),
            "carrier": ["acme"] * (n + left_out // 2) + ["other"] * (left_out - left_out // 2),
        }
    )  # fmt: skip
    pq.write_table(pa.Table.from_pandas(ours, preserve_index=False), d / "ours.parquet")
    # the vendor's lines
    idx = np.arange(n)
    plant = rng.permutation(n)[: 5 * PLANT]
    missing_theirs, longer, dearer, doubled = (plant[k * PLANT : (k + 1) * PLANT] for k in range(4))
    keep = np.ones(n, bool)
    keep[missing_theirs] = False
    t_idx = np.concatenate([idx[keep], doubled])
    t_dur = duration[t_idx].copy()
    t_dur[np.isin(t_idx, longer) & (np.arange(len(t_idx)) < keep.sum())] += 6
    t_start = start[t_idx] + rng.integers(0, 3, len(t_idx))
    # the duplicate lines repeat their original exactly
    first = {int(v): k for k, v in enumerate(t_idx[: keep.sum()])}
    for k in range(int(keep.sum()), len(t_idx)):
        o = first[int(t_idx[k])]
        t_start[k], t_dur[k] = t_start[o], t_dur[o]
    t_numbers = numbers[t_idx]
    # a ghost call per planted "missing_ours": numbers nobody of ours called
    ghosts = np.asarray([f"44209{k:07d}" for k in range(PLANT)])
    g_start = T0 + rng.integers(0, 30 * 86_400, PLANT)
    g_dur = rng.integers(1, 600, PLANT)
    all_numbers = np.concatenate([t_numbers, ghosts])
    all_start = np.concatenate([t_start, g_start])
    all_dur = np.concatenate([t_dur, g_dur])
    # their rate: the deck's for the number's longest prefix (priced by tandem below)
    from tandem.rating.price import Rater
    from tandem.recon.deck import scaled_amounts

    rater = Rater.from_store(Store(db))
    canon = pa.table({
        "start": pa.array(all_start), "duration": pa.array(all_dur),
        "number": pa.array(all_numbers), "customer": pa.nulls(len(all_numbers), pa.string()),
        "carrier": pa.array(["acme"] * len(all_numbers)),
    })  # fmt: skip
    priced = rater.price(canon)
    deck_amount, _ok = scaled_amounts(priced.column("buy_amount"))
    from tandem.rating.keys import number_keys

    acct = np.full(len(all_numbers), rater.buy.accounts["acme"], np.int64)
    row, _ = rater.buy.lookup(acct, all_start, number_keys(pa.array(all_numbers)))
    their_rate = rater.buy.rate[row].copy()
    their_amount = deck_amount.copy()
    dear = np.flatnonzero(np.isin(np.arange(len(t_idx)), np.flatnonzero(np.isin(t_idx, dearer))))
    dear = dear[dear < keep.sum()]
    their_rate[dear] += 10**7  # +0.01 per minute
    # their amount at their rate: rate * seconds / 60, 4 decimals half up (the deck's rule)
    step = 10**5
    num = their_rate[dear] * all_dur[dear]
    their_amount[dear] = ((num // 60 + step // 2) // step) * step
    uk = np.char.startswith(all_numbers, "44")
    # UK numbers as the vendor's switch writes them: 0 + area, a space, the rest
    national = np.asarray([f"0{s[2:5]} {s[5:]}" for s in all_numbers.tolist()])
    written = np.where(uk, national, np.char.add("00", all_numbers))
    local = (
        pd.to_datetime(all_start, unit="s", utc=True).tz_convert("Europe/Paris").tz_localize(None)
    )
    order = np.argsort(all_start, kind="stable")
    theirs = pa.table(
        {
            "Connect Time": pa.array(local.strftime("%Y-%m-%d %H:%M:%S").to_numpy()[order]),
            "Billed Sec": pa.array(all_dur[order]),
            "Called Number": pa.array(written[order]),
            "Rate/min": pa.array([_money(v) for v in their_rate[order].tolist()]),
            "Charge": pa.array([_money(v) for v in their_amount[order].tolist()]),
        }
    )
    pacsv.write_csv(theirs, d / "theirs.csv")
    return {
        "db": db,
        "ours": n,
        "theirs": len(all_numbers),
        "classes": {
            "missing_ours": PLANT,
            "missing_theirs": PLANT,
            "duration_mismatch": PLANT,
            "rate_mismatch": PLANT,
            "duplicate": PLANT,
        },
        "their_total": sum(their_amount.tolist()),
    }


def _money(v: int) -> str:
    from tandem.money import format_money

    return format_money(v)


def run_cli(d: Path, db: Path) -> tuple[float, float, dict]:
    cmd = [sys.executable, "-m", "tandem", "--db", str(db), "reconcile", str(d / "ours.parquet"),
           str(d / "theirs.csv"), "--carrier", "acme", "--timezone", "Europe/Paris",
           "--country-code", "44", *MAP, "--json", "-q"]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    took = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(f"tandem reconcile failed: {out.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return took, cpu, json.loads(out.stdout)


def read_both(d: Path) -> tuple[float, tuple]:
    from tandem.recon import read_side

    t, c = time.perf_counter(), time.process_time()
    ours = read_side(d / "ours.parquet", name="ours")
    theirs = read_side(
        d / "theirs.csv", name="theirs", timezone="Europe/Paris", country_code="44",
        column_map=dict(MAP[k + 1].split("=", 1) for k in range(0, len(MAP), 2)),
    )  # fmt: skip
    return (time.perf_counter() - t, time.process_time() - c), (ours, theirs)


def match_vectorised(ours, theirs) -> tuple[float, int]:
    from tandem.recon import match_sides
    from tandem.recon.reconcile import our_calls_to

    rows, _, _ = our_calls_to(ours, "acme")
    mine = ours.take(rows)
    t, c = time.perf_counter(), time.process_time()
    m = match_sides(
        mine.key, mine.start, mine.duration, pa.nulls(len(mine), pa.string()), mine.usable,
        theirs.key, theirs.start, theirs.duration, theirs.call_id, theirs.usable, WINDOW,
    )  # fmt: skip
    return (time.perf_counter() - t, time.process_time() - c), len(m.ours)


def match_python(ours, theirs) -> tuple[float, int]:
    """The same rule, per record: duplicates by (number, start, duration) in a set, then
    for each vendor record the closest free start of ours to its number within the
    window (a sorted list per number and bisect), taken greedily in vendor order."""
    from tandem.recon.reconcile import our_calls_to

    rows, _, _ = our_calls_to(ours, "acme")
    mine = ours.take(rows)
    ok, os_, od = mine.key.tolist(), mine.start.tolist(), mine.duration.tolist()
    tk, ts, td = theirs.key.tolist(), theirs.start.tolist(), theirs.duration.tolist()
    t, c = time.perf_counter(), time.process_time()
    seen, copies = set(), 0
    by_number: dict[int, list[tuple[int, int]]] = {}
    for i in range(len(ok)):
        by_number.setdefault(ok[i], []).append((os_[i], i))
    for v in by_number.values():
        v.sort()
    taken = set()
    pairs = 0
    for j in range(len(tk)):
        sig = (tk[j], ts[j], td[j])
        if sig in seen:
            copies += 1
            continue
        seen.add(sig)
        cands = by_number.get(tk[j])
        if not cands:
            continue
        lo = bisect.bisect_left(cands, (ts[j] - WINDOW, -1))
        best = None
        for s, i in cands[lo:]:
            if s > ts[j] + WINDOW:
                break
            if i in taken:
                continue
            key = (abs(s - ts[j]), abs(od[i] - td[j]), i)
            if best is None or key < best:
                best = key
        if best is not None:
            taken.add(best[2])
            pairs += 1
    return (time.perf_counter() - t, time.process_time() - c), pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prefixes", type=int, default=20_000)
    ap.add_argument("--tmp", type=Path, help="work directory (default: a temporary one)")
    ap.add_argument("--skip-python", action="store_true")
    args = ap.parse_args()
    d = args.tmp or Path(tempfile.mkdtemp(prefix="bench_reconcile."))
    d.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    answer = make_files(d, args.size, args.prefixes)
    sizes = [os.path.getsize(d / name) for name in ("ours.parquet", "theirs.csv")]
    took = time.perf_counter() - t
    print(f"files made in {took:.1f} s: ours {sizes[0]:,} bytes, theirs {sizes[1]:,} bytes")
    run_cli(d, answer["db"])  # warm: the rating book cached beside the store
    cli_s, cli_cpu, read_s, vec_s = [], [], [], []
    result = None
    for _ in range(args.rounds):
        took, cpu, result = run_cli(d, answer["db"])
        cli_s.append(took)
        cli_cpu.append(cpu)
        took_read, (ours, theirs) = read_both(d)
        read_s.append(took_read)
        took_match, vec_pairs = match_vectorised(ours, theirs)
        vec_s.append(took_match)
    assert result is not None
    # the answer: every planted discrepancy, nothing else
    for name, count in answer["classes"].items():
        assert result["classes"][name] == count, (name, result["classes"][name], count)
    assert result["ours"] == answer["ours"] and result["theirs"] == answer["theirs"]
    matched = answer["ours"] - PLANT
    assert result["classes"]["exact"] + result["classes"]["within_tolerance"] == matched - 2 * PLANT
    assert vec_pairs == matched
    py = None
    if not args.skip_python:
        py, py_pairs = match_python(ours, theirs)
        assert py_pairs == vec_pairs, (py_pairs, vec_pairs)
    n = args.size
    med = statistics.median

    def mid(pairs: list[tuple[float, float]], k: int) -> float:
        return med(p[k] for p in pairs)

    print(
        f"\nmedians of {args.rounds} rounds; {n:,} CDRs of ours, "
        f"{answer['theirs']:,} of the vendor's; load average: {os.getloadavg()[0]:.1f}"
    )
    print(f"{'step':<46}{'wall s':>8}{'CPU s':>8}{'CDRs/s (wall)':>15}")
    rows = [
        ("tandem reconcile, end to end (fresh process)", med(cli_s), med(cli_cpu)),
        ("read both files (floor, in process)", mid(read_s, 0), mid(read_s, 1)),
        ("match_sides, vectorised (in process)", mid(vec_s, 0), mid(vec_s, 1)),
    ]
    if py is not None:
        rows.append(("match, per-row Python (once)", py[0], py[1]))
    for name, wall, cpu in rows:
        print(f"{name:<46}{wall:>8.2f}{cpu:>8.2f}{2 * n / wall:>15,.0f}")
    print(
        f"end to end / reading both files: {med(cli_s) / mid(read_s, 0):.2f}x wall, "
        f"{med(cli_cpu) / mid(read_s, 1):.2f}x CPU"
    )
    if py is not None:
        print(
            f"vectorised matcher vs per-row Python: {py[0] / mid(vec_s, 0):.1f}x faster wall, "
            f"{py[1] / mid(vec_s, 1):.1f}x CPU"
        )
    print(f"end to end vs target 10 s: {'met' if med(cli_s) < 10 else 'NOT met'} (wall)")
    print("classes:", json.dumps(result["classes"]))
    print("disputed:", json.dumps(result["disputed"]))
    if args.tmp is None:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
