"""Hostile CDR files given to ``tandem rate``: each is refused with one error line naming
the problem (exit 2, store unchanged) or rated with every record accounted for (rows in ==
rated + unrated), never a traceback and never a CDR that vanishes (issue 10, Tracebacks)."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tandem.cli.main import cli
from tandem.rating.cdr import ASTERISK_FIELDS
from tests.hostile.conftest import run_refused, store_fingerprint

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "cdrs" / "asterisk-Master.csv"
HEADER = "start,duration,number,customer,carrier\n"
GOOD = "2026-11-02T14:00:00Z,60,442071234567,acme,atlas\n"


def _asterisk(n_fields: int) -> str:
    row = dict.fromkeys(ASTERISK_FIELDS, "")
    row.update(accountcode="acme", dst="442071234567", dstchannel="PJSIP/atlas-0000a1b2",
               start="2026-11-02 09:15:03", answer="2026-11-02 09:15:09",
               end="2026-11-02 09:16:10", duration="67", billsec="61")  # fmt: skip
    return ",".join(row[f] for f in ASTERISK_FIELDS[:n_fields]) + "\n"


def _naive_parquet(path: Path) -> None:
    starts = [
        datetime(9999, 12, 31, 23, 59, 59),  # year 10000 in UTC: no instant
        None,
        datetime(2026, 11, 2, 14, 0, 0),
    ]
    table = pa.table({
        "start": pa.array(starts, pa.timestamp("us")),
        "duration": [60, 60, 60],
        "number": ["442071234567"] * 3,
        "customer": ["acme"] * 3,
        "carrier": ["atlas"] * 3,
    })  # fmt: skip
    pq.write_table(table, path)


def _ns_edges_parquet(path: Path) -> None:
    table = pa.table({
        "start": pa.array([2**63 - 1, -(2**63) + 1, 1_793_628_000 * 10**9], pa.timestamp("ns")),
        "duration": pa.array([2**64 - 1, 60, 60], pa.uint64()),
        "number": ["442071234567"] * 3,
        "customer": ["acme"] * 3,
        "carrier": ["atlas"] * 3,
    })  # fmt: skip
    pq.write_table(table, path)


def _odd_types_parquet(path: Path) -> None:
    table = pa.table({
        "start": pa.array([float("inf"), float("nan"), 1e300, 1_793_628_000.5]),
        "duration": pa.array([1, 2, 3, 4], pa.duration("s")),
        "number": pa.array([[1], [2], None, [4]]),
        "customer": ["acme"] * 4,
        "carrier": ["atlas"] * 4,
    })  # fmt: skip
    pq.write_table(table, path)


def _write(text: str | bytes) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)

    return make


_RANDOM = random.Random(10).randbytes(4000)

# name, file name, how to write it, extra args, ("refused", names) | ("rated", rows_in, reasons)
CASES = [
    ("random bytes", "cdrs.csv", _write(b"st\x00" + _RANDOM), [],
     ("refused", ["cdrs.csv", "binary"])),
    ("gzip as csv", "cdrs.csv", _write(gzip.compress((HEADER + GOOD).encode())), [],
     ("refused", ["cdrs.csv", "gzip"])),
    ("high bytes, no NUL", "cdrs.csv", _write(bytes(range(128, 256)) * 20), [],
     ("refused", ["cdrs.csv", "line 1"])),
    ("high bytes as Master.csv", "cdrs.csv", _write(bytes(range(128, 256)) * 20),
     ["--format", "asterisk"], ("rated", 1, {"bad_record": 1})),
    ("undecodable bytes in a record", "cdrs.csv",
     _write((HEADER + GOOD).encode() + b"2026-11-02T14:00:00Z,60,4420\xff\xfe,acme,atlas\n"
            + GOOD.encode()), [], ("rated", 3, {"bad_number": 1})),
    ("UTF-8 BOM", "cdrs.csv", _write("\ufeff" + HEADER + GOOD), [], ("rated", 1, {})),
    ("empty", "cdrs.csv", _write(""), [], ("refused", ["cdrs.csv", "empty"])),
    ("header without a start column", "cdrs.csv", _write("a,b,c\n"), [],
     ("refused", ["cdrs.csv", "line 1", "start"])),
    ("one short Master.csv line", "Master.csv", _write("ACME01,2125550100\n"), [],
     ("refused", ["Master.csv", "line 1", "--format asterisk"])),
    ("one short Master.csv line, --format asterisk", "Master.csv",
     _write("ACME01,2125550100\n"), ["--format", "asterisk"], ("rated", 1, {"bad_record": 1})),
    ("Master.csv of 16 fields (no uniqueid, userfield)", "Master.csv", _write(_asterisk(16)),
     [], ("rated", 1, {})),
    ("Master.csv whose first record is short", "Master.csv",
     _write(_asterisk(12) + SAMPLE.read_text()), [],
     ("rated", 1 + len(SAMPLE.read_text().splitlines()), None)),
    ("naive Parquet at 9999 in New York", "cdrs.parquet", _naive_parquet,
     ["--timezone", "America/New_York"], ("rated", 3, {"bad_time": 2})),
    ("Parquet ns and uint64 edges", "cdrs.parquet", _ns_edges_parquet,
     ["--timezone", "America/New_York"], ("rated", 3, None)),
    ("Parquet odd types", "cdrs.parquet", _odd_types_parquet, [], ("rated", 4, None)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "filename", "make", "args", "want"), CASES, ids=[c[0] for c in CASES]
)
def test_hostile_cdr_file(tmp_path, db, name, filename, make, args, want):
    path = tmp_path / filename
    make(path)
    argv = ["rate", str(path), "-o", str(tmp_path / "rated.parquet"), *args]
    if want[0] == "refused":
        run_refused(argv, db, names=want[1])
        assert not (tmp_path / "rated.parquet").exists()
        return
    before = store_fingerprint(db)
    res = CliRunner().invoke(cli, [*argv, "--json", "--db", str(db)])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["rows_in"] == want[1]
    assert out["rows_in"] == out["rated"] + sum(out["unrated"].values())
    if want[2] is not None:
        assert out["unrated"] == want[2]
    rated = pq.read_table(tmp_path / "rated.parquet")
    unrated = pq.read_table(tmp_path / "rated.unrated.parquet")
    assert rated.num_rows + unrated.num_rows == want[1]  # every record in one output
    assert store_fingerprint(db) == before
