"""Fuzzing the CDR readers (issue 10, "Done when"): mutated CSV structure, Master.csv and
FreeSWITCH records of any shape, Kamailio exports, Parquet columns of odd types. Every run
either raises a :class:`~tandem.errors.TandemError` with a message, or returns CDRs that
account for every record of the input (rows in == rated + unrated, one CDR per record, each
at the line it starts on), never another exception."""

from __future__ import annotations

import csv
import io
import os
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rating_helpers import rates_frame

from tandem.errors import TandemError
from tandem.rating.cdr import CdrReader
from tandem.rating.price import Rater, RatingSummary

#: Examples per fuzz test (each stays well under 20 s); TANDEM_FUZZ_EXAMPLES=2000 hunts longer.
EXAMPLES = int(os.environ.get("TANDEM_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
RATER = Rater.from_rates(
    rates_frame([
        {"account": "acme", "kind": "customer", "prefix": "44", "rate": "0.01"},
        {"account": "atlas", "kind": "carrier", "prefix": "44", "rate": "0.005"},
    ])
)  # fmt: skip

HEADERS = {
    "csv": "start,duration,number,customer,carrier\n",
    "kamailio": "start_time,end_time,duration,dst_user,src_account,dst_gw\n",
}
ROWS = {
    "csv": "2026-11-02T14:0{i}:00Z,60,4420712345{i:02d},acme,atlas\n",
    "kamailio": "2026-11-02 14:0{i}:00.5,2026-11-02 14:0{i}:40,39.5,4420712345{i:02d},acme,atlas\n",
    "asterisk": (
        'acme,2125550100,4420712345{i:02d},from-acme,"""A"" <2125550100>",PJSIP/acme-1,'
        'PJSIP/atlas-0000a1b{i},Dial,"PJSIP/x@atlas,60",2026-11-02 09:1{i}:03,'
        "2026-11-02 09:1{i}:09,2026-11-02 09:1{i}:40,37,31,ANSWERED,DOCUMENTATION,17.{i},\n"
    ),
    "freeswitch": (
        '"A","2125550100","4420712345{i:02d}","public","2026-11-02 15:1{i}:03",'
        '"2026-11-02 15:1{i}:09","2026-11-02 15:1{i}:40","37","31","NORMAL_CLEARING",'
        '"u-{i}","b-{i}","acme","PCMU","PCMU"\n'
    ),
}
PIECES = ['"', ",", "\n", "\r", "\r\n", '""', "\ufeff", "\x00", "é", " ", "\n\n", '",', ',"']


def _reference_records(text: str, header: bool) -> list[int]:
    """The line each record starts on, by Python's csv module (blank lines are no records;
    the header is none)."""
    lines = io.StringIO(text.removeprefix("\ufeff"), newline="")
    reader = csv.reader(lines)
    starts: list[int] = []
    last = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error:
            row = ["?"]
        if row:
            starts.append(last + 1)
        last = reader.line_num
    return starts[1:] if header else starts


def _check(path: Path, fmt: str, text: str | None) -> None:
    """Read and price ``path``; check that nothing is lost or misplaced."""
    summary = RatingSummary()
    rows: list[dict] = []
    try:
        for batch in CdrReader(format=fmt, timezone="Europe/London", batch_size=3).batches(path):
            priced = RATER.price(batch)
            summary.add(priced)  # asserts rows in == rated + unrated
            rows.extend(priced.select(["record", "line", "raw", "sell_reason"]).to_pylist())
    except TandemError as exc:
        assert str(exc)
        return
    assert [r["record"] for r in rows] == list(range(1, len(rows) + 1))
    assert summary.rows_in == len(rows)
    for r in rows:
        if r["raw"] is not None:
            assert r["sell_reason"] == "bad_record"
    if text is not None and "\x00" not in text:
        assert [r["line"] for r in rows] == _reference_records(text, fmt in HEADERS)


@st.composite
def _mutated(draw, fmt: str) -> str:
    n = draw(st.integers(0, 6))
    lines = [ROWS[fmt].format(i=i) for i in range(1, n + 1)]
    text = HEADERS.get(fmt, "") + "".join(lines)
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "duplicate", "truncate"]))
        if kind == "insert":
            text = text[:pos] + draw(st.sampled_from(PIECES)) + text[pos:]
        elif kind == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 5)) :]
        elif kind == "duplicate" and lines:
            text += draw(st.sampled_from(lines))
        else:
            text = text[:pos]
    return text


@FUZZ
@given(st.sampled_from(list(ROWS)).flatmap(lambda f: st.tuples(st.just(f), _mutated(f))))
def test_fuzz_csv_structure(tmp_path_factory, case):
    fmt, text = case
    path = tmp_path_factory.mktemp("fuzz") / "cdrs.csv"
    path.write_bytes(text.encode("utf-8"))
    _check(path, fmt, text)
    _check(path, "auto", None)


