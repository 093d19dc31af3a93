"""The shipped high-risk destination list and its loader."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandem.errors import ConfigError
from tandem.fraud.highrisk_list import (
    DEFAULT_HIGH_RISK_PATH,
    HighRiskList,
    HighRiskRange,
    load_high_risk,
)

HEADER = "prefix,kind,country,length,source\n"


def test_shipped_list_loads_with_tandem_policy_entries():
    hr = load_high_risk()
    assert DEFAULT_HIGH_RISK_PATH.name == "high_risk.csv"
    policy = {r.prefix: r for r in hr if r.source.startswith("tandem policy")}
    assert set(policy) == {"881", "882", "883", "979"}
    assert policy["979"].kind == "premium_rate"
    assert {policy[p].kind for p in ("881", "882", "883")} == {"international_network"}
    assert DEFAULT_HIGH_RISK_PATH.stat().st_size < 1_000_000


def test_lookup_takes_the_longest_listed_prefix(tmp_path):
    path = tmp_path / "hr.csv"
    path.write_text(
        "# a comment\n" + HEADER + "44,premium_rate,GB,12,x\n449,premium_rate,GB,12,y\n"
        "\n4487,shared_cost,GB,12,z\n"
    )
    hr = load_high_risk(path)
    assert len(hr) == 3
    assert hr.lookup("449012345678").source == "y"
    assert hr.lookup("448712345678").kind == "shared_cost"
    assert hr.lookup("441234567890").prefix == "44"
    assert hr.lookup("33123") is None and "4412" in hr and "3312" not in hr
    assert hr.match(["449012345678", "3312", "4", "448700"]).to_pylist() == [
        "449",
        None,
        None,
        "4487",
    ]
    assert hr.is_high_risk(pa.chunked_array([["44", "1"], ["4499"]])).tolist() == [
        True,
        False,
        True,
    ]
    assert [r.prefix for r in hr.of_kind("shared_cost")] == ["4487"]


@given(
    prefixes=st.sets(st.text("0123456789", min_size=1, max_size=5), max_size=12),
    numbers=st.lists(st.text("0123456789", max_size=8), max_size=30),
)
def test_vectorised_match_equals_a_brute_force_lookup(prefixes, numbers):
    hr = HighRiskList(HighRiskRange(p, "premium_rate", "001", 15, "t") for p in prefixes)
    expected = []
    for n in numbers:
        hits = [p for p in prefixes if n.startswith(p)]
        expected.append(max(hits, key=len) if hits else None)
    assert hr.match(numbers).to_pylist() == expected
    assert [None if hr.lookup(n) is None else hr.lookup(n).prefix for n in numbers] == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no header"),
        ("prefix,kind\n", "header must be"),
        (HEADER + "44,premium_rate,GB,12\n", "4 fields"),
        (HEADER + "4x,premium_rate,GB,12,s\n", "not all digits"),
        (HEADER + "44,toll_free,GB,12,s\n", "unknown kind"),
        (HEADER + "44,premium_rate,GB,ten,s\n", "length"),
        (HEADER + "4412,premium_rate,GB,3,s\n", "length 3"),
        (HEADER + "44,premium_rate,GB,12,s\n44,shared_cost,GB,12,s\n", "listed twice"),
    ],
)
def test_bad_files_are_refused_by_name(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_high_risk(path)


def test_missing_and_binary_files_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_high_risk(tmp_path / "none.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_high_risk(tmp_path / "bin.csv")
