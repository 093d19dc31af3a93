"""``tandem fraud scan``: JSON shape, backtest, unreadable CDRs counted, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from click.testing import CliRunner

from tandem.cli.main import cli

RULES = """
[high_risk]
prefixes = ["881"]
file = "{csv}"
[cps]
customer = {{ warning = 1, critical = 2 }}
[long_call]
minutes = 1
[scan]
episode_gap = 60
"""


def _files(tmp_path: Path) -> tuple[Path, Path]:
    hr = tmp_path / "hr.csv"
    hr.write_text("# test list\nprefix,kind\n979,premium_rate\n")
    rules = tmp_path / "fraud.toml"
    rules.write_text(RULES.format(csv=hr))
    t0 = 1_793_577_600
    cdrs = {
        "start": [t0, t0, t0, t0 + 5, t0 + 7, t0 + 100, None],
        "duration": [10, 0, 3, 120, 30, 5, 1],
        "number": ["4420001", "+4420002", "4420003", "8812345", "97911", "12AB", "1"],
        "customer": ["acme", "acme", "acme", "acme", "zed", "zed", "zed"],
        "carrier": ["c"] * 7,
        "sell_amount": ["0.1", "0", "0.2", "1", "1", "0.1", "0"],
        "sell_rate": ["0.1"] * 7,
        "label": ["", "cps", "cps", "high_risk", "high_risk", "", ""],
    }
    path = tmp_path / "cdrs.parquet"
    pq.write_table(pa.table(cdrs), path)
    return rules, path


def test_scan_json_shape_and_backtest(tmp_path: Path) -> None:
    rules, cdrs = _files(tmp_path)
    res = CliRunner().invoke(
        cli, ["fraud", "scan", str(cdrs), "--rules", str(rules), "--labels", "label", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["rows_in"] == 7
    assert out["unreadable"] == 2 and out["unreadable_reasons"] == {"bad_number": 1, "no_start": 1}
    assert set(out["by_rule"]) == {
        "high_risk", "concurrent", "cps", "spend", "velocity", "sequential", "wangiri",
        "first_call", "long_call",
    }  # fmt: skip
    assert out["by_rule"]["cps"] == 2 and out["by_rule"]["high_risk"] == 2
    assert out["by_rule"]["long_call"] == 1
    for alert in out["alerts"]:
        assert set(alert) == {
            "rule", "action", "customer", "prefix", "from", "until", "calls", "evidence",
        }  # fmt: skip
    cps = [a for a in out["alerts"] if a["rule"] == "cps"]
    assert [(a["action"], a["calls"]) for a in cps] == [("flag", 1), ("block", 1)]
    assert cps[1]["evidence"] == {
        "scope": "customer", "window": "1", "count": "3", "threshold": "2", "name": "acme",
    }  # fmt: skip
    assert cps[0]["from"] == "2026-11-02T00:00:00Z"
    hr = {a["prefix"] for a in out["alerts"] if a["rule"] == "high_risk"}
    assert hr == {"881", "979"}  # the config's prefixes and its file's
    bt = out["backtest"]
    assert bt["cps"] == {
        "alerted": 2, "labelled": 2, "true_positives": 2, "precision": "1.0000",
        "recall": "1.0000",
    }  # fmt: skip
    assert bt["high_risk"]["true_positives"] == 2 and bt["velocity"]["precision"] is None


def test_scan_text_report_and_csv_input(tmp_path: Path) -> None:
    rules, cdrs = _files(tmp_path)
    csv_path = tmp_path / "cdrs.csv"
    pacsv.write_csv(pq.read_table(cdrs), csv_path)
    res = CliRunner().invoke(cli, ["fraud", "scan", str(csv_path), "--rules", str(rules)])
    assert res.exit_code == 0, res.output
    assert "block  high_risk   acme 881" in res.output
    assert "7 CDRs" in res.output and "2 CDRs could not be read" in res.output


def test_report_from_leaves_earlier_alerts_out(tmp_path: Path) -> None:
    rules, cdrs = _files(tmp_path)
    res = CliRunner().invoke(
        cli,
        ["fraud", "scan", str(cdrs), "--rules", str(rules), "--json",
         "--from", "2026-11-02T00:00:05Z"],
    )  # fmt: skip
    out = json.loads(res.output)
    assert out["by_rule"]["cps"] == 0 and out["by_rule"]["high_risk"] == 2


def test_errors_are_one_line(tmp_path: Path) -> None:
    rules, cdrs = _files(tmp_path)
    runner = CliRunner()
    for args, message in (
        (["fraud", "scan", str(tmp_path / "none.parquet")], "no such CDR file"),
        (["fraud", "scan", str(cdrs), "--rules", str(tmp_path / "x.toml")], "cannot read"),
        (["fraud", "scan", str(cdrs), "--rules", str(rules), "--labels", "nope"], "nope"),
    ):
        res = runner.invoke(cli, args)
        assert res.exit_code == 2, res.output
        assert "tandem: error:" in res.output and message in res.output
        assert "Traceback" not in res.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[cps]\ncustomer = { warning = 5, critical = 1 }\n")
    res = runner.invoke(cli, ["fraud", "scan", str(cdrs), "--rules", str(bad)])
    assert res.exit_code == 2 and "cps.customer.critical must be >= warning" in res.output
