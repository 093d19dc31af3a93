"""``tandem rate`` outputs: refused when they would overwrite the input or each other,
one error line and nothing left behind when the disk refuses them, and a run's outputs
appearing together or not at all, even when the run is killed (kill -9) at any moment."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tandem.cli.main import cli
from tandem.rating.parquet_parallel import ParallelParquetWriter
from tandem.rating.stream import PARTIAL, journal_path, recover_outputs
from tests.hostile.conftest import run_refused

ROOT = Path(__file__).resolve().parents[2]
START = 1_793_577_600  # 2026-11-02 00:00 UTC


def _cdrs(path: Path, n: int = 400) -> Path:
    """``n`` CDRs to US numbers, every other one naming no customer (unrated unless
    ``--customer acme`` names it), each with a unique call id."""
    pq.write_table(
        pa.table(
            {
                "start": [START + 60 * i for i in range(n)],
                "duration": [30 + i % 300 for i in range(n)],
                "number": [f"1212555{i:04d}" for i in range(n)],
                "customer": ["acme" if i % 2 else None for i in range(n)],
                "carrier": ["atlas"] * n,
                "call_id": [f"c{i}" for i in range(n)],
            }
        ),
        path,
    )
    return path


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


# -- outputs that would overwrite the input or each other ------------------------------------


@pytest.mark.parametrize(
    "case",
    ["rated=unrated", "rated=cdrs", "unrated=cdrs", "default-unrated=cdrs", "report=rated"],
)
def test_an_output_equal_to_another_or_to_the_input_is_refused(tmp_path, db, case):
    cdrs = _cdrs(tmp_path / "cdrs.parquet")
    rated, unrated = tmp_path / "rated.parquet", tmp_path / "rated.unrated.parquet"
    same = tmp_path / "sub" / ".." / "rated.parquet"  # the same file, spelled otherwise
    args = {
        "rated=unrated": ["-o", str(rated), "--unrated", str(same)],
        "rated=cdrs": ["-o", str(tmp_path / "." / "cdrs.parquet")],
        "unrated=cdrs": ["-o", str(rated), "--unrated", str(cdrs)],
        "default-unrated=cdrs": ["-o", str(tmp_path / "cdrs")],
        "report=rated": ["-o", str(rated), "--report", str(unrated)],
    }[case]
    if case == "default-unrated=cdrs":
        cdrs.rename(tmp_path / "cdrs.unrated.parquet")
        cdrs = tmp_path / "cdrs.unrated.parquet"
    (tmp_path / "sub").mkdir()
    rated.write_bytes(b"earlier results")
    before = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file() and p != db}
    refusal = run_refused(["rate", str(cdrs), *args], db, names=["same file" if "=c" not in
                          case else "CDR file being rated"])  # fmt: skip
    assert "tandem: error:" in refusal.stderr
    after = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file() and p != db}
    assert after == before, "a refused run wrote or changed a file"


# -- a disk that refuses the writes ----------------------------------------------------------


def test_a_full_disk_is_one_error_line_and_leaves_nothing(tmp_path, db, monkeypatch):
    cdrs = _cdrs(tmp_path / "cdrs.parquet", 2000)
    out = tmp_path / "out"
    out.mkdir()
    calls = {"n": 0}
    real = ParallelParquetWriter._append

    def full(self, data):  # the device fills up on the third batch written
        calls["n"] += 1
        if calls["n"] >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(ParallelParquetWriter, "_append", full)
    run_refused(
        ["rate", str(cdrs), "-o", str(out / "rated.parquet"), "--batch-size", "100"],
        db,
        names=["no space left", "rated.parquet"],
    )
    assert calls["n"] >= 3
    assert _files(out) == set()


def test_a_read_only_output_is_one_error_line(tmp_path, db):
    cdrs = _cdrs(tmp_path / "cdrs.parquet")
    # /sys refuses new files even to root (a chmod would not stop root)
    run_refused(["rate", str(cdrs), "-o", "/sys/rated.parquet"], db, names=["/sys/rated"])
    assert not Path("/sys/rated.parquet").exists()


def test_an_unwritable_report_directory_is_one_error_line_and_no_outputs(tmp_path, db):
    cdrs = _cdrs(tmp_path / "cdrs.parquet")
    out = tmp_path / "out"
    out.mkdir()
    args = ["rate", str(cdrs), "-o", str(out / "rated.parquet"), "--report", "/sys/tandem-report"]
    run_refused(args, db, names=["report directory", "/sys/tandem-report"])
    assert _files(out) == set()


def test_a_report_that_fails_mid_write_leaves_no_outputs(tmp_path, db, monkeypatch):
    from tandem.rating.report import RatingReport

    cdrs = _cdrs(tmp_path / "cdrs.parquet")
    out = tmp_path / "out"
    out.mkdir()
    (out / "rated.parquet").write_bytes(b"earlier")
    real = RatingReport.write

    def half(self, directory):
        real(self, directory)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(RatingReport, "write", half)
    args = ["rate", str(cdrs), "-o", str(out / "rated.parquet"), "--report", str(out / "rep")]
    run_refused(args, db, names=["no space left"])
    assert _files(out) == {"rated.parquet"}
    assert (out / "rated.parquet").read_bytes() == b"earlier"


def test_outputs_and_reports_are_committed_together(tmp_path, db):
    cdrs = _cdrs(tmp_path / "cdrs.parquet")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "rate",
            str(cdrs),
            "-o",
            str(out / "rated.parquet"),
            "--report",
            str(out / "rep"),
            "--db",
            str(db),
            "-q",
        ],  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    assert _files(out) == {"rated.parquet", "rated.unrated.parquet", "rep"}
    assert "by_carrier.csv" in _files(out / "rep")
    assert not any(PARTIAL in name for name in _files(out / "rep"))


# -- kill -9 at any moment -------------------------------------------------------------------

#: Runs ``tandem rate`` in a process that kills itself (SIGKILL) at its K-th rename inside
#: the rating stream (1: the journal in place, 2: the rated file renamed, 3: the unrated
#: one), or, with K = 0, on entering the commit (temporaries complete, no journal yet).
_KILLER = r"""
import os, signal, sys, types
sys.path.insert(0, {root!r})
import tandem.rating.stream as st
K = int(sys.argv[1])
seen = [0]
def replace(a, b):
    os.replace(a, b)
    seen[0] += 1
    if seen[0] == K:
        os.kill(os.getpid(), signal.SIGKILL)
