"""Reading a Parquet file with only the columns a caller wants (``CdrReader.columns``)
gives the same wanted columns as reading every column: an alias of an unwanted canonical
field (``trunk`` is one of ``carrier``'s) is not taken from a wanted column."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.errors import CdrError
from tandem.rating.cdr import CdrReader, projected_columns

POOL = {
    "start": pa.array([1_700_000_000, 1_700_000_060], pa.int64()),
    "calldate": pa.array([1_700_000_001, 1_700_000_061], pa.int64()),
    "duration": pa.array([30, 0], pa.int64()),
    "billsec": pa.array([31, 1], pa.int64()),
    "number": pa.array(["4420001", "4420002"]),
    "dst": pa.array(["4420003", "4420004"]),
    "customer": pa.array(["a", "b"]),
    "accountcode": pa.array(["c", "d"]),
    "carrier": pa.array(["k1", "k2"]),
    "trunk": pa.array(["t1", "t2"]),
    "vendor": pa.array(["v1", "v2"]),
    "call_id": pa.array(["x", "y"]),
    "source_ip": pa.array(["10.0.0.1", "10.0.0.2"]),
    "destination": pa.array(["44", "44"]),
    "sell_rate": pa.array(["0.1", "0.2"]),
    "label": pa.array(["", "cps"]),
}
WANTED = frozenset(
    ("start", "duration", "number", "customer", "trunk", "source_ip", "destination", "label")
)


def _read(path: Path, columns: frozenset[str] | None) -> pa.Table | str:
    try:
        return pa.concat_tables(list(CdrReader(columns=columns).batches(path)))
    except CdrError as exc:
        return str(exc)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(st.sampled_from(sorted(POOL)), unique=True, min_size=1))
def test_projection_reads_the_same_wanted_columns(
    tmp_path_factory: object, names: list[str]
) -> None:
    path = Path(tmp_path_factory.mktemp("p")) / "cdrs.parquet"  # type: ignore[attr-defined]
    pq.write_table(pa.table({n: POOL[n] for n in names}), path)
    full, part = _read(path, None), _read(path, WANTED)
    if isinstance(full, str) or isinstance(part, str):
        assert full == part  # the same refusal
        return
    for name in full.column_names:
        if name in WANTED or name == "record":
            assert part.column(name).equals(full.column(name)), name
    assert part.num_columns <= full.num_columns


def test_projection_drops_unwanted_columns_and_keeps_carrier_before_trunk() -> None:
    names = ["start", "duration", "number", "customer", "carrier", "trunk", "call_id", "label"]
    assert projected_columns(names, WANTED) == [
        "start", "duration", "number", "customer", "carrier", "trunk", "label",
    ]  # fmt: skip
    # without a carrier column, trunk is the carrier (as when every column is read)
    assert projected_columns(names[:4] + ["trunk", "call_id"], WANTED) == names[:4] + ["trunk"]
