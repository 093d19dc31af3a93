"""``tandem fraud scan`` of a Parquet file reads its name columns as Arrow dictionaries, on
a thread from the command's start: the same alerts, byte for byte, as the scan of the file
read plainly (every column as text, one batch after the other)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.cli.main import cli
from tandem.fraud import fraud_config_from_mapping, scan
from tandem.fraud.columns import SCAN_COLUMNS, SCAN_DICTIONARY
from tandem.rating.cdr import CdrReader, dictionary_columns

RULES = """
[high_risk]
prefixes = ["881"]
[cps]
customer = { warning = 1, critical = 2 }
source_ip = { warning = 1 }
[concurrent]
trunk = { warning = 1 }
group = { warning = 1 }
[velocity]
min_calls = 2
min_baseline = 0
[long_call]
minutes = 1
[scan]
episode_gap = 30
"""

T0 = 1_793_577_600
NAMES = st.sampled_from(["acme", " acme", "zed ", "", None, "b\u00e9ta"])
DESTS = st.sampled_from(["44", "881", " 33", "33", "", None])
CDR = st.tuples(
    st.integers(0, 400),  # start offset
    st.integers(0, 200),  # duration
    st.sampled_from(["4420001", "+8812345", "4420003", "12AB", "33123", "4420001"]),
    NAMES,  # customer
    NAMES,  # trunk
    st.sampled_from(["10.0.0.1", "10.0.0.2", "", None]),  # source_ip
    DESTS,  # destination
    st.sampled_from(["0.1", "1", None, "x"]),  # sell_amount
)


def _write(rows: list[tuple[object, ...]], path: Path, row_group: int) -> None:
    cols = list(zip(*rows, strict=True))
    table = pa.table(
        {
            "start": pa.array([T0 + s for s in cols[0]], pa.int64()),
            "duration": pa.array(cols[1], pa.int64()),
            "number": pa.array(cols[2], pa.string()),
            "customer": pa.array(cols[3], pa.string()),
            "carrier": pa.array(["c"] * len(rows), pa.string()),
            "trunk": pa.array(cols[4], pa.string()),
            "source_ip": pa.array(cols[5], pa.string()),
            "destination": pa.array(cols[6], pa.string()),
            "sell_amount": pa.array(cols[7], pa.string()),
            "sell_rate": pa.array(["0.5"] * len(rows), pa.string()),
        }
    )
    pq.write_table(table, path, row_group_size=row_group)


def _plain_scan(path: Path, rules: Path, batch_size: int) -> str:
    """The scan of the file read without dictionaries nor prefetch, as the command prints."""
    reader = CdrReader(columns=SCAN_COLUMNS, batch_size=batch_size)
    batches = list(reader.batches(path))
    table = pa.concat_tables(batches, promote_options="permissive")
    from tandem.fraud import load_fraud_config

    out = scan(table, load_fraud_config(rules)).to_json()
    out["report_from"] = None
    return json.dumps(out)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(CDR, min_size=1, max_size=60),
    row_group=st.integers(3, 40),
    batch_size=st.integers(2, 50),
)
def test_scan_of_dictionary_columns_equals_the_plain_read(
    tmp_path: Path, rows: list[tuple[object, ...]], row_group: int, batch_size: int
) -> None:
    rules = tmp_path / "fraud.toml"
    rules.write_text(RULES)
    path = tmp_path / "cdrs.parquet"
    _write(rows, path, row_group)
    res = CliRunner().invoke(
        cli,
        ["fraud", "scan", str(path), "--rules", str(rules), "--json",
         "--batch-size", str(batch_size)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert res.output.rstrip("\n") == _plain_scan(path, rules, batch_size)


def test_dictionary_columns_are_text_name_columns_only() -> None:
    schema = pa.schema(
        [
            ("start", pa.int64()),
            ("dst", pa.string()),  # the number's source
            ("accountcode", pa.string()),  # the customer's
            ("trunk", pa.binary()),  # not text: decoded as before
            ("source_ip", pa.string()),
            ("destination", pa.large_string()),
            ("note", pa.string()),  # not asked for
        ]
    )
    got = dictionary_columns(schema, None, SCAN_DICTIONARY)
    assert got == ["accountcode", "source_ip", "destination"]
    # a column mapped to the number is never read as a dictionary
    mapped = dictionary_columns(schema, None, SCAN_DICTIONARY, {"number": "source_ip"})
    assert "source_ip" not in mapped
    assert dictionary_columns(schema, ["start", "dst"], SCAN_DICTIONARY) == []
    assert dictionary_columns(schema, None, None) == []


def test_a_dictionary_read_gives_the_same_canonical_values(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    _write(
        [(0, 5, "4420001", " acme", "t1", "10.0.0.1", "44", "1"),
         (1, 5, "4420002", "zed", None, "", " 33", None)],
        path, 1,
    )  # fmt: skip
    plain = CdrReader(columns=SCAN_COLUMNS, batch_size=1)
    read = CdrReader(columns=SCAN_COLUMNS, batch_size=1, dictionary=SCAN_DICTIONARY)
    a = pa.concat_tables(list(plain.batches(path)), promote_options="permissive")
    b = pa.concat_tables(list(read.batches(path)), promote_options="permissive")
    assert pa.types.is_dictionary(b.column("trunk").type)
    for name in ("customer", "trunk", "source_ip", "destination", "number", "start"):
        left, right = a.column(name), b.column(name)
        if pa.types.is_dictionary(left.type):
            left = left.cast(left.type.value_type)
        if pa.types.is_dictionary(right.type):
            right = right.cast(right.type.value_type)
        assert left.to_pylist() == right.to_pylist(), name


def test_config_from_mapping_is_importable() -> None:  # the scan's rules parse as data
    assert fraud_config_from_mapping({}).episode_gap > 0


def test_the_scan_of_a_parquet_file_imports_neither_pandas_nor_the_live_engine(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "c.parquet"
    _write([(0, 5, "4420001", "acme", "t1", "10.0.0.1", "44", "1")] * 3, path, 2)
    code = textwrap.dedent(
        f"""
        import sys
        from click.testing import CliRunner
        from tandem.cli.main import cli
        res = CliRunner().invoke(cli, ["fraud", "scan", {str(path)!r}, "--json"])
        assert res.exit_code == 0, res.output
        loaded = [m for m in ("pandas", "redis", "tandem.fraud.engine", "tandem.state")
                  if m in sys.modules]
        assert not loaded, loaded
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


