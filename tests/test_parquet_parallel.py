"""One Parquet file from batches encoded on several threads reads back as written."""

from __future__ import annotations

import io
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.rating.parquet_parallel import ParallelParquetWriter, _split, _write_struct


def _table(n: int, seed: int) -> pa.Table:
    vals = [(i * 7919 + seed) % 1000 for i in range(n)]
    return pa.table(
        {
            "record": pa.array(range(seed, seed + n), pa.int64()),
            "start": pa.array([v * 1_000_000 for v in vals], pa.int64()).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "number": pa.array([None if v % 11 == 0 else f"4420{v}" for v in vals], pa.string()),
            "prefix": pa.array([f"44{v % 5}" for v in vals], pa.string()).dictionary_encode(),
            "amount": pa.array(
                [None if v % 13 == 0 else Decimal(v) / 1000 for v in vals], pa.decimal128(19, 9)
            ),
            "flag": pa.array([v % 2 == 0 for v in vals], pa.bool_()),
            "ratio": pa.array([v / 7 for v in vals], pa.float64()),
        }
    )


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 300), min_size=0, max_size=8), st.integers(1, 3))
def test_batches_encoded_in_parallel_read_back_as_one_file(sizes, workers):
    parts = [_table(n, k * 1000) for k, n in enumerate(sizes)]
    schema = _table(0, 0).schema
    sink = io.BytesIO()
    writer = ParallelParquetWriter(
        sink,
        schema,
        workers=workers,
        compression="lz4",
        use_dictionary=["prefix"],
        write_statistics=["record", "start"],
        column_encoding={"record": "DELTA_BINARY_PACKED"},
    )
    for part in parts:
        writer.write_table(part)
    writer.close()
    sink.seek(0)
    got = pq.read_table(sink)
    expected = pa.concat_tables(parts) if parts else schema.empty_table()
    assert got.schema.equals(schema)
    assert got.to_pylist() == expected.to_pylist()
    meta = pq.ParquetFile(io.BytesIO(sink.getvalue())).metadata
    assert meta.num_rows == sum(sizes)
    assert meta.num_row_groups == (sum(1 for n in sizes if n) or 1)  # an empty file has one
    for g in range(meta.num_row_groups if sum(sizes) else 0):  # statistics: their group's
        stats = meta.row_group(g).column(0).statistics
        first = pq.ParquetFile(io.BytesIO(sink.getvalue())).read_row_group(g).column("record")
        assert stats.min == first[0].as_py() and stats.max == first[-1].as_py()


def test_a_footer_is_written_back_byte_for_byte():
    buf = io.BytesIO()
    pq.write_table(_table(500, 3), buf, row_group_size=100)
    data = buf.getvalue()
    _pages, footer = _split(data)
    out = bytearray()
    _write_struct(out, footer)
    size = int.from_bytes(data[-8:-4], "little")
    assert bytes(out) == data[-8 - size : -8]


def test_a_table_of_another_schema_is_refused():
    writer = ParallelParquetWriter(io.BytesIO(), _table(0, 0).schema)
    with pytest.raises(ValueError, match="schema"):
        writer.write_table(_table(3, 0).drop_columns(["flag"]))
    writer.abort()


def test_what_is_not_parquet_is_refused():
    with pytest.raises(ValueError, match="not a Parquet file"):
        _split(b"PAR1 something else")


@pytest.mark.parametrize("sizes", [[300, 0, 41, 200], []])
def test_a_dictionary_column_decoded_for_encoding_keeps_its_type_and_bytes(sizes):
    # ``prepare`` may decode a dictionary column written plain (faster to encode): the
    # file is byte for byte the one the dictionary column gives, its type recorded.
    parts = [_table(n, k * 1000) for k, n in enumerate(sizes)]
    schema = _table(0, 0).schema

    def decode(table: pa.Table) -> pa.Table:
        i = table.schema.get_field_index("prefix")
        return table.set_column(i, "prefix", table.column(i).cast(pa.string()))

    files = []
    for prepare in (None, decode):
        sink = io.BytesIO()
        writer = ParallelParquetWriter(
            sink, schema, workers=2, prepare=prepare, use_dictionary=["number"]
        )
        for part in parts:
            writer.write_table(part)
        writer.close()
        files.append(sink.getvalue())
    assert files[0] == files[1]
    got = pq.read_table(io.BytesIO(files[1]))
    assert got.schema.field("prefix").type == pa.dictionary(pa.int32(), pa.string())
    assert got.to_pylist() == (pa.concat_tables(parts).to_pylist() if parts else [])


