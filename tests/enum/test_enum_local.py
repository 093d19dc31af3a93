"""The local portability table: CSV, store import, longest prefix, vectorised mapping."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.enum.local import (
    ChainedLookup,
    LocalPortTable,
    PortEntry,
    import_port_csv,
    import_ports,
    read_port_csv,
)
from tandem.enum.resolver import EnumResolver
from tandem.enum.types import LookupKind, NumberInfo, NumberLookup
from tandem.errors import PortDataError

CSV = """number_prefix,routing_number,sip_uri,comment
+44 20,+44 990,,London block ported to carrier 990
442071234567,442071234567,,ported back home
+33 1,,sip:paris@core.example.net,on-net range
3312345,33999,sip:x@core.example.net,both

1202556,+1-202-555-9999,,
"""


def write(tmp_path, text, name="np.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_read_csv_and_longest_prefix(tmp_path):
    table = LocalPortTable.from_csv(write(tmp_path, CSV))
    assert len(table) == 5
    assert isinstance(table, NumberLookup)
    info = table.lookup("+442079999999")
    assert info.kind is LookupKind.PORTED and info.routing_number == "44990"
    assert info.source == "local" and "np.csv line 2" in info.detail
    assert table.lookup("442071234567").kind is LookupKind.NOT_PORTED
    on_net = table.lookup("33155")
    assert on_net.kind is LookupKind.ON_NET and on_net.sip_uri == "sip:paris@core.example.net"
    both = table.lookup("331234567")
    assert both.kind is LookupKind.ON_NET and both.routing_number == "33999"
    assert table.lookup("12025559999").kind is LookupKind.NOT_FOUND
    assert table.lookup("1202556").routing_number == "12025559999"


@pytest.mark.parametrize(
    "text, line, reason",
    [
        ("number_prefix,routing_number\nabc,44\n", 2, "not E.164"),
        ("number_prefix,routing_number\n44,\n", 2, "routing_number or a sip_uri"),
        ("number_prefix,sip_uri\n44,http://x\n", 2, "sip: or sips:"),
        ("number_prefix,routing_number\n44,1\n44,2\n", 3, "already on line 2"),
        ("number_prefix,routing_number\n44,1234567890123456\n", 2, "more than 15"),
        ("number_prefix,routing_number\n,1\n", 2, "empty"),
        ("number_prefix,sip_uri\n44,sip:a b\n", 2, "spaces"),
    ],
)
def test_bad_rows_reported_with_line_and_reason(tmp_path, text, line, reason):
    with pytest.raises(PortDataError) as err:
        read_port_csv(write(tmp_path, text))
    assert err.value.problems[0][0] == line
    assert reason in err.value.problems[0][1]
    assert f"line {line}" in str(err.value)


@pytest.mark.parametrize(
    "text",
    ["", "routing_number,sip_uri\n1,\n", "number_prefix\n44\n", "number_prefix,rn\n"],
)
def test_bad_files(tmp_path, text):
    with pytest.raises(PortDataError):
        read_port_csv(write(tmp_path, text))


def test_not_utf8_and_missing_file(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"number_prefix,sip_uri\n44,sip:\xe9@x\n")
    with pytest.raises(PortDataError, match="UTF-8"):
        read_port_csv(path)
    with pytest.raises(PortDataError, match="cannot read"):
        read_port_csv(tmp_path / "absent.csv")


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_fuzz_csv(text):
    try:
        entries = read_port_csv(io.StringIO(text))
    except PortDataError:
        return
    assert entries and all(e.number_prefix.isdigit() for e in entries)


def test_store_import_atomic_merge_and_replace(store, tmp_path):
    good = write(tmp_path, CSV)
    summary = import_port_csv(store, good)
    assert (summary.imported, summary.deactivated, summary.active) == (5, 0, 5)
    table = LocalPortTable.from_store(store)
    assert table.lookup("442079999999").routing_number == "44990"
    # A bad file changes nothing.
    bad = write(tmp_path, "number_prefix,routing_number\n4420,4477\nxx,1\n", "bad.csv")
    with pytest.raises(PortDataError):
        import_port_csv(store, bad)
    assert LocalPortTable.from_store(store).lookup("442079999999").routing_number == "44990"
    # Merge: the new 4420 entry supersedes the old one; the rest stay.
    update = write(tmp_path, "number_prefix,routing_number\n4420,4477\n", "update.csv")
    summary = import_port_csv(store, update)
    assert (summary.imported, summary.deactivated, summary.active) == (1, 1, 5)
    table = LocalPortTable.from_store(store)
    assert table.lookup("442079999999").routing_number == "4477"
    assert table.lookup("33155").kind is LookupKind.ON_NET
    # Replace: the file is the whole table.
    summary = import_port_csv(store, update, replace=True)
    assert (summary.imported, summary.deactivated, summary.active) == (1, 5, 1)
    table = LocalPortTable.from_store(store)
    assert len(table) == 1 and table.lookup("33155").kind is LookupKind.NOT_FOUND


def test_import_reports_progress(sqlite_store):
    entries = [PortEntry(str(10_000 + i), "44990") for i in range(25_000)]
    seen = []
    import_ports(sqlite_store, entries, source="gen", on_progress=seen.append)
    assert sum(seen) == 25_000 and len(seen) == 3


def test_routing_numbers_vectorised(tmp_path):
    table = LocalPortTable.from_csv(write(tmp_path, CSV))
    numbers = pd.Series(
        ["+442079999999", "442071234567", "33155", "331234567", "4", None, "x", "12025561111"],
        index=[10, 11, 12, 13, 14, 15, 16, 17],
    )
    got = table.routing_numbers(numbers)
    assert list(got.index) == list(numbers.index)
    assert str(got.dtype) == "string"
    expected = ["44990", None, None, "33999", None, None, None, "12025559999"]
    assert [None if pd.isna(v) else v for v in got] == expected


@given(
    st.dictionaries(
        st.text(alphabet="0123", min_size=1, max_size=4),
        st.one_of(st.none(), st.text(alphabet="0123", min_size=1, max_size=5)),
        max_size=12,
    ),
    st.lists(st.text(alphabet="0123", min_size=1, max_size=6), max_size=30),
)
@settings(max_examples=150, deadline=None)
def test_routing_numbers_match_scalar_lookup(entries, numbers):
    table = LocalPortTable(PortEntry(p, rn, None if rn else "sip:x@h") for p, rn in entries.items())
    got = table.routing_numbers(pd.Series(numbers, dtype=object))
    for number, value in zip(numbers, got, strict=True):
        # Brute force: the longest prefix among all entries.
        matches = [p for p in entries if number.startswith(p)]
        best = max(matches, key=len) if matches else None
        rn = entries.get(best) if best else None
        want = rn if rn and rn != number else None
        assert (None if pd.isna(value) else value) == want
        info = table.lookup(number)
        assert (info.routing_number if info.kind is LookupKind.PORTED else None) == want


class _Fixed:
    def __init__(self, info):
        self.info = info
        self.calls = 0

    def lookup(self, number):
        self.calls += 1
        return self.info


def test_chained_lookup_order():
    found = NumberInfo("1", LookupKind.PORTED, routing_number="2", source="local")
    missing = NumberInfo("1", LookupKind.NOT_FOUND, source="local")
    failed = NumberInfo("1", LookupKind.TIMEOUT)
    a, b = _Fixed(found), _Fixed(failed)
    assert ChainedLookup(a, b).lookup("1") is found and b.calls == 0
    a, b = _Fixed(missing), _Fixed(failed)
    assert ChainedLookup(a, b).lookup("1") is failed
    assert ChainedLookup(_Fixed(missing)).lookup("1") is missing


def test_local_before_dns(tmp_path, nsd_server):
    table = LocalPortTable.from_csv(write(tmp_path, CSV))
    chain = ChainedLookup(table, EnumResolver([nsd_server], budget_ms=500))
    assert chain.lookup("442079999999").source == "local"
    # Not in the local table: DNS answers.
    info = chain.lookup("12025550100")
    assert info.source == "dns" and info.routing_number == "12025559999"
