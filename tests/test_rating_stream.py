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
from tandem.rating.stream import _compact, rate_file


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
    assert _decoded(pq.read_table(out)) == _decoded(rated)
    assert _decoded(pq.read_table(tmp_path / "rated.unrated.parquet")) == _decoded(unrated)
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