@settings(max_examples=60, deadline=None)
@given(
    prefixes=st.lists(st.from_regex(r"[1-9][0-9]{0,7}", fullmatch=True), max_size=12),
    numbers=st.lists(st.from_regex(r"[1-9][0-9]{0,14}", fullmatch=True), min_size=1, max_size=80),
)
def test_high_risk_ranges_by_leading_digits_equal_the_binary_search(
    prefixes: list[str], numbers: list[str]
) -> None:
    """The direct table of leading digits answers what a search of every number does."""
    import numpy as np

    from tandem.fraud import HighRiskMatcher
    from tandem.fraud.scanner import _RANGE_BASE, _range_answers, _risk_ranges

    # numbers under the prefixes too (the blocks a range starts inside)
    numbers = numbers + [(p + n)[:15] for p in prefixes for n in numbers[:3]]
    bounds, answers = _risk_ranges(HighRiskMatcher(prefixes))
    number = np.array([int(n) for n in numbers], dtype=np.int64)
    length = np.array([len(n) for n in numbers], dtype=np.int64)
    want = answers[np.searchsorted(bounds, length * _RANGE_BASE + number, side="right") - 1]
    assert _range_answers(bounds, answers, number, length).tolist() == want.tolist()
    matcher = HighRiskMatcher(prefixes)
    got = _range_answers(bounds, answers, number, length).tolist()
    assert got == [-1 if matcher.match(n) is None else int(matcher.match(n)) for n in numbers]
