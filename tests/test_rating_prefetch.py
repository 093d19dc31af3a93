"""The Parquet CDR batches decoded ahead (``tandem rate``'s start) and the last batch of a
rated file encoded on both cores: the same rows as the plain path, in the same order."""

from __future__ import annotations

import io
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_rating_cdr import _write_parquet, loaded  # noqa: F401  (fixture)

from tandem.errors import CdrError
from tandem.rating.cdr import CdrReader
from tandem.rating.parquet_parallel import PART_MIN_ROWS, ParallelParquetWriter
from tandem.rating.parquetprefetch import ParquetPrefetch
from tandem.rating.price import Rater
from tandem.rating.stream import LAST_PARTS, ReadAhead, rate_file


def _file(path, rows: int, group: int = 1000) -> pa.Table:
    table = pa.table(
        {
            "start": pa.array(range(rows), pa.int64()),
            "duration": pa.array([i % 600 for i in range(rows)], pa.int64()),
            "number": pa.array([f"4420{i:07d}" for i in range(rows)], pa.string()),
        }
    )
    pq.write_table(table, path, row_group_size=group)
    return table


def test_prefetched_batches_are_those_the_file_gives(tmp_path):
    src = tmp_path / "cdrs.parquet"
    table = _file(src, 5_500)
    prefetch = ParquetPrefetch(src, 700, depth=2)
    got = list(prefetch.take(src, 700))
    assert [b.num_rows for b in got] == [700] * 7 + [600]
    assert pa.Table.from_batches(got).equals(table)


def test_prefetch_of_another_read_is_not_used_and_stops(tmp_path):
    src = tmp_path / "cdrs.parquet"
    _file(src, 5_000)
    prefetch = ParquetPrefetch(src, 100, depth=1)  # blocks on a full queue at once
    assert prefetch.take(src, 200) is None  # another batch size
    assert not prefetch._thread.is_alive()
    other = ParquetPrefetch(src, 100, depth=1)
    assert other.take(tmp_path / "other.parquet", 100) is None
    assert not other._thread.is_alive()


def test_prefetch_closed_early_stops_its_thread(tmp_path):
    src = tmp_path / "cdrs.parquet"
    _file(src, 5_000)
    prefetch = ParquetPrefetch(src, 100, depth=1)
    it = prefetch.take(src, 100)
    assert next(it).num_rows == 100
    it.close()
    assert not prefetch._thread.is_alive()
    assert not [t for t in threading.enumerate() if t.name == "parquet-prefetch"]


def test_a_file_that_is_not_parquet_fails_where_it_is_read(tmp_path):
    src = tmp_path / "cdrs.parquet"
    src.write_bytes(b"not parquet at all")
    reader = CdrReader(batch_size=100, prefetch=ParquetPrefetch(src, 100))
    with pytest.raises(CdrError, match="cdrs.parquet: not a readable Parquet file"):
        list(reader.batches(src))
    with pytest.raises(CdrError, match="cdrs.parquet: not a readable Parquet file"):
        list(CdrReader(batch_size=100).batches(src))


def test_reader_with_prefetch_gives_the_same_canonical_batches(tmp_path):
    src = tmp_path / "cdrs.parquet"
    _file(src, 3_000)
    plain = list(CdrReader(batch_size=512).batches(src))
    prefetch = ParquetPrefetch(src, 512)
    reader = CdrReader(batch_size=512, prefetch=prefetch)
    got = list(reader.batches(src))
    assert reader.prefetch is None and not prefetch._thread.is_alive()
    assert len(got) == len(plain) and all(a.equals(b) for a, b in zip(got, plain, strict=True))


def test_a_projecting_reader_reads_itself(tmp_path):
    src = tmp_path / "cdrs.parquet"
    _file(src, 1_000)
    prefetch = ParquetPrefetch(src, 256)
    reader = CdrReader(batch_size=256, columns=frozenset({"start", "duration", "number"}))
    reader.prefetch = prefetch
    got = pa.concat_tables(reader.batches(src))
    assert not prefetch._thread.is_alive() and not prefetch._taken
    assert got.equals(
        pa.concat_tables(CdrReader(batch_size=256).batches(src)).select(got.column_names)
    )


