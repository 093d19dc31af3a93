"""Fuzzing the vendor file: whatever it holds, reading it gives every record (or one
clear TandemError), and the reconciliation runs on what was read."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tandem.cli.main import cli
from tandem.errors import TandemError
from tandem.recon.read import PROBLEMS, read_side
from tandem.recon.reconcile import reconcile
from tests.recon.helpers import make_store
from tests.recon.test_match_property import RATER, cdr_side

HEADERS = ["Connect Time", "start", "calldate", "Billed Sec", "billsec", "duration",
           "Called Number", "dst", "number", "rate", "Rate/min", "amount", "cost", "call_id",
           "uniqueid", "x", "y", "Charge", "carrier"]  # fmt: skip
CELLS = st.one_of(
    st.sampled_from([
        "2026-11-02 10:00:00", "2026-11-02T09:00:00Z", "2026-03-29 02:30:00", "2026-10-25 02:30:00",
        "1793610000", "02/11/2026 10:00", "9999-12-31 23:59:59", "", "NULL", "n/a",
        "0207 946 0000", "+44 20 7946 0000", "0044207946", "011 44", "0", "(0)20", "+", "abc",
        "30", "-5", "1e400", "61.5", "0,0123", "$0.01", "1,234.50", "0.0000000001", "1e-9999999",
        "=HYPERLINK(1)", "é", "12345678901234567890",
    ]),
    st.text(alphabet=st.characters(blacklist_characters='\n\r"\x00', blacklist_categories=["Cs"]),
            max_size=12),
)  # fmt: skip

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))


@st.composite
def vendor_files(draw):
    extra = st.lists(st.sampled_from(HEADERS), min_size=1, max_size=8, unique=True)
    usable = extra.map(lambda h: ["start", "billsec", "dst"] + [c for c in h if c not in
                                  ("start", "billsec", "dst")])  # fmt: skip
    header = draw(st.one_of(extra, usable))
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=len(header) + 2), max_size=12))
    text = ",".join(header) + "\n" + "".join(",".join(r) + "\n" for r in rows)
    return text, rows


@SETTINGS
@given(case=vendor_files(), cc=st.sampled_from([None, "44"]), comma=st.booleans())
def test_reading_any_vendor_file_keeps_every_record_or_says_why_not(
    tmp_path_factory, case, cc, comma
):
    text, rows = case
    path = tmp_path_factory.mktemp("fuzz") / "theirs.csv"
    path.write_text(text, encoding="utf-8")
    try:
        side = read_side(path, name="theirs", country_code=cc, decimal_comma=comma,
                         timezone="Europe/Paris")  # fmt: skip
    except TandemError as exc:
        assert str(exc)
        event("refused with a TandemError")
        return
    event("read")
    records = [r for r in text.split("\n")[1:] if r.strip() != ""]
    assert len(side) == len(records)
    assert side.record.tolist() == list(range(1, len(side) + 1))
    assert set(np.unique(side.problem).tolist()) <= set(range(len(PROBLEMS) + 1))
    usable = side.usable
    assert (side.key[usable] > 0).all() and (side.start[usable] >= 0).all()
    assert (side.duration[usable] >= 0).all()
    digits = side.digits.to_pylist()
    assert all((d is None) == (k < 0) for d, k in zip(digits, side.key.tolist(), strict=True))
    ours = cdr_side("ours", [(12345, 0, 30, None, None, None)])
    recon = reconcile(ours, side, "acme", RATER)
    assert recon.theirs == len(side) and sum(recon.counts().values()) >= len(side)


_STORE: dict = {}  # one store for every example (the examples only read it)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=400))
def test_any_bytes_as_the_vendor_file_exit_0_or_one_clear_error(tmp_path_factory, data):
    d = tmp_path_factory.mktemp("bytes")
    if "db" not in _STORE:
        _STORE["db"] = make_store(tmp_path_factory.mktemp("store") / "t.db")
    db = _STORE["db"]
    ours = d / "ours.csv"
    ours.write_text("start,billsec,number,carrier\n1793610000,30,+442079460000,acme\n")
    theirs = d / "theirs.csv"
    theirs.write_bytes(b"start,duration,number,amount\n" + data)
    res = CliRunner().invoke(
        cli, ["reconcile", str(ours), str(theirs), "--carrier", "acme", "--db", str(db), "--json"]
    )
    assert res.exit_code in (0, 2), res.output
    assert "Traceback" not in res.output + res.stderr
    if res.exit_code == 2:
        assert res.stderr.startswith("tandem: error: ")
