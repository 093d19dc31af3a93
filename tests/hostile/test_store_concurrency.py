"""Two imports of one account at the same time, in two real processes (issue 10: "the
loser prints raw SQL and parameters").

Each child runs the real ``tandem deck import`` on the same store, with two gates put in
by the test (test code inside the child, not in Tandem): the first holds the child until
both have imported the CLI, the second holds each child at the start of
``Store.write_deck`` until both are there. So both have compared the deck with the same
stored version, then both write at once, and the database decides: exactly one import
must win, the other must exit 2 with one line "another import of atlas is running", and
the store must hold the winner's version and nothing of the loser's. Every wait has a
deadline and the tests a pytest-timeout; nothing is timed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tandem.cli.main import cli
from tandem.store import Store
from tests.conftest import drop_pg_schema, pg_schema_url

ROOT = Path(__file__).resolve().parents[2]
DECKS = ROOT / "data" / "decks"

CHILD = """
import os, sys, time
from tandem.cli.main import cli
from tandem.store import Store

gate, me = sys.argv[1], sys.argv[2]


def wait_for(name):
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(gate, name)) and time.monotonic() < deadline:
        time.sleep(0.005)


def arrive(name):
    open(os.path.join(gate, name + me), "w").close()


real_write = Store.write_deck


def gated_write(self, *args, **kwargs):
    arrive("at-write")
    wait_for("write")
    return real_write(self, *args, **kwargs)


Store.write_deck = gated_write
arrive("ready")
wait_for("go")
cli.main(sys.argv[3:], prog_name="tandem")
"""


def _import_args(db: str, effective: str = "2026-12-01") -> list[str]:
    return [
        "deck",
        "import",
        str(DECKS / "atlas.csv"),
        "--carrier",
        "atlas",
        "--effective",
        effective,
        "--now",
        "2026-11-01",
        "--db",
        db,
        "-q",
    ]


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _race(tmp: Path, db: str) -> list[tuple[str, str, int]]:
    """Run two imports of atlas into ``db`` that compare, then write, at the same time."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    gate = tmp / "gate"
    gate.mkdir()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(gate), str(i), *_import_args(db)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        for stage, release in (("ready", "go"), ("at-write", "write")):
            arrived = _wait(lambda s=stage: all((gate / f"{s}{i}").exists() for i in (0, 1)), 90)
            (gate / release).touch()
            assert arrived, f"the children did not both reach {stage!r}"
        return [(*p.communicate(timeout=90), p.returncode) for p in children]
    finally:
        for proc in children:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _check_outcome(results: list[tuple[str, str, int]], versions: list[int]) -> None:
    codes = sorted(code for _, _, code in results)
    assert codes == [0, 2], results
    loser = next(r for r in results if r[2] == 2)
    lines = [line for line in loser[1].splitlines() if line.strip()]
    assert len(lines) == 1, loser[1]
    assert lines[0].startswith("tandem: error: another import of atlas is running"), lines[0]
    for word in ("SELECT", "INSERT", "[SQL", "[parameters", "Traceback"):
        assert word not in loser[0] + loser[1], loser
    assert versions == [1, 2]  # the winner's version, nothing of the loser's


@pytest.mark.timeout(240)
def test_two_processes_import_one_account_sqlite(db, tmp_path):
    results = _race(tmp_path, str(db))
    with Store(db) as store:
        versions = [d.version for d in store.decks(account="atlas")]
    _check_outcome(results, versions)


@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_two_processes_import_one_account_postgresql(tmp_path):
    url, schema = pg_schema_url()
    try:
        first = CliRunner().invoke(cli, _import_args(url, effective="2026-11-01"))
        assert first.exit_code == 0, first.output
        results = _race(tmp_path, url)
        with Store(url) as store:
            versions = [d.version for d in store.decks(account="atlas")]
        _check_outcome(results, versions)
    finally:
        drop_pg_schema(schema)


def test_stale_comparison_is_refused(db):
    """An import compared with version 1; another stored version 2 meanwhile: refused."""
    import pandas as pd

    from tandem.errors import ConcurrentWriteError

    with Store(db) as store:
        assert store.latest_version("atlas", "carrier") == 1
        assert store.latest_version("nobody", "carrier") == 0
        rates = pd.DataFrame({"prefix": ["44"], "rate": [100]})
        store.write_deck("atlas", "carrier", rates, currency="USD", effective_from="2026-12-01")
        with pytest.raises(ConcurrentWriteError, match="another import of atlas is running"):
            store.write_deck(
                "atlas",
                "carrier",
                rates,
                currency="USD",
                effective_from="2026-12-02",
                expect_version=1,
            )
        assert [d.version for d in store.decks(account="atlas")] == [1, 2]
