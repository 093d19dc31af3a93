"""``tandem rate --dask``: a real scheduler and two worker processes on 127.0.0.1 rate a
multi-file CDR set (Parquet cut at row groups, CSV with a malformed line, Asterisk) exactly
as the single-machine path rates each file: every row, every total, the report; a period
rerate too; and a worker killed mid-run changes nothing."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from test_rating_cdr import DATA, EFF, load_universe, write_sell_deck

from tandem.cli.main import cli
from tandem.rating.bookcache import load_rater
from tandem.rating.cdr import CdrReader, load_account_map
from tandem.rating.report import RatingReport
from tandem.rating.stream import rate_file
from tandem.store import Store

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
DAY = 86_400
TZ = "America/New_York"
OPTIONS = ["--map", str(DATA / "accounts.toml"), "--timezone", TZ, "--batch-size", "128"]
PERIOD = ["--from", "2026-11-03", "--until", "2026-11-04"]  # midnight to midnight, New York


@contextlib.contextmanager
def dask_cluster(folder: Path, workers: int = 2) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """``dask scheduler`` and ``dask worker`` processes on 127.0.0.1 (free ports, no
    nanny: the worker is the process started); their address and the worker processes.
    Bounded: 60 s to come up; stopped (then killed) on the way out."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    sched_file = folder / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    log = open(folder / "dask.log", "wb")  # noqa: SIM115 - closed below
    procs = [
        subprocess.Popen(
            [
                *dask,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(sched_file),
                "--idle-timeout",
                "300",
            ],
            env=env,
            stdout=log,
            stderr=log,
            cwd=folder,
        )  # fmt: skip
    ]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists():
            assert time.monotonic() < deadline and procs[0].poll() is None, "no scheduler"
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        workers_procs = [
            subprocess.Popen(
                [
                    *dask,
                    "worker",
                    address,
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--death-timeout",
                    "60",
                    "--name",
                    f"w{k}",
                ],
                env=env,
                stdout=log,
                stderr=log,
                cwd=folder,
            )  # fmt: skip
            for k in range(workers)
        ]
        procs += workers_procs
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(workers, timeout=max(deadline - time.monotonic(), 1))
        yield address, workers_procs
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """One scheduler and two workers for this module (the last test kills a worker)."""
    with dask_cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


def _cdr_frame(rng: np.random.Generator, n: int) -> dict[str, list]:
    numbers = np.char.add(
        rng.choice(["4420", "447", "1212", "34", "881", "91"], n),
        rng.integers(10**6, 10**7, n).astype(str),
    )
    return dict(
        start=(EFF + DAY + rng.integers(0, 3 * DAY, n)).tolist(),
        duration=rng.integers(0, 400, n).tolist(),
        number=numbers.tolist(),
        customer=rng.choice(["acme-telecom", "nobody"], n, p=[0.9, 0.1]).tolist(),
        carrier=rng.choice(["atlas", "borealis", "cygnus"], n).tolist(),
    )