_field = st.text(st.sampled_from('ab1,"\n\r é2026-11-02 09:15:03'), max_size=20)


@FUZZ
@given(
    st.sampled_from(["asterisk", "freeswitch", "csv", "kamailio"]),
    st.lists(st.lists(_field, max_size=22), max_size=8),
)
def test_fuzz_records_of_any_shape(tmp_path_factory, fmt, rows):
    buf = io.StringIO()
    if fmt in HEADERS:
        buf.write(HEADERS[fmt])
    csv.writer(buf, lineterminator="\n").writerows(rows)
    text = buf.getvalue()
    path = tmp_path_factory.mktemp("fuzz") / "cdrs.csv"
    path.write_text(text)
    _check(path, fmt, text)


@settings(FUZZ, max_examples=max(1, EXAMPLES // 2))  # pandas pairing: slower per example
@given(
    st.lists(
        st.sampled_from(["INVITE", "BYE", "ACK", "", "CANCEL"]).flatmap(
            lambda m: st.tuples(
                st.just(m),
                st.sampled_from(["c1", "c2", "c3", ""]),
                st.sampled_from(["200", "486", "x", ""]),
                st.sampled_from(["2026-11-02 14:15:03.120", "2026-10-25 01:30:00", "bad", ""]),
                st.integers(3, 7),
            )
        ),
        max_size=10,
    )
)
def test_fuzz_kamailio_acc_transactions(tmp_path_factory, rows):
    text = "method,callid,sip_code,time,dst_user,src_account\n"
    for method, callid, code, when, width in rows:
        fields = [method, callid, code, when, "442071234567", "acme", "x"][:width]
        text += ",".join(fields) + "\n"
    path = tmp_path_factory.mktemp("fuzz") / "acc.csv"
    path.write_text(text)
    summary = RatingSummary()
    try:
        batches = list(CdrReader(format="kamailio", timezone="Europe/London").batches(path))
    except TandemError as exc:
        assert str(exc)
        return
    for batch in batches:
        summary.add(RATER.price(batch))
    broken = sum(1 for r in rows if r[4] != 6)
    assert summary.unrated.get("bad_record", 0) == broken  # every malformed row is a CDR


_TIMES = [
    pa.array([datetime(9999, 12, 31, 23, 59, 59), None, datetime(2026, 10, 25, 1, 30)],
             pa.timestamp("us")),
    pa.array([2**63 - 1, -(2**63) + 1, None], pa.timestamp("ns")),
    pa.array([2**63 - 1, 0, None], pa.timestamp("s", tz="America/New_York")),
    pa.array([float("inf"), float("nan"), -1e300]),
    pa.array([2**64 - 1, 0, 1_793_628_000], pa.uint64()),
    pa.array([-(2**63), 2**63 - 1, 5], pa.int64()),
    pa.array(["9999-12-31 23:59:59", "2026-03-29 01:30:00", "x"]),
    pa.array([b"\xff\xfe", b"2026-11-02T14:00:00Z", None], pa.binary()),
    pa.array([1, 2, 3], pa.duration("ms")),
    pa.array([[1], None, []]),
    pa.array([True, False, None]),
    pa.array([{"a": 1}, None, {"a": 2}]),
    pa.nulls(3),
    pa.array([datetime(2026, 1, 1).date(), None, datetime(9999, 12, 31).date()], pa.date32()),
    pa.array(["2026-11-02T14:00:00Z"] * 3).dictionary_encode(),
]  # fmt: skip
_DURATIONS = [
    pa.array([60, None, -5]),
    pa.array([2**64 - 1, 0, 7], pa.uint64()),
    pa.array([float("inf"), float("nan"), 1e300]),
    pa.array(["60", "1e9", "x"]),
    pa.array([1, 2, 3], pa.duration("ns")),
    pa.array([[1], None, []]),
    pa.array(__import__("decimal").Decimal(v) for v in ("1.5", "1e30", "-0.1")),
    pa.array([True, None, False]),
    pa.nulls(3),
]


@FUZZ
@given(
    st.sampled_from(_TIMES),
    st.sampled_from(_DURATIONS),
    st.sampled_from(_TIMES + [pa.array(["442071234567", None, "+4420"])]),
    st.sampled_from(["UTC", "Europe/London", "America/New_York"]),
)
def test_fuzz_parquet_odd_types(tmp_path_factory, start, duration, number, zone):
    table = pa.table({"start": start, "duration": duration, "number": number,
                      "customer": ["a", None, "b"], "carrier": ["c", "d", None]})  # fmt: skip
    path = tmp_path_factory.mktemp("fuzz") / "cdrs.parquet"
    try:
        pq.write_table(table, path)
    except pa.ArrowException:
        return  # a type Parquet cannot hold
    summary = RatingSummary()
    try:
        for batch in CdrReader(timezone=zone).batches(path):
            summary.add(RATER.price(batch))
    except TandemError as exc:
        assert str(exc)
        return
    assert summary.rows_in == 3
