"""``tandem route`` through the call lifecycle: --fraud, --credit, --redis (live quality)
with --explain and --json; and the README's lifecycle example runs as written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from calls_helpers import redis_counters
from click.testing import CliRunner

from tandem.cli.main import cli
from tandem.quality import QualityBoard
from tandem.store import Store

ROOT = Path(__file__).resolve().parents[1]
M = 10**6
AT = "2026-01-01T00:00:00Z"
T = 1_767_225_600
FRAUD = """
[high_risk]
prefixes = ["881"]
[concurrent]
customer = { warning = 0, critical = 50 }
[first_call]
enabled = false
"""


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "t.db"
    with Store(path) as s:
        for acct, kind, rows in [
            ("atlas", "carrier", [("44", 8 * M)]),
            ("borealis", "carrier", [("4420", 5 * M), ("881", 60 * M)]),
            ("acme", "customer", [("44", 12 * M), ("881", 90 * M)]),
        ]:
            frame = pd.DataFrame(rows, columns=["prefix", "rate"])
            frame = frame.assign(initial_increment=30, next_increment=6)
            s.write_deck(acct, kind, frame, currency="USD", effective_from=0)
        s.set_credit("acme", balance=10**9, credit_limit=0, currency="USD", at=0)
    (tmp_path / "fraud.toml").write_text(FRAUD)
    return path


def run(db, *args):
    return CliRunner().invoke(
        cli, ["route", *args, "--customer", "acme", "--at", AT, "--db", str(db)]
    )


def test_explain_names_the_fraud_rule_and_the_credit(db):
    fraud = str(db.parent / "fraud.toml")
    res = run(db, "+881612345678", "--fraud", fraud, "--explain")
    assert res.exit_code == 0, res.output
    assert "BLOCKED: blocked by fraud rule high_risk (prefix 881)" in res.output
    assert "fraud rule high_risk: BLOCK (prefix=881)" in res.output
    res = run(db, "+442079460000", "--fraud", fraud, "--credit", "--explain")
    assert "fraud rule concurrent: FLAG" in res.output
    assert "credit left 1: buys 4998 s at the sell rate (max_duration)" in res.output
    assert "1. borealis via borealis" in res.output


def test_json_adds_fields_and_keeps_the_plain_ones(db):
    plain = json.loads(run(db, "+442079460000", "--json").output)
    res = run(db, "+442079460000", "--credit", "--json")
    out = json.loads(res.output)
    assert {k: out[k] for k in plain} == plain
    assert out["max_duration"] == 4998 and out["fraud"] == [] and out["credit"] == "1"
    with Store(db) as s:
        s.set_credit("acme", balance=0, at=T)
    out = json.loads(run(db, "+442079460000", "--credit", "--json").output)
    assert out["blocked"] and out["routes"] == []
    assert out["fraud"][0]["rule"] == "credit_limit"
    assert out["fraud"][0]["evidence"]["remaining"] == "0"


def test_bad_fraud_file_is_one_error_line(db, tmp_path):
    res = run(db, "+442079460000", "--fraud", str(tmp_path / "missing.toml"))
    assert res.exit_code == 2 and res.output.startswith("tandem: error: ")
    for url in ("http://nowhere", "redis://127.0.0.1:notaport/0"):
        res = run(db, "+442079460000", "--redis", url)
        assert res.exit_code == 2 and res.output.startswith("tandem: error: --redis"), res.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[cps]\nwindow = -1\n")
    res = run(db, "+442079460000", "--fraud", str(bad))
    assert res.exit_code == 2 and "cps.window" in res.output


def test_explain_shows_live_quality_from_redis(db):
    counters, cleanup = redis_counters()
    try:
        board = QualityBoard(counters)
        group = board.group_of("442079460000")
        for i in range(30):
            board.attempt("borealis", group, at=T - 60 + i, sip_code=200 if i % 2 else 503,
                          pdd_ms=1000, duration=120 if i % 2 else 0)  # fmt: skip
        res = run(db, "+442079460000", "--redis", "redis://127.0.0.1:6379/0",
                  "--redis-prefix", counters.prefix, "--explain")  # fmt: skip
        assert res.exit_code == 0, res.output
        line = next(x for x in res.output.splitlines() if x.startswith("quality borealis"))
        assert f"on group {group}: 30 attempts" in line and "ASR" in line
        assert "quality atlas on group 4420: no calls in the window" in res.output
        # a quality floor drops the carrier: the explanation says which score did
        plan = db.parent / "routing.toml"
        plan.write_text('[defaults]\nfloors = [{ prefix = "44", min_asr = "0.6" }]\n')
        res = run(db, "+442079460000", "--redis", "redis://127.0.0.1:6379/0",
                  "--redis-prefix", counters.prefix, "--config", str(plan), "--explain",
                  "--call-id", "a84b4c76e66710")  # fmt: skip
        assert res.exit_code == 0, res.output
        assert "dropped borealis: quality floor of prefix 44: ASR" in res.output
        assert "1. atlas via atlas" in res.output
    finally:
        cleanup()


def test_readme_lifecycle_example_runs_as_written():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## The call lifecycle") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    ).stdout.splitlines()  # fmt: skip
    promised = [
        line.split("#", 1)[1].strip() for line in code.splitlines() if line.startswith("print(")
    ]
    assert out[0] == promised[0] and out[1].startswith(promised[1].split(" (")[0])
    assert out[2] == promised[2].split(":")[0]
    assert out[3] == promised[3]
    assert '"fraud": [{"rule": "high_risk"' in out[4]
