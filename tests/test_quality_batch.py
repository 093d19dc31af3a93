"""``tandem quality`` and the batch quality table: the same outcome table and formulas as
the live board (property test: the batch table equals feeding the board attempt by
attempt), CDR formats, skipped CDRs reported, bad input."""

from __future__ import annotations

import contextlib
import json

import pyarrow as pa
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.cli.main import cli
from tandem.lcr.scores import QualityConfig
from tandem.quality import ALL_GROUPS, QualityBoard, quality_table
from tandem.rating.cdr import CdrReader
from tandem.state import MemoryCounters

ANSWERS = [
    "200", "486", "480", "487", "603", "404", "503", "408", "302", "ANSWERED", "NO ANSWER",
    "BUSY", "CONGESTION", "USER_BUSY", "NORMAL_CLEARING", "BOGUS", None,
]  # fmt: skip

attempt = st.tuples(
    st.sampled_from(["atlas", "borealis", "cygnus"]),
    st.sampled_from(["4420", "4477", "3361", "33"]),
    st.integers(0, 3000),  # start
    st.sampled_from(ANSWERS),
    st.sampled_from([0, 0, 0, 1, 7, 60, 3601]),  # billable seconds
    st.one_of(st.none(), st.integers(0, 70_000)),  # pdd ms
    st.one_of(st.none(), st.sampled_from([f"c{i}" for i in range(15)])),  # call id
)


def cdr_table(attempts):
    carrier, number, start, answer, duration, pdd, call_id = (
        list(c) for c in zip(*attempts, strict=True)
    )
    return pa.table(
        {
            "start": pa.array(start, pa.int64()),
            "duration": pa.array(duration, pa.int64()),
            "number": [n + "123456" for n in number],
            "carrier": carrier,
            "sip_code": pa.array(answer, pa.string()),
            "pdd_ms": pa.array(pdd, pa.int64()),
            "call_id": pa.array(call_id, pa.string()),
        }
    )


def feed_board(attempts, config):
    board = QualityBoard(MemoryCounters(), config)
    for carrier, number, start, answer, duration, pdd, call_id in sorted(
        attempts, key=lambda a: a[2]
    ):
        # no final answer: ValueError, and the batch skips it too (no_answer_code)
        with contextlib.suppress(ValueError):
            board.attempt(
                carrier,
                board.group_of(number + "123456"),
                at=start,
                sip_code=answer,
                duration=duration,
                pdd_ms=pdd,
                call_id=call_id,
            )
    return board


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    attempts=st.lists(attempt, min_size=1, max_size=60),
    half_life=st.one_of(st.none(), st.floats(30, 5000)),
    prior_weight=st.sampled_from([0.0, 1.0, 7.5, 30.0]),
    min_attempts=st.integers(1, 4),
    digits=st.integers(1, 4),
    window=st.sampled_from([600, 1800, 3600]),
)
def test_batch_table_equals_the_board_fed_attempt_by_attempt(
    attempts, half_life, prior_weight, min_attempts, digits, window
):
    config = QualityConfig(
        window=window, bucket=60, half_life=half_life, prior_weight=prior_weight,
        min_attempts=min_attempts, group_digits=digits, refresh=0,
    )  # fmt: skip
    board = feed_board(attempts, config)
    at = max(a[2] for a in attempts)
    for by in ("carrier,destination", "carrier"):
        table = quality_table(
            CdrReader().batches(cdr_table(attempts)), config=config, by=by, at=at, window=window
        )
        got = {(r.carrier, r.group): r.score for r in table.rows}
        expected = {}
        for carrier in ("atlas", "borealis", "cygnus"):
            groups = {board.group_of(n + "123456") for n in ("4420", "4477", "3361", "33")}
            for group in groups if by != "carrier" else {ALL_GROUPS}:
                score = board.score(carrier, group, at=at)
                if score is not None:
                    expected[(carrier, None if by == "carrier" else group)] = score
        assert got == expected  # exactly: same integer sums, same weights, fsum, figures
        assert table.rows_in == len(attempts)


