"""Every CDR keeps its place in the source file: ``record`` (the Nth record, malformed ones
counted where they stand) and ``line`` (the line it starts on), in every text format, with
malformed records in the middle (issue 10 item 7)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow as pa
import pytest
from rating_helpers import rates_frame

from tandem.rating.cdr import ASTERISK_FIELDS, FREESWITCH_FIELDS, CdrReader
from tandem.rating.price import Rater

DATA = Path(__file__).resolve().parent.parent / "data" / "cdrs"


def _line(values: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def _asterisk(i: int) -> list[str]:
    row = dict.fromkeys(ASTERISK_FIELDS, "")
    row.update(
        accountcode="ACME01",
        dst=f"4420712{i:05d}",
        dstchannel=f"PJSIP/atlas-0000a{i:03x}",
        start="2026-11-02 09:15:03",
        answer="2026-11-02 09:15:09",
        end="2026-11-02 09:16:10",
        duration="67",
        billsec="61",
        disposition="ANSWERED",
        uniqueid=f"call-{i}",
    )
    return [row[f] for f in ASTERISK_FIELDS]


def _freeswitch(i: int) -> list[str]:
    row = dict.fromkeys(FREESWITCH_FIELDS, "")
    row.update(
        destination_number=f"4420712{i:05d}",
        start_stamp="2026-11-02 15:15:03",
        answer_stamp="2026-11-02 15:15:09",
        end_stamp="2026-11-02 15:16:10",
        duration="67",
        billsec="61",
        uuid=f"call-{i}",
        accountcode="acme",
    )
    return [row[f] for f in FREESWITCH_FIELDS]


def _plain(i: int) -> list[str]:
    return ["2026-11-02T14:00:00Z", "60", f"4420712{i:05d}", "acme", "atlas", f"call-{i}"]


def _kamailio(i: int) -> list[str]:
    return ["2026-11-02 14:15:03.120", "2026-11-02 14:16:04.370", "61.250", f"call-{i}",
            f"4420712{i:05d}", "acme", "atlas"]  # fmt: skip


FORMATS = {
    "csv": (["start", "duration", "number", "customer", "carrier", "call_id"], _plain),
    "kamailio": (
        ["start_time", "end_time", "duration", "callid", "dst_user", "src_account", "dst_gw"],
        _kamailio,
    ),
    "asterisk": (None, _asterisk),
    "freeswitch": (None, _freeswitch),
}

#: Malformed records put in the middle of a file (the text as written, one line each but
#: the last, whose unbalanced quote runs on to the end of the file).
SHORT = "ACME01,2125550100,short\n"


def _build(fmt: str, *, quote_at_end: bool) -> tuple[str, list[dict]]:
    """A file with good records and malformed ones between them; what each record is."""
    header, make = FORMATS[fmt]
    text = _line(header) if header else ""
    expect: list[dict] = []

    def add(chunk: str, good_id: int | None) -> None:
        nonlocal text
        line = text.count("\n") + 1
        text += chunk
        expect.append({"line": line, "id": good_id, "raw": None if good_id else chunk.rstrip("\n")})

    add(_line(make(1)), 1)
    add(SHORT, None)  # too few fields
    add(_line(make(2)), 2)
    if header:  # too many fields: an error only where the header fixes the width
        add(_line([*make(99), "extra", "fields"]), None)
    add(_line(make(3)), 3)
    text += "\n"  # a blank line: no record
    add(_line(make(4)).replace("4420712", 'x"4420712', 0), 4)
    # a record spread over two lines (a quoted line break), then a good one after it
    two = make(5)
    two[-1] = two[-1] + "\nsecond line"
    add(_line(two), 5)
    add(_line(make(6)), 6)
    if quote_at_end:  # an unbalanced quote swallows the rest of the file
        add('"unbalanced,' + _line(make(7)) + _line(make(8)), None)
    return text, expect


def _read(path: Path, fmt: str) -> list[dict]:
    rows: list[dict] = []
    for batch in CdrReader(format=fmt, timezone="Europe/London").batches(path):
        rows.extend(batch.to_pylist())
    return rows


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("quote_at_end", [False, True])
def test_records_keep_their_line_after_malformed_ones(tmp_path, fmt, quote_at_end):
    text, expect = _build(fmt, quote_at_end=quote_at_end)
    path = tmp_path / "cdrs.csv"
    path.write_text(text)
    rows = _read(path, fmt)
    assert [r["record"] for r in rows] == list(range(1, len(expect) + 1))
    assert [r["line"] for r in rows] == [e["line"] for e in expect]
    lines = text.split("\n")
    for row, want in zip(rows, expect, strict=True):
        if want["id"] is None:  # malformed: no values, its text kept, at its line
            assert row["raw"] == want["raw"]
            assert row["start"] is None and row["number"] is None
            assert lines[row["line"] - 1] == want["raw"].split("\n")[0]
        else:  # the line it names is the line it came from
            assert row["raw"] is None
            assert f"call-{want['id']}" in "\n".join(lines[row["line"] - 1 : row["line"] + 1])
            assert row["number"].endswith(f"{want['id']:05d}")


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_malformed_records_are_unrated_bad_record(tmp_path, fmt):
    text, expect = _build(fmt, quote_at_end=True)
    path = tmp_path / "cdrs.csv"
    path.write_text(text)
    rater = Rater.from_rates(rates_frame([]))
    priced = pa.concat_tables(
        [rater.price(b) for b in CdrReader(format=fmt, timezone="UTC").batches(path)],
        promote_options="permissive",
    )
    reasons = priced.column("sell_reason").to_pylist()
    assert len(reasons) == len(expect)  # rows in == rated + unrated: every record is there
    for reason, want in zip(reasons, expect, strict=True):
        assert (reason == "bad_record") == (want["id"] is None)


def test_a_clean_file_is_read_fast_and_numbered_by_line(tmp_path):
    """One record per line: record k on line k + 1, across batches."""
    header, make = FORMATS["csv"]
    path = tmp_path / "cdrs.csv"
    path.write_text(_line(header) + "".join(_line(make(i)) for i in range(1, 8)))
    rows = []
    for batch in CdrReader(batch_size=3).batches(path):
        rows.extend(batch.to_pylist())
    assert [(r["record"], r["line"]) for r in rows] == [(k, k + 1) for k in range(1, 8)]
    assert [r["call_id"] for r in rows] == [f"call-{k}" for k in range(1, 8)]


def test_samples_number_records_by_line():
    for name, fmt, first in (
        ("asterisk-Master.csv", "asterisk", 1),
        ("freeswitch-Master.csv", "freeswitch", 1),
        ("kamailio-acc_cdrs.csv", "kamailio", 2),
    ):
        rows = _read(DATA / name, fmt)
        assert [r["line"] for r in rows] == list(range(first, first + len(rows)))