def test_a_table_written_in_parts_is_cut_into_row_groups_of_the_same_rows():
    rows = 2 * PART_MIN_ROWS + 5
    table = pa.table(
        {
            "record": pa.array(range(rows), pa.int64()),
            "prefix": pa.array([f"44{i % 7}" for i in range(rows)]).dictionary_encode(),
        }
    )
    small = table.slice(0, PART_MIN_ROWS + 1)  # too small to cut
    sink = io.BytesIO()
    writer = ParallelParquetWriter(sink, table.schema, workers=2, use_dictionary=["prefix"])
    writer.write_table(table, parts=2)
    writer.write_table(small, parts=2)
    writer.close()
    meta = pq.ParquetFile(io.BytesIO(sink.getvalue())).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sizes == [PART_MIN_ROWS + 3, PART_MIN_ROWS + 2, PART_MIN_ROWS + 1]
    got = pq.read_table(io.BytesIO(sink.getvalue()))
    assert got.to_pylist() == pa.concat_tables([table, small]).to_pylist()


def test_read_ahead_knows_its_end():
    tables = [pa.table({"a": [i]}) for i in range(3)]
    batches = ReadAhead(iter(tables))
    seen = []
    for t in batches:
        seen.append((t["a"][0].as_py(), batches.at_end()))
    assert seen == [(0, False), (1, False), (2, True)]


def test_the_last_batch_of_a_rated_file_is_encoded_in_last_parts_row_groups(tmp_path, loaded):  # noqa: F811
    src = tmp_path / "cdrs.parquet"
    n = 8 * PART_MIN_ROWS
    _write_parquet(src, n)
    rater = Rater.from_store(loaded)
    out = tmp_path / "rated.parquet"
    summary = rate_file(src, out, rater, reader=CdrReader(batch_size=n // 2))
    meta = pq.ParquetFile(out).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sum(sizes) == summary.rated and summary.rated > 4 * PART_MIN_ROWS
    # the first batch's rated rows one row group, the last batch's cut in LAST_PARTS
    # parts of about equal size (as many as have PART_MIN_ROWS rows)
    last = summary.rated - sizes[0]
    parts = min(LAST_PARTS, last // PART_MIN_ROWS)
    assert parts >= 3 and len(sizes) == 1 + parts, sizes
    assert max(sizes[1:]) - min(sizes[1:]) < parts, sizes
    single = tmp_path / "single.parquet"
    rate_file(src, single, rater, reader=CdrReader(batch_size=n))
    assert pq.read_table(out).to_pylist() == pq.read_table(single).to_pylist()


def test_tandem_rate_stops_its_prefetch_when_it_refuses_the_outputs(tmp_path):
    from click.testing import CliRunner

    from tandem.cli.main import cli

    src = tmp_path / "cdrs.parquet"
    _file(src, 20_000)
    result = CliRunner().invoke(
        cli, ["rate", str(src), "-o", str(src), "--db", str(tmp_path / "t.db"), "-q"]
    )
    assert result.exit_code != 0 and "is the CDR file being rated" in result.output
    assert not [t for t in threading.enumerate() if t.name == "parquet-prefetch"]


def test_the_parts_of_a_table_are_queued_before_waiting_for_the_tables_before():
    # The first table's encoding is held until the second table's last part has begun
    # encoding: it can only begin if every part was queued before write_table waited
    # for the first table (which it does with two tables in flight on two threads).
    rows = 2 * PART_MIN_ROWS
    table = pa.table({"record": pa.array(range(rows), pa.int64())})
    last_part_begun = threading.Event()
    seen, waited = [], []

    def prepare(t: pa.Table) -> pa.Table:
        seen.append(t.column(0)[0].as_py())
        if t.column(0)[0].as_py() == 1_000_000:  # the first table
            waited.append(last_part_begun.wait(timeout=10))
        elif t.column(0)[0].as_py() == PART_MIN_ROWS:
            last_part_begun.set()
        return t

    first = pa.table({"record": pa.array(range(1_000_000, 1_000_000 + rows), pa.int64())})
    sink = io.BytesIO()
    writer = ParallelParquetWriter(sink, table.schema, workers=2, prepare=prepare)
    writer.write_table(first)
    writer.write_table(table, parts=2)
    writer.close()
    assert waited == [True]  # not a wait that ran out
    assert sorted(seen) == [0, PART_MIN_ROWS, 1_000_000]
    got = pq.read_table(io.BytesIO(sink.getvalue()))
    assert got.column(0).to_pylist() == first.column(0).to_pylist() + list(range(rows))