def test_plain_figures_and_skipped_cdrs_are_reported(tmp_path):
    path = tmp_path / "cdrs.csv"
    path.write_text(
        "start,billsec,number,carrier,sip_code,pdd_ms,call_id\n"
        "2026-11-01T10:00:00Z,60,442071234567,atlas,200,1000,c1\n"
        "2026-11-01T10:01:00Z,0,442071234568,atlas,486,2000,c2\n"
        "2026-11-01T10:02:00Z,0,442071234569,atlas,503,,c3\n"
        "2026-11-01T10:02:01Z,0,442071234569,atlas,503,,c3\n"
        "2026-11-01T10:03:00Z,30,33123456789,atlas,200,500,c4\n"
        "2026-11-01T10:04:00Z,0,33123456789,borealis,603,100,c5\n"
        "2026-11-01T10:05:00Z,0,33123456789,borealis,180,100,c6\n"
        "not a time,0,33123456789,borealis,603,100,c7\n"
        "2026-11-01T10:05:00Z,0,33123456789,,603,100,c8\n"
    )
    result = CliRunner().invoke(cli, ["quality", str(path), "--digits", "2", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["rows_in"] == 9
    assert out["skipped"] == {"duplicate": 1, "no_answer_code": 1, "no_carrier": 1, "no_start": 1}
    rows = {(r["carrier"], r["group"]): r for r in out["rows"]}
    assert rows[("atlas", "44")] == {
        "carrier": "atlas", "group": "44", "attempts": 3, "answered": 1, "asr": "0.3333",
        "ner": "0.6667", "acd": "60.0", "pdd_p50": 1500, "pdd_p95": 2450, "known": True,
    }  # fmt: skip
    assert rows[("borealis", "33")]["ner"] == "1.0000"
    assert rows[("borealis", "33")]["acd"] is None
    by_carrier = CliRunner().invoke(cli, ["quality", str(path), "--by", "carrier", "--json"])
    (atlas, borealis) = json.loads(by_carrier.output)["rows"]
    assert (atlas["group"], atlas["attempts"], atlas["asr"], atlas["acd"]) == (
        None,
        4,
        "0.5000",
        "45.0",
    )
    table = CliRunner().invoke(cli, ["quality", str(path)])
    assert table.exit_code == 0 and "4420" in table.output and "3312" in table.output
    assert "not counted: duplicate 1" in table.output


def test_asterisk_and_freeswitch_dispositions(tmp_path):
    asterisk = tmp_path / "Master.csv"
    line = (
        '"acme","100","{dst}","ctx","","PJSIP/acme-0001","PJSIP/atlas-0000a1b2","Dial","",'
        '"2026-11-01 10:00:00","","2026-11-01 10:01:00",60,{bill},"{disp}","DOCUMENTATION",'
        '"{uid}",""\n'
    )
    asterisk.write_text(
        line.format(dst="442071234567", bill=55, disp="ANSWERED", uid="u1")
        + line.format(dst="442071234568", bill=0, disp="BUSY", uid="u2")
        + line.format(dst="442071234569", bill=0, disp="NO ANSWER", uid="u3")
        + line.format(dst="442071234560", bill=0, disp="CONGESTION", uid="u4")
    )
    out = CliRunner().invoke(
        cli, ["quality", str(asterisk), "--format", "asterisk", "--by", "carrier", "--json"]
    )
    assert out.exit_code == 0, out.output
    (row,) = json.loads(out.output)["rows"]
    assert (row["carrier"], row["attempts"], row["asr"], row["ner"], row["acd"]) == (
        "atlas",
        4,
        "0.2500",
        "0.7500",
        "55.0",
    )
    assert row["pdd_p50"] is None  # no PDD column: no PDD figures
    fs = tmp_path / "fs.csv"
    fs_line = (
        '"Name","100","{dst}","default","2026-11-01 10:00:00","","2026-11-01 10:00:30",30,'
        '{bill},"{cause}","{uid}","","acme","PCMU","PCMU"\n'
    )
    fs.write_text(
        fs_line.format(dst="33123456789", bill=20, cause="NORMAL_CLEARING", uid="a")
        + fs_line.format(dst="33123456789", bill=0, cause="USER_BUSY", uid="b")
        + fs_line.format(dst="33123456789", bill=0, cause="NORMAL_TEMPORARY_FAILURE", uid="c")
        + fs_line.format(dst="33123456789", bill=0, cause="ORIGINATOR_CANCEL", uid="d")
    )
    out = CliRunner().invoke(
        cli,
        ["quality", str(fs), "--format", "freeswitch", "--carrier", "borealis", "--json",
         "--digits", "2"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    (row,) = json.loads(out.output)["rows"]
    assert (row["group"], row["asr"], row["ner"], row["acd"]) == ("33", "0.2500", "0.7500", "20.0")


def test_decay_options_match_a_config(tmp_path):
    path = tmp_path / "cdrs.csv"
    path.write_text(
        "start,billsec,number,carrier,sip_code\n"
        + "".join(
            f"{1790000000 + 30 * i},{60 if i % 2 else 0},4420123,atlas,{200 if i % 2 else 503}\n"
            for i in range(40)
        )
    )  # fmt: skip
    config_file = tmp_path / "routing.toml"
    config_file.write_text(
        "[quality]\nwindow = 600\nbucket = 60\nhalf_life = 120\nprior_weight = 0\n"
        "min_attempts = 5\n"
    )
    a = CliRunner().invoke(cli, ["quality", str(path), "--config", str(config_file), "--json"])
    b = CliRunner().invoke(
        cli,
        ["quality", str(path), "--json", "--window", "600", "--half-life", "120",
         "--min-attempts", "5"],
    )  # fmt: skip
    assert a.exit_code == 0, a.output
    assert json.loads(a.output) == json.loads(b.output)
    (row,) = json.loads(a.output)["rows"]
    assert row["attempts"] == 20  # the last 600 s (buckets starting 600 s before the last CDR)


def test_bad_input_one_line_exit_2(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(cli, ["quality", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "tandem: error: no such CDR file" in missing.output
    bad = tmp_path / "routing.toml"
    bad.write_text("[quality]\nhalf_life = -3\n")
    cdrs = tmp_path / "c.csv"
    cdrs.write_text("start,billsec,number,carrier,sip_code\n1790000000,0,44,atlas,503\n")
    out = runner.invoke(cli, ["quality", str(cdrs), "--config", str(bad)])
    assert out.exit_code == 2 and "quality.half_life" in out.output
    assert "Traceback" not in out.output
    out = runner.invoke(cli, ["quality", str(cdrs), "--window", "90"])
    assert out.exit_code == 2 and "--window must be a multiple" in out.output
    out = runner.invoke(cli, ["quality", str(cdrs), "--destination-column", "dest"])
    assert out.exit_code == 2 and "no column 'dest'" in out.output


def test_group_by_destination_column():
    t = pa.table(
        {
            "start": [10, 20, 30],
            "duration": [10, 0, 0],
            "number": ["4420", "4477", "331"],
            "carrier": ["atlas"] * 3,
            "sip_code": ["200", "486", "503"],
            "destination": ["UK", "UK Mobile", "France"],
        }
    )
    config = QualityConfig(half_life=None, prior_weight=0, min_attempts=1)
    rows = quality_table(CdrReader().batches(t), config=config, destination="destination").rows
    assert [(r.group, r.score.attempts, r.score.answered) for r in rows] == [
        ("France", 1, 0), ("UK", 1, 1), ("UK Mobile", 1, 0)
    ]  # fmt: skip
