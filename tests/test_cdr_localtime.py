"""CDR times without a zone around DST changes (issue 11 item 5): a start in the repeated
hour is decided by the CDR's end time and duration, or kept as the first occurrence and
reported; a start in the skipped hour is reported, never shifted. Europe/London and
America/New_York, both changes; the vectorised and the scalar path agree."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.cli.main import cli
from tandem.rating.cdr import ASTERISK_FIELDS, CdrReader
from tandem.rating.localtime import AMBIGUOUS, NONEXISTENT, RESOLVED, localize, resolve_local

DECKS = Path(__file__).resolve().parent.parent / "data" / "decks"
_EPOCH = datetime(1970, 1, 1)

# zone, day of the repeated hour (fall back), its hour; day of the skipped hour, its hour
ZONES = {
    "Europe/London": ("2026-10-25", 1, "2026-03-29", 1),
    "America/New_York": ("2026-11-01", 1, "2026-03-08", 2),
}


def _utc(zone: str, text: str, fold: int) -> int:
    local = datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone), fold=fold)
    return int(local.timestamp())


def _asterisk(start: str, end: str, duration: str, billsec: str = "") -> str:
    row = dict.fromkeys(ASTERISK_FIELDS, "")
    row.update(accountcode="acme", dst="442071234567", dstchannel="PJSIP/atlas-0000a1b2",
               start=start, answer=start, end=end, duration=duration,
               billsec=billsec or duration, disposition="ANSWERED")  # fmt: skip
    return ",".join(row[f] for f in ASTERISK_FIELDS) + "\n"


def _cases(zone: str) -> list[tuple[str, str, str, int | None, str | None]]:
    """(start, end, duration, expected start UTC, expected note) around both changes."""
    fall, fh, spring, sh = ZONES[zone]
    a = f"{fall} {fh:02d}:30:00"  # in the repeated hour
    before = f"{fall} {fh - 1:02d}:50:00"
    after = f"{fall} {fh + 1:02d}:10:00"
    gap = f"{spring} {sh:02d}:30:00"
    return [
        # ends after the repeated hour: its length says which 01:30 it was
        (a, after, str(40 * 60), _utc(zone, a, 1), RESOLVED),
        (a, after, str(100 * 60), _utc(zone, a, 0), RESOLVED),
        # began before the change, ended in the repeated hour: only the first fits
        (before, f"{fall} {fh:02d}:40:00", str(50 * 60), _utc(zone, before, 0), None),
        # begins and ends inside the repeated hour: both readings fit, the first is kept
        (a, f"{fall} {fh:02d}:40:00", str(10 * 60), _utc(zone, a, 0), AMBIGUOUS),
        # no end time to decide with
        (a, "", str(10 * 60), _utc(zone, a, 0), AMBIGUOUS),
        # a time the clock skipped: no start, never shifted
        (gap, f"{spring} {sh + 1:02d}:40:00", "600", None, NONEXISTENT),
        # ordinary times are untouched
        (after, f"{fall} {fh + 1:02d}:20:00", "600", _utc(zone, after, 0), None),
    ]


@pytest.mark.parametrize("zone", list(ZONES))
def test_asterisk_starts_in_dst_changes(tmp_path, zone):
    cases = _cases(zone)
    path = tmp_path / "Master.csv"
    path.write_text("".join(_asterisk(s, e, d) for s, e, d, _, _ in cases))
    rows = [r for b in CdrReader(format="asterisk", timezone=zone).batches(path)
            for r in b.to_pylist()]  # fmt: skip
    assert [r["start"] for r in rows] == [c[3] for c in cases]
    assert [r["time_note"] for r in rows] == [c[4] for c in cases]


@pytest.mark.parametrize("zone", list(ZONES))
def test_kamailio_and_parquet_starts_in_dst_changes(tmp_path, zone):
    cases = _cases(zone)
    path = tmp_path / "acc_cdrs.csv"
    path.write_text(
        "start_time,end_time,duration,dst_user,src_account,dst_gw\n"
        + "".join(f"{s},{e},{d},442071234567,acme,atlas\n" for s, e, d, _, _ in cases)
    )
    rows = [r for b in CdrReader(format="kamailio", timezone=zone).batches(path)
            for r in b.to_pylist()]  # fmt: skip
    assert [r["start"] for r in rows] == [c[3] for c in cases]
    assert [r["time_note"] for r in rows] == [c[4] for c in cases]

    # the same CDRs as a Parquet file with naive timestamps
    def stamp(t: str) -> datetime | None:
        return datetime.fromisoformat(t) if t else None

    table = pa.table({
        "start": pa.array([stamp(c[0]) for c in cases], pa.timestamp("us")),
        "end": pa.array([stamp(c[1]) for c in cases], pa.timestamp("us")),
        "duration": pa.array([int(c[2]) for c in cases], pa.int64()),
        "number": ["442071234567"] * len(cases),
    })  # fmt: skip
    pq.write_table(table, tmp_path / "cdrs.parquet")
    rows = [r for b in CdrReader(timezone=zone).batches(tmp_path / "cdrs.parquet")
            for r in b.to_pylist()]  # fmt: skip
    assert [r["start"] for r in rows] == [c[3] for c in cases]
    assert [r["time_note"] for r in rows] == [c[4] for c in cases]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "tandem.db"
    for args in (
        ["deck", "import", str(DECKS / "atlas.csv"), "--carrier", "atlas"],
        ["deck", "import", str(DECKS / "acme-telecom.csv"), "--customer", "acme"],
    ):
        when = ["--effective", "2026-01-01", "--now", "2026-01-01"]
        res = CliRunner().invoke(cli, [*args, *when, "--db", str(path), "-q"])
        assert res.exit_code == 0, res.output
    return path


def test_cli_reports_dst_notes(tmp_path, db):
    zone = "America/New_York"
    cases = _cases(zone)
    path = tmp_path / "Master.csv"
    path.write_text("".join(_asterisk(s, e, d) for s, e, d, _, _ in cases))
    args = ["rate", str(path), "--format", "asterisk", "--timezone", zone,
            "-o", str(tmp_path / "rated.parquet"), "--db", str(db)]  # fmt: skip
    res = CliRunner().invoke(cli, [*args, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["ambiguous_times"] == 2
    assert out["ambiguous_times_resolved"] == 2
    assert out["nonexistent_times"] == 1
    assert out["rows_in"] == out["rated"] + sum(out["unrated"].values()) == len(cases)
    assert out["unrated"].get("bad_time") == 1
    text = CliRunner().invoke(cli, args)
    assert text.exit_code == 0, text.output
    assert "warning: 2 CDRs started in the repeated hour" in text.stdout
    assert "warning: 1 CDRs started at a local time the DST change skipped" in text.stdout
    rated = pq.read_table(tmp_path / "rated.parquet")
    unrated = pq.read_table(tmp_path / "rated.unrated.parquet")
    notes = rated.column("time_note").to_pylist() + unrated.column("time_note").to_pylist()
    assert sorted(n for n in notes if n) == sorted(c[4] for c in cases if c[4])


_AROUND = [  # wall seconds of the changes (UTC clock readings), both zones, both years
    int((datetime.fromisoformat(f"{day} {h:02d}:00:00") - _EPOCH).total_seconds())
    for zone in ZONES
    for day, h in ((ZONES[zone][0], ZONES[zone][1]), (ZONES[zone][2], ZONES[zone][3]))
]


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(list(ZONES) + ["Australia/Lord_Howe", "UTC"]),
    st.lists(
        st.one_of(
            st.tuples(st.sampled_from(_AROUND), st.integers(-7200, 7200)).map(sum),
            st.integers(-(2**40), 2**40),  # far outside the calendar too
        ),
        max_size=40,
    ),
)
def test_vectorised_and_scalar_paths_agree(zone, walls):
    wall = np.asarray(walls, dtype=np.int64)
    got = localize(wall, np.ones(len(wall), dtype=bool), zone)
    z = ZoneInfo(zone)
    for i, w in enumerate(walls):
        first, second, note = resolve_local(w, z) if zone != "UTC" else (w, None, None)
        assert bool(got.valid[i]) == (first is not None)
        if first is not None:
            assert int(got.utc[i]) == first
            assert (got.kind[i] == 1) == (second is not None)
            if second is not None:
                assert int(got.second[i]) == second
        else:
            assert (got.kind[i] == 2) == (note == NONEXISTENT)
        if first is not None and -(2**35) < w < 2**35:  # read back: the same wall clock
            back = datetime.fromtimestamp(first, UTC).astimezone(z).replace(tzinfo=None)
            assert back == _EPOCH + timedelta(seconds=w)
