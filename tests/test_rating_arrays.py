"""tandem.rating.arrays: the pandas-free conversions give what pa.array / to_numpy give."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.rating.arrays import empty_table, from_numpy, scalar, strings, to_numpy

_INTS = st.lists(st.integers(-(2**63), 2**63 - 1), max_size=40)
_TYPES = [np.int64, np.int32, np.int8, np.uint16, np.float64, np.bool_]


@settings(max_examples=200, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(_TYPES), offset=st.integers(0, 3))
def test_from_numpy_equals_pa_array(data, dtype, offset):
    n = data.draw(st.integers(0, 40))
    raw = np.asarray(data.draw(st.lists(st.integers(-100, 100), min_size=n, max_size=n)))
    values = raw.astype(dtype)[offset:] if n > offset else raw.astype(dtype)[:0]
    mask = np.asarray(
        data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values))), bool
    )
    for m in (None, mask):
        got = from_numpy(values, mask=m)
        want = pa.array(values, mask=m)
        assert got.equals(want) and got.null_count == want.null_count
        if m is None or not m.any():
            back = to_numpy(got)
            assert back.dtype == values.dtype and np.array_equal(back, values)
            assert np.array_equal(to_numpy(want.slice(min(1, len(want)))), values[1:])


@settings(max_examples=100, deadline=None)
@given(values=_INTS)
def test_from_numpy_with_a_type_casts_or_raises_as_pa_array(values):
    arr = np.asarray(values, dtype=np.int64)
    for t in (pa.int64(), pa.int32(), pa.timestamp("us", tz="UTC")):
        try:
            want = pa.array(arr, type=t)
        except (pa.ArrowInvalid, OverflowError):
            with pytest.raises(pa.ArrowInvalid):
                from_numpy(arr, type=t)
            continue
        assert from_numpy(arr, type=t).equals(want)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.text(max_size=6)), max_size=20))
def test_strings_and_scalars_equal_pa_array(values):
    assert strings(values).equals(pa.array(values, pa.string()))
    for v in values:
        assert scalar(v, pa.string()).equals(pa.scalar(v, pa.string()))


def test_scalars_empty_tables_and_chunked_arrays():
    assert scalar(5, pa.int32()).equals(pa.scalar(5, pa.int32()))
    assert scalar(None, pa.int64()).equals(pa.scalar(None, pa.int64()))
    assert scalar(True, pa.bool_()).equals(pa.scalar(True))
    schema = pa.schema([("a", pa.dictionary(pa.int32(), pa.string())), ("b", pa.decimal128(19, 9))])
    assert empty_table(schema).equals(schema.empty_table())
    chunked = pa.chunked_array([pa.array([1, 2]), pa.array([3])])
    assert to_numpy(chunked).tolist() == [1, 2, 3]
    with pytest.raises(ValueError):
        to_numpy(pa.array([1, None]))


def test_none_of_them_loads_pandas():
    code = (
        "import sys, numpy as np, pyarrow as pa, pyarrow.compute as pc\n"
        "from tandem.rating.arrays import empty_table, from_numpy, scalar, strings, to_numpy\n"
        "a = from_numpy(np.arange(5), mask=np.arange(5) == 2)\n"
        "pc.fill_null(a, scalar(0, pa.int64())); to_numpy(pc.is_valid(a))\n"
        "strings(['x', None]); empty_table(pa.schema([('x', pa.int64())]))\n"
        "print('pandas' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
