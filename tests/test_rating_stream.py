"""Streaming a CDR file: constant memory, and the written files hold exactly what was priced."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st
from test_rating_cdr import _write_parquet, loaded  # noqa: F401  (fixture)

from tandem.rating.cdr import CdrReader
from tandem.rating.price import Rater, split_rated
from tandem.rating.stream import _compact, output_times, rate_file


def _big_parquet(path, batches: int, rows: int) -> None:
    """A file of ``batches`` row groups of near-unique numbers (about 1 MB each)."""
    rng = np.random.default_rng(7)
    schema = pa.schema([("number", pa.string()), ("start", pa.int64()), ("duration", pa.int64())])
    with pq.ParquetWriter(path, schema) as w:
        for _ in range(batches):
            numbers = rng.integers(10**11, 10**12, rows).astype(str)
            w.write_table(
                pa.table(
                    {
                        "number": numbers,
                        "start": rng.integers(0, 10**9, rows),
                        "duration": rng.integers(0, 600, rows),
                    }
                ),
                row_group_size=rows,
            )


def _growth(samples: list[int]) -> int:
    """Arrow bytes held at the end of a run beyond what was held after its first batches."""
    return max(samples[-5:]) - max(samples[:5])


def test_parquet_reader_keeps_no_earlier_batches(tmp_path):
    # Arrow's pre-buffering reader cache would keep every row group read so far (about
    # 1 MB per batch here, 40 MB by the end); batches must be let go once consumed.
    src = tmp_path / "cdrs.parquet"
    _big_parquet(src, 40, 50_000)
    held = []
    for batch in CdrReader(batch_size=50_000, customer="c", carrier="k").batches(src):
        assert batch.num_rows == 50_000
        del batch
        held.append(pa.total_allocated_bytes())
    assert len(held) == 40
    assert _growth(held) < 2_000_000, held


def test_rate_file_memory_does_not_grow_with_the_file(tmp_path, loaded):  # noqa: F811
    src = tmp_path / "cdrs.parquet"
    _write_parquet(src, 60_000)
    rater = Rater.from_store(loaded)
    held = []
    summary = rate_file(
        src,
        tmp_path / "rated.parquet",
        rater,
        reader=CdrReader(batch_size=2_000),
        on_batch=lambda n: held.append(pa.total_allocated_bytes()),
    )
    assert summary.rows_in == 60_000 and len(held) == 30
    assert _growth(held) < 1_000_000, held


def _decoded(table: pa.Table) -> dict[str, list]:
    """Column values with dictionaries decoded (what a reader of the file sees)."""
    return {name: table.column(name).to_pylist() for name in table.column_names}


def test_written_files_hold_what_was_priced(tmp_path, loaded):  # noqa: F811
    # Batches of 5 CDRs against decks of 6-10 prefixes: every prefix dictionary outnumbers
    # its batch, so the writer compacts it; the files must still read back value for value,
    # unrated rows' nulls included.
    src = tmp_path / "cdrs.parquet"
    _write_parquet(src, 300)
    rater = Rater.from_store(loaded)
    out = tmp_path / "rated.parquet"
    summary = rate_file(src, out, rater, reader=CdrReader(batch_size=5))
    rated, unrated = split_rated(rater.price(next(CdrReader(batch_size=300).batches(src))))
    assert summary.unrated_count == unrated.num_rows > 0
    assert _decoded(pq.read_table(out)) == _decoded(output_times(rated))
    unrated_file = pq.read_table(tmp_path / "rated.unrated.parquet")
    assert _decoded(unrated_file) == _decoded(output_times(unrated))
    # and the prefix column really was dictionary-encoded in the file
    meta = pq.ParquetFile(out).metadata
    col = meta.schema.names.index("sell_prefix")
    assert "RLE_DICTIONARY" in meta.row_group(0).column(col).encodings
    record = meta.row_group(0).column(meta.schema.names.index("record"))
    assert "DELTA_BINARY_PACKED" in record.encodings


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(max_size=3), min_size=1, max_size=30, unique=True),
    st.data(),
)
def test_compact_keeps_every_value(dictionary, data):
    codes = data.draw(
        st.lists(st.none() | st.integers(0, len(dictionary) - 1), min_size=1, max_size=20)
    )
    arr = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(dictionary))
    out = _compact(arr)
    assert out.to_pylist() == arr.to_pylist()
    assert len(out.dictionary) <= len(set(c for c in codes if c is not None)) + 1


# -- rerating a period ------------------------------------------------------------------------

DAY = 86_400


def _month_of_cdrs(path) -> int:
    """CDRs over days 2, 3 and 4 of the decks' month, plus one without a start time and one
    to a number no deck prices; returns the day-3 start (the period rerated below)."""
    from test_rating_cdr import EFF

    day3 = EFF + 2 * DAY
    rng = np.random.default_rng(11)
    n = 90
    start = pa.array(
        [None] + [int(day3 + (k % 3 - 1) * DAY + rng.integers(0, DAY)) for k in range(n - 1)],
        pa.int64(),
    )
    numbers = rng.choice(["4420", "447", "1212", "34"], n).astype(object)
    numbers = np.char.add(numbers.astype(str), rng.integers(10**6, 10**7, n).astype(str))
    numbers[5] = "8811234567"  # no matching prefix
    pq.write_table(
        pa.table(
            {
                "start": start,
                "duration": rng.integers(1, 300, n),
                "number": numbers.tolist(),
                "customer": ["acme-telecom"] * n,
                "carrier": rng.choice(["atlas", "borealis", "cygnus"], n).tolist(),
            }
        ),
        path,
    )
    return day3


def _by_record(*paths) -> dict[int, dict]:
    rows = {}
    for p in paths:
        for row in pq.read_table(p).to_pylist():
            assert row["record"] not in rows
            rows[row["record"]] = row
    return rows


def test_rerating_a_period_replaces_it_and_keeps_the_rest(tmp_path, loaded):  # noqa: F811
    from test_rating_cdr import write_sell_deck

    src = tmp_path / "cdrs.parquet"
    day3 = _month_of_cdrs(src)
    out, unrated = tmp_path / "rated.parquet", tmp_path / "rated.unrated.parquet"
    whole = rate_file(src, out, Rater.from_store(loaded), reader=CdrReader(batch_size=16))
    before = _by_record(out, unrated)
    assert len(before) == whole.rows_in == 90

    # A corrected customer deck (every rate doubled) in force from day 3 onward.
    write_sell_deck(loaded, effective_from=day3, factor=2)
    corrected = Rater.from_store(loaded)
    period = (day3, day3 + DAY)
    again = rate_file(src, out, corrected, reader=CdrReader(batch_size=16), period=period)
    after = _by_record(out, unrated)
    assert after.keys() == before.keys()  # nothing lost, nothing doubled

    fresh = {r["record"]: r for r in corrected.price(next(CdrReader().batches(src))).to_pylist()}
    in_period = {k for k, r in before.items() if r["start_epoch"] is not None and
                 period[0] <= r["start_epoch"] < period[1]}  # fmt: skip
    assert 0 < len(in_period) < 89
    assert again.rows_in == len(in_period) == again.rated + again.unrated_count
    assert again.outside_period == again.kept == 90 - len(in_period)
    for k in before:
        if k in in_period:  # the period: priced again, with the corrected deck
            assert after[k]["sell_amount"] == fresh[k]["sell_amount"]
            if after[k]["sell_amount"] is not None:
                assert after[k]["sell_amount"] == 2 * before[k]["sell_amount"]
        else:  # day 2, day 4 (also under the new deck, but outside the period), no start
            assert after[k] == before[k]
    doc = again.as_json()
    assert doc["period"] == {"from": "2026-11-03T00:00:00Z", "until": "2026-11-04T00:00:00Z"}

    # Idempotent: the same rerate again (other batches) leaves the same rows, in order.
    first = _decoded(pq.read_table(out)), _decoded(pq.read_table(unrated))
    rate_file(src, out, corrected, reader=CdrReader(batch_size=7), period=period)
    assert (_decoded(pq.read_table(out)), _decoded(pq.read_table(unrated))) == first


def test_cli_rerates_a_period_and_refuses_bad_periods(tmp_path, loaded):  # noqa: F811
    import json

    from click.testing import CliRunner

    from tandem.cli.main import cli

    src = tmp_path / "cdrs.parquet"
    _month_of_cdrs(src)
    out = tmp_path / "rated.parquet"
    db = ["--db", str(loaded.url.removeprefix("sqlite:///"))]
    runner = CliRunner()
    assert runner.invoke(cli, [*db, "rate", str(src), "-o", str(out)]).exit_code == 0
    whole = out.read_bytes()
    result = runner.invoke(
        cli,
        [*db, "rate", str(src), "-o", str(out), "--from", "2026-11-03", "--until",
         "2026-11-04", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["rows_in"] + doc["outside_period"] == 90 and doc["kept"] == doc["outside_period"]
    assert doc["period"]["from"] == "2026-11-03T00:00:00Z"
    rerated = out.read_bytes()
    for bad, message in (
        (["--from", "2026-11-03"], "both --from and --until"),
        (["--from", "2026-11-04", "--until", "2026-11-03"], "must be after --from"),
        (["--from", "yesterday", "--until", "2026-11-03"], "'--from': 'yesterday' is not an"),
    ):
        refused = runner.invoke(cli, [*db, "rate", str(src), "-o", str(out), *bad])
        assert refused.exit_code == 2 and message in refused.output, refused.output
    assert out.read_bytes() == rerated != whole  # refused runs left the results alone
    # An output that is not Tandem's (no start column) is refused, and left as it was.
    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), foreign)
    refused = runner.invoke(
        cli, [*db, "rate", str(src), "-o", str(foreign), "--from", "2026-11-03", "--until",
              "2026-11-04"],
    )  # fmt: skip
    assert refused.exit_code == 2 and "not a Tandem rating output" in refused.output
    assert pq.read_table(foreign).equals(pa.table({"x": [1, 2]}))


def test_rated_and_unrated_files_hold_start_as_a_utc_instant(tmp_path, loaded):  # noqa: F811
    # A warehouse, pandas or DuckDB reads ``start`` as an instant, not as a number.
    src = tmp_path / "cdrs.parquet"
    _write_parquet(src, 300)
    canon = next(CdrReader(batch_size=300).batches(src))
    rate_file(src, tmp_path / "rated.parquet", Rater.from_store(loaded))
    for name in ("rated.parquet", "rated.unrated.parquet"):
        table = pq.read_table(tmp_path / name)
        assert table.num_rows
        assert table.schema.field("start").type == pa.timestamp("us", tz="UTC")
        assert table.schema.field("start_epoch").type == pa.int64()
        names = table.column_names
        assert names.index("start_epoch") == names.index("start") + 1
        by_record = dict(zip(canon.column("record").to_pylist(), canon.column("start").to_pylist(),
                             strict=True))  # fmt: skip
        for rec, at, epoch in zip(*(table.column(c).to_pylist() for c in
                                    ("record", "start", "start_epoch")), strict=True):  # fmt: skip
            assert epoch == by_record[rec]
            assert at is None if epoch is None else at.timestamp() == epoch
        frame = table.to_pandas()
        assert str(frame["start"].dtype) == "datetime64[us, UTC]"


def test_the_commit_hands_the_earlier_outputs_blocks_to_a_helper(tmp_path, loaded, monkeypatch):  # noqa: F811
    # The earlier rated and unrated files are removed before the new ones are renamed in
    # (names gone at once), their blocks freed by a helper process after the commit.
    from tandem.files import DeferredRemoval

    src = tmp_path / "cdrs.parquet"
    _write_parquet(src, 3000)
    rater = Rater.from_store(loaded)
    out = tmp_path / "rated.parquet"
    rate_file(src, out, rater)
    first = pq.read_table(out)
    removed, released = [], []
    unlink, release = DeferredRemoval.unlink, DeferredRemoval.release

    def spy_unlink(self, path):
        removed.append(path.name)
        unlink(self, path)

    def spy_release(self):
        released.append(len(self._fds))
        return release(self)

    monkeypatch.setattr(DeferredRemoval, "unlink", spy_unlink)
    monkeypatch.setattr(DeferredRemoval, "release", spy_release)
    rate_file(src, out, rater)
    assert sorted(removed) == ["rated.parquet", "rated.unrated.parquet"]
    assert released == [2]
    assert pq.read_table(out).equals(first)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