def _cdr_set(folder: Path, seed: int = 5) -> list[Path]:
    """Parquet (3 row groups), CSV (local times, a malformed line), Asterisk Master.csv."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    pq.write_table(pa.table(_cdr_frame(rng, 1200)), folder / "a.parquet", row_group_size=400)
    frame = pd.DataFrame(_cdr_frame(rng, 300))
    frame["start"] = pd.to_datetime(frame["start"], unit="s").dt.strftime("%Y-%m-%d %H:%M:%S")
    lines = frame.to_csv(index=False).splitlines()
    lines.insert(50, "broken,line")
    (folder / "b.csv").write_text("\n".join(lines) + "\n")
    shutil.copy(DATA / "asterisk-Master.csv", folder / "c-Master.csv")
    return sorted(folder.iterdir())


def _invoke(db: Path, *args: str) -> dict:
    result = CliRunner().invoke(cli, ["--db", str(db), "rate", *OPTIONS, *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def _rows(path: Path, source: Path | None = None) -> list[dict]:
    """Rows of a file or of a part directory (those of ``source``), by record."""
    if path.is_dir():
        tables = [pq.read_table(p) for p in sorted(path.glob("part-*.parquet"))]
        tables = [t.filter(pc.equal(t["source_file"], str(source))) for t in tables]
        rows = [r for t in tables for r in t.drop_columns(["source_file"]).to_pylist()]
    else:
        rows = pq.read_table(path).to_pylist()
    return sorted(rows, key=lambda r: r["record"])


def _add_up(docs: list[dict]) -> dict:
    """The totals of per-file single-machine runs, added up exactly."""
    out: dict = {}
    for key in ("rows_in", "rated", "buy_rated", "ambiguous_times", "ambiguous_times_resolved",
                "nonexistent_times", "outside_period", "kept"):  # fmt: skip
        out[key] = sum(d.get(key, 0) for d in docs)
    for key in ("unrated", "buy_unrated"):
        out[key] = {}
        for d in docs:
            for k, v in d[key].items():
                out[key][k] = out[key].get(k, 0) + v
    for key in ("sell_total", "buy_total", "margin"):
        out[key] = sum((Decimal(d[key]) for d in docs), Decimal(0))
    return out


def _totals(doc: dict) -> dict:
    out = {k: doc.get(k, 0) for k in _add_up([]) if k not in ("sell_total", "buy_total", "margin")}
    out.update({k: dict(sorted(doc[k].items())) for k in ("unrated", "buy_unrated")})
    out.update({k: Decimal(doc[k]) for k in ("sell_total", "buy_total", "margin")})
    return out


def _reference_report(db: Path, store: Store, files: list[Path], folder: Path,
                      period: tuple[int, int] | None = None) -> Path:  # fmt: skip
    """The report of the single-machine streaming path over every file of the set."""
    rater, _ = load_rater(db, lambda: store)
    customers, carriers = load_account_map(DATA / "accounts.toml")
    report = RatingReport()
    for f in files:
        reader = CdrReader(timezone=TZ, customer_map=customers, carrier_map=carriers,
                           batch_size=128)  # fmt: skip
        rate_file(f, folder / f"{f.name}.parquet", rater, reader=reader, report=report,
                  period=period)  # fmt: skip
    report.write(folder / "report")
    return folder / "report"


def _same_reports(got: Path, want: Path) -> None:
    names = sorted(p.name for p in want.iterdir())
    assert sorted(p.name for p in got.iterdir()) == names and len(names) == 8
    for name in names:
        if name.endswith(".csv"):
            assert (got / name).read_text() == (want / name).read_text(), name
        else:
            assert pq.read_table(got / name).equals(pq.read_table(want / name)), name


def _same_rows(out: Path, single: Path, files: list[Path]) -> None:
    for f in files:
        rated = _rows(single / f"{f.name}.parquet")
        unrated = _rows(single / f"{f.name}.unrated.parquet")
        assert rated + unrated, f
        assert _rows(out / "rated", f) == rated, f
        assert _rows(out / "unrated", f) == unrated, f


def test_cluster_rates_a_cdr_set_exactly_as_one_machine(tmp_path, cluster):
    db = tmp_path / "tandem.db"
    store = Store(db)
    load_universe(store)
    files = _cdr_set(tmp_path / "cdrs")
    out, rep, single = tmp_path / "out", tmp_path / "report", tmp_path / "single"
    single.mkdir()
    address, _workers = cluster
    doc = _invoke(db, str(tmp_path / "cdrs" / "*"), "--dask", address, "-o", str(out),
                  "--report", str(rep), "--dask-partition-rows", "800")  # fmt: skip
    assert doc["dask"] == {"workers": 2, "files": 3, "partitions": 4,
                           "rated_parts": 4, "unrated_parts": 4}  # fmt: skip
    docs = [_invoke(db, str(f), "-o", str(single / f"{f.name}.parquet")) for f in files]
    assert _totals(doc) == _add_up(docs)
    assert doc["rows_in"] == 1200 + 301 + 17 == doc["rated"] + sum(doc["unrated"].values())
    assert doc["unrated"]["bad_record"] == 1 and doc["rated"] > 1000
    _same_rows(out, single, files)
    _same_reports(rep, _reference_report(db, store, files, tmp_path / "ref"))
    marker = json.loads((out / "_tandem.json").read_text())
    assert marker["rows_in"] == doc["rows_in"] and marker["sell_total"] == doc["sell_total"]

    # A period rerate under a corrected deck (rates doubled from day 3 on).
    write_sell_deck(store, effective_from=EFF + 2 * DAY, factor=2)
    again = _invoke(db, str(tmp_path / "cdrs"), "--dask", address, "-o", str(out),
                    "--report", str(rep), "--dask-partition-rows", "800", *PERIOD)  # fmt: skip
    docs = [_invoke(db, str(f), "-o", str(single / f"{f.name}.parquet"), *PERIOD)
            for f in files]  # fmt: skip
    assert _totals(again) == _add_up(docs)
    assert 0 < again["rows_in"] < doc["rows_in"]
    assert again["kept"] == again["outside_period"] == doc["rows_in"] - again["rows_in"]
    assert Decimal(again["sell_total"]) != Decimal(doc["sell_total"])
    _same_rows(out, single, files)
    bounds = (EFF + 2 * DAY + 5 * 3600, EFF + 3 * DAY + 5 * 3600)  # New York midnights
    want = _reference_report(db, store, files, tmp_path / "ref2", period=bounds)
    _same_reports(rep, want)

    # Refused, with the results left as they were: a foreign directory, --unrated.
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    for args, message in (
        (["-o", str(foreign)], "not a Tandem rating output"),
        (["-o", str(out), "--unrated", str(tmp_path / "u")], "drop --unrated"),
        (["-o", str(tmp_path / "cdrs" / "sub")], "inside the CDR directory"),
    ):
        before = sorted(p.name for p in (out / "rated").iterdir())
        result = CliRunner().invoke(
            cli, ["--db", str(db), "rate", str(tmp_path / "cdrs"), "--dask", address, *args]
        )
        assert result.exit_code == 2 and message in result.output, result.output
        assert sorted(p.name for p in (out / "rated").iterdir()) == before
    assert [p.name for p in foreign.iterdir()] == ["keep.txt"]
    store.close()


def test_a_worker_killed_mid_run_changes_nothing(tmp_path, cluster):
    db = tmp_path / "tandem.db"
    store = Store(db)
    load_universe(store)
    store.close()
    cdrs = tmp_path / "cdrs"
    cdrs.mkdir()
    rng = np.random.default_rng(9)
    # 4 partitions of 10,000 CDRs, read 400 at a time: each task is busy for a while.
    table = pa.table(_cdr_frame(rng, 40_000))
    pq.write_table(table, cdrs / "big.parquet", row_group_size=10_000)
    args = ["--db", str(db), "rate", *OPTIONS, str(cdrs / "big.parquet"), "--json",
            "--dask-partition-rows", "10000", "--batch-size", "400"]  # fmt: skip
    single = tmp_path / "single.parquet"
    calm = _invoke(db, str(cdrs / "big.parquet"), "-o", str(single), "--batch-size", "400")
    address, workers = cluster
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    run = subprocess.Popen(
        [sys.executable, "-m", "tandem", *args, "--dask", address, "-o", str(out)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    pids = {w.pid: w for w in workers}
    victim = None
    deadline = time.monotonic() + 40
    while victim is None and time.monotonic() < deadline and run.poll() is None:
        # A part being written: .part-...parquet.tandem-partial-<the worker's pid>
        for part in tmp_path.glob(".out.tandem-partial-*/rated/.part-*.tandem-partial-*"):
            pid = int(part.name.rsplit("-", 1)[1])
            if pid in pids:
                victim = pids[pid]
                break
        time.sleep(0.01)
    assert victim is not None and run.poll() is None, "no task caught in flight"
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr.decode()
    doc = json.loads(stdout.decode().strip().splitlines()[-1])
    assert doc["rows_in"] == 40_000 and doc["dask"]["partitions"] == 4
    assert _totals(doc) == _totals(calm)
    assert _rows(out / "rated", cdrs / "big.parquet") == _rows(single)
    assert _rows(out / "unrated", cdrs / "big.parquet") == _rows(
        single.with_name("single.unrated.parquet")
    )
    for kind in ("rated", "unrated"):  # no dead attempt's file, nothing left beside
        assert all(p.name.startswith("part-") for p in (out / kind).iterdir())
    assert not list(tmp_path.glob(".out.tandem-*"))