def _written(parts: list[pa.Table], workers: int = 2) -> tuple[bytes, ParallelParquetWriter]:
    sink = io.BytesIO()
    writer = ParallelParquetWriter(
        sink, parts[0].schema, workers=workers, compression="lz4", use_dictionary=["prefix"]
    )
    for part in parts:
        writer.write_table(part)
    spare = list(writer.spare)
    writer.close()
    writer.spare = spare  # what the writer held before close let them go
    return sink.getvalue(), writer


def test_tables_are_encoded_into_reused_scratch_buffers_with_the_same_bytes(monkeypatch):
    # The scratch buffers (for tables of 4 MB and more; here every table) change where a
    # table is encoded, not what is written: the file
    # is byte for byte the one encoded into a fresh buffer per table, and the buffers
    # are reused (at most max(2, workers) of them for any number of tables).
    from tandem.rating import parquet_parallel

    parts = [_table(n, k * 1000) for k, n in enumerate([300, 250, 300, 10, 300, 300, 1])]
    monkeypatch.setattr(parquet_parallel, "_SCRATCH_MIN", 0)  # small tables too
    reused, writer = _written(parts)
    assert 1 <= len(writer.spare) <= 2
    monkeypatch.setattr(parquet_parallel, "_SCRATCH_MAX", 0)  # never a scratch buffer
    fresh, writer = _written(parts)
    assert writer.spare == []
    assert reused == fresh
    assert pq.read_table(io.BytesIO(reused)).to_pylist() == pa.concat_tables(parts).to_pylist()


def test_a_table_whose_encoding_outgrows_its_scratch_buffer_is_encoded_anyway(monkeypatch):
    # A scratch buffer is sized from the table's Arrow bytes; an encoding larger than
    # foreseen (here: no room at all beyond them) falls back to a growing buffer.
    from tandem.rating import parquet_parallel

    parts = [_table(n, k) for k, n in enumerate([5, 200, 3])]
    expected, _ = _written(parts)
    monkeypatch.setattr(parquet_parallel, "_SCRATCH_MIN", 0)
    monkeypatch.setattr(parquet_parallel, "_room", lambda table: 16)
    got, _ = _written(parts)
    assert got == expected


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.none(), st.integers(-(10**18) + 1, 10**18 - 1)), max_size=50),
        min_size=1,
        max_size=4,
    ),
    st.integers(0, 3),
)
def test_money_given_as_int64_writes_the_decimal_file_byte_for_byte(parts, skip):
    # The rated file's money columns (decimal128(18, 9), stored as INT64) are handed to
    # the encoder as their int64 scaled values (a quarter of the time): the file is byte
    # for byte the one the decimal columns give, and reads back as the decimals.
    from tandem.rating.stream import _AMOUNTS, _prepare, writer_options

    amount_type = pa.decimal128(18, 9)

    def table(values: list[int | None]) -> pa.Table:
        money = pa.array(
            [None if v is None else Decimal(v).scaleb(-9) for v in values], amount_type
        )
        return pa.table({"record": pa.array(range(len(values)), pa.int64()), _AMOUNTS[0]: money})

    tables = [table(v).slice(min(skip, len(v))) for v in parts]
    schema = tables[0].schema
    assert _prepare(tables[0], frozenset()).schema.field(_AMOUNTS[0]).type == pa.int64()
    files = []
    for prepare in (None, lambda t: _prepare(t, frozenset())):
        sink = io.BytesIO()
        writer = ParallelParquetWriter(sink, schema, prepare=prepare, **writer_options(schema))
        for t in tables:
            writer.write_table(t)
        writer.close()
        files.append(sink.getvalue())
    assert files[0] == files[1]
    got = pq.read_table(io.BytesIO(files[1]))
    assert got.schema == schema
    assert got.column(_AMOUNTS[0]).to_pylist() == pa.concat_tables(tables).column(1).to_pylist()
