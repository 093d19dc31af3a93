"""The rated file's schema: the columns no rated CDR leaves empty are declared not nullable
(Parquet REQUIRED); pyarrow, pandas and DuckDB read the same values as from a file of the
same rows with every column nullable."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pandas.testing import assert_frame_equal
from test_rating_cdr import _write_parquet, loaded  # noqa: F401  (fixture)

from tandem.rating.price import Rater
from tandem.rating.stream import RATED_REQUIRED, _checked, _declare_required, rate_file


def _nullable(table: pa.Table) -> pa.Table:
    return table.cast(pa.schema([f.with_nullable(True) for f in table.schema]))


def test_the_rated_files_never_empty_columns_are_required(tmp_path, loaded):  # noqa: F811
    src = tmp_path / "cdrs.parquet"
    _write_parquet(src, 5000)  # some CDRs match no prefix: unrated, the rest rated
    out = tmp_path / "rated.parquet"
    summary = rate_file(src, out, Rater.from_store(loaded))
    assert summary.rated and summary.unrated_count
    f = pq.ParquetFile(out)
    required = {x.name for x in f.schema_arrow if not x.nullable}
    assert required == set(RATED_REQUIRED)
    parquet = {f.schema.column(i).name: f.schema.column(i).max_definition_level
               for i in range(len(f.schema))}  # fmt: skip
    assert {n for n, level in parquet.items() if level == 0} == set(RATED_REQUIRED)
    # the unrated file keeps every column nullable
    unrated = pq.ParquetFile(tmp_path / "rated.unrated.parquet").schema_arrow
    assert all(x.nullable for x in unrated)

    # every reader reads the values of a file of the same rows, all columns nullable
    table = pq.read_table(out)
    plain = tmp_path / "plain.parquet"
    pq.write_table(_nullable(table), plain)
    assert _nullable(table).equals(pq.read_table(plain))
    assert_frame_equal(pq.read_table(out).to_pandas(), pq.read_table(plain).to_pandas())
    import pandas as pd

    assert_frame_equal(pd.read_parquet(out), pd.read_parquet(plain))
    con = duckdb.connect()
    got = con.sql(f"SELECT * FROM read_parquet('{out}') ORDER BY record").fetchall()
    want = con.sql(f"SELECT * FROM read_parquet('{plain}') ORDER BY record").fetchall()
    assert got == want and len(got) == summary.rated
    kinds = con.sql(f"DESCRIBE SELECT * FROM read_parquet('{out}')").fetchall()
    assert kinds == con.sql(f"DESCRIBE SELECT * FROM read_parquet('{plain}')").fetchall()


def test_a_null_in_a_required_column_is_refused():
    table = pa.table(
        {
            "sell_amount": pa.array([1, None], pa.int64()),
            "customer": pa.array(["a", "b"]).dictionary_encode(),
            "carrier": pa.array([None, "k"]),
        }
    )
    schema = _declare_required(table.schema, ("customer", "carrier"))
    assert [f.nullable for f in schema] == [True, False, False]
    with pytest.raises(ValueError, match="carrier"):
        _checked(table, schema)
    ok = _checked(table.slice(1), schema)
    assert ok.schema.equals(schema) and ok.num_rows == 1
    # a dictionary entry that is null, used by a row: empty too
    entry = pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int32()), pa.array(["a", None]))
    with_entry = pa.table({"customer": entry})
    strict = _declare_required(with_entry.schema, ("customer",))
    with pytest.raises(ValueError, match="customer"):
        _checked(with_entry, strict)
    assert _checked(with_entry.slice(0, 1), strict).num_rows == 1  # unused: not empty


def test_rerating_a_period_of_an_older_all_nullable_file(tmp_path, loaded):  # noqa: F811
    src = tmp_path / "cdrs.parquet"
    _write_parquet(src, 3000)
    out = tmp_path / "rated.parquet"
    rater = Rater.from_store(loaded)
    rate_file(src, out, rater)
    first = pq.read_table(out)
    pq.write_table(_nullable(first), out)  # as a file of an earlier release
    start = first.column("start_epoch")[0].as_py()
    summary = rate_file(src, out, rater, period=(start + 10, start + 20))  # none inside
    assert summary.kept == 3000 and summary.outside_period == 3000  # both files kept whole
    again = pq.read_table(out)
    assert {f.name for f in again.schema if not f.nullable} == set(RATED_REQUIRED)
    assert _nullable(again).equals(_nullable(first))