fake = types.ModuleType("os")
fake.__dict__.update(os.__dict__)
fake.replace = replace
st.os = fake
real_commit = st._commit
def commit(pairs, journal):
    if K == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    return real_commit(pairs, journal)
st._commit = commit
from tandem.cli.main import cli
cli.main(args=sys.argv[2:], standalone_mode=False)
"""


def _state(rated: Path, unrated: Path) -> tuple[set[str], set[str]]:
    return (
        set(pq.read_table(rated, columns=["call_id"]).column("call_id").to_pylist()),
        set(pq.read_table(unrated, columns=["call_id"]).column("call_id").to_pylist()),
    )


def _check_no_mix(rated: Path, unrated: Path, runs: list[tuple[set, set]]) -> None:
    """Before any recovery, what a plain reader finds: each output there is one run's,
    and both, when both are there, are the same run's (never a CDR in both files)."""
    if rated.exists() and unrated.exists():
        assert _state(rated, unrated) in runs, "the outputs of two runs side by side"
    elif rated.exists():
        got = set(pq.read_table(rated, columns=["call_id"]).column("call_id").to_pylist())
        assert got in [r[0] for r in runs]
    elif unrated.exists():
        got = set(pq.read_table(unrated, columns=["call_id"]).column("call_id").to_pylist())
        assert got in [r[1] for r in runs]


def _check_consistent(rated: Path, unrated: Path, n: int, runs: list[tuple[set, set]]) -> None:
    """Once recovered: both outputs or neither; together they hold every CDR once, and
    they are exactly the outputs of one complete run."""
    recover_outputs(rated)
    assert not journal_path(rated).exists()
    if not rated.exists() and not unrated.exists():
        return
    got = _state(rated, unrated)
    assert not got[0] & got[1], "a CDR is in both outputs"
    assert len(got[0]) + len(got[1]) == n
    assert got in runs


def test_kill_9_inside_the_commit_never_mixes_two_runs(tmp_path, db):
    cdrs = _cdrs(tmp_path / "cdrs.parquet")
    rated, unrated = tmp_path / "rated.parquet", tmp_path / "rated.unrated.parquet"
    base = ["--db", str(db), "rate", str(cdrs), "-o", str(rated), "-q"]
    assert CliRunner().invoke(cli, base).exit_code == 0
    first = _state(rated, unrated)  # every other CDR unrated (no customer)
    assert CliRunner().invoke(cli, [*base, "--customer", "acme"]).exit_code == 0
    second = _state(rated, unrated)  # every CDR rated
    assert first != second and not second[1]
    code = _KILLER.format(root=str(ROOT))
    for k in (0, 1, 2, 3):
        assert CliRunner().invoke(cli, base).exit_code == 0  # back to the first run's results
        proc = subprocess.run(
            [sys.executable, "-c", code, str(k), *base, "--customer", "acme"],
            capture_output=True,
            timeout=120,
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        _check_no_mix(rated, unrated, [first, second])
        _check_consistent(rated, unrated, 400, [first, second])
        assert _state(rated, unrated) == (first if k == 0 else second), k
        # the next run cleans what the killed one left
        assert CliRunner().invoke(cli, base).exit_code == 0
        assert not [p for p in tmp_path.iterdir() if PARTIAL in p.name or "commit" in p.name]


def test_kill_9_at_random_moments_leaves_one_runs_outputs(tmp_path, db):
    cdrs = _cdrs(tmp_path / "cdrs.parquet", 20_000)
    rated, unrated = tmp_path / "rated.parquet", tmp_path / "rated.unrated.parquet"
    base = [sys.executable, "-m", "tandem", "--db", str(db), "rate", str(cdrs), "-o", str(rated)]
    base += ["-q", "--batch-size", "500"]
    env = {k: v for k, v in os.environ.items() if k != "TANDEM_DB"}

    def run(*extra: str) -> subprocess.Popen:
        return subprocess.Popen([*base, *extra], cwd=ROOT, env=env, stderr=subprocess.PIPE)

    t = time.perf_counter()
    assert run().wait(timeout=300) == 0
    took = time.perf_counter() - t
    first = _state(rated, unrated)
    assert run("--customer", "acme").wait(timeout=300) == 0
    second = _state(rated, unrated)
    for frac in (0.3, 0.6, 0.8, 0.9, 0.95, 1.0):  # bounded: six kills
        assert run().wait(timeout=300) == 0
        proc = run("--customer", "acme")
        time.sleep(took * frac)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        _check_no_mix(rated, unrated, [first, second])
        _check_consistent(rated, unrated, 20_000, [first, second])
    assert run().wait(timeout=300) == 0
    assert not [p for p in tmp_path.iterdir() if PARTIAL in p.name]
    assert _state(rated, unrated) == first
