"""numpy <-> Arrow conversions that never load pandas.

pyarrow consults its pandas shim, and so imports pandas (about a third of a second of
CPU, and again as much at exit) on the first ``pa.array``, ``pa.scalar``, ``to_numpy``,
``np.asarray(arrow)``, take/filter with a numpy argument, or compute call given a plain
Python value (``pc.equal(col, 1)``): even when no pandas object is anywhere. The rating
path (``tandem rate`` Parquet in, Parquet out) converts through these helpers instead, which
build the Arrow buffers directly (``pa.Array.from_buffers``, zero-copy where the layout
allows) and read them back as numpy views. The results equal what ``pa.array`` and
``to_numpy`` give for the same inputs.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__all__ = [
    "bounds",
    "constant",
    "is_constant",
    "empty_table",
    "from_numpy",
    "null_array",
    "scalar",
    "strings",
    "to_numpy",
    "validity",
]

#: Arrays of one value repeated, by (kind, length, value): see :func:`constant`.
_CONSTANTS: dict[tuple[Any, ...], Any] = {}
#: The most :data:`_CONSTANTS` holds (forgotten all at once beyond): a run's batches have a
#: few lengths (the full batches', a row group's remainder, the last batch's).
_CONSTANTS_KEPT = 24


def _kept(key: tuple[Any, ...], make: Any) -> Any:
    found = _CONSTANTS.get(key)
    if found is None:
        found = make()
        if len(_CONSTANTS) >= _CONSTANTS_KEPT:
            _CONSTANTS.clear()
        _CONSTANTS[key] = found  # one entry set whole: threads may race to make it
    return found


def constant(n: int, value: int | bool, dtype: npt.DTypeLike) -> np.ndarray:
    """``np.full(n, value, dtype)``, read-only and shared: every batch of ``n`` rows that
    needs it (the account index of each CDR when one account is named throughout, the
    currency code of each when a side has one currency) gets the same array, neither
    filled nor faulted in again."""
    dt = np.dtype(dtype)

    def make() -> np.ndarray:
        arr = np.full(n, value, dtype=dt)
        arr.flags.writeable = False
        return arr

    return _kept(("full", dt.str, n, value), make)


def is_constant(arr: np.ndarray) -> bool:
    """Whether ``arr`` is one of :func:`constant`'s arrays (every value its first)."""
    if not len(arr) or arr.ndim != 1:
        return False
    return _CONSTANTS.get(("full", arr.dtype.str, len(arr), arr[0].item())) is arr


#: The last read-only array :func:`bounds` was asked about (weakly) and its bounds.
_LAST_BOUNDS: list[tuple[weakref.ref[np.ndarray], tuple[int, int]] | None] = [None]


def bounds(values: np.ndarray) -> tuple[int, int]:
    """``(min, max)`` of a non-empty integer array; for a read-only one (a view of an Arrow
    column: a batch's starts, which its input checks and each side's time segments ask
    about) remembered while it lives, for the next question about the same array."""
    last = _LAST_BOUNDS[0]
    if last is not None and last[0]() is values:
        return last[1]
    found = (int(values.min()), int(values.max()))
    if not values.flags.writeable:
        _LAST_BOUNDS[0] = (weakref.ref(values), found)
    return found


def null_array(n: int, type: pa.DataType) -> pa.Array:
    """``pa.nulls(n, type)``, shared as :func:`constant` (Arrow arrays are immutable)."""
    return _kept(("nulls", str(type), n), lambda: pa.nulls(n, type))


def validity(mask: np.ndarray | None, n: int) -> pa.Buffer | None:
    """Arrow's validity bitmap for ``mask`` (True = null, as ``pa.array(mask=)``), or
    None when nothing is null."""
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    if len(mask) != n:
        raise ValueError("mask length differs from the values")
    if not mask.any():
        return None
    return pa.py_buffer(np.packbits(~mask, bitorder="little"))


def from_numpy(
    values: np.ndarray, type: pa.DataType | None = None, mask: np.ndarray | None = None
) -> pa.Array:
    """``pa.array(values, type, mask=mask)`` for a one-dimensional numeric or boolean
    array (the buffer shared when ``values`` is contiguous); ``type`` of another width is
    reached by a safe cast, as ``pa.array`` does."""
    values = np.ascontiguousarray(values)
    if values.ndim != 1:
        raise ValueError("one-dimensional values only")
    n = len(values)
    valid = validity(mask, n)
    nulls = -1 if valid is not None else 0
    if values.dtype == np.bool_:
        data = pa.py_buffer(np.packbits(values, bitorder="little"))
        arr = pa.Array.from_buffers(pa.bool_(), n, [valid, data], null_count=nulls)
    else:
        natural = pa.from_numpy_dtype(values.dtype)
        if type is not None and natural != type and _same_layout(natural, type):
            natural = type
        arr = pa.Array.from_buffers(natural, n, [valid, pa.py_buffer(values)], null_count=nulls)
    if type is not None and arr.type != type:
        arr = arr.cast(type)
    return arr


def _same_layout(a: pa.DataType, b: pa.DataType) -> bool:
    """Whether values of ``a`` can be read as ``b`` bit for bit (int64 as a timestamp)."""
    fixed = (pa.types.is_integer, pa.types.is_timestamp, pa.types.is_date, pa.types.is_duration)
    return (
        any(t(a) for t in fixed)
        and any(t(b) for t in fixed)
        and a.bit_width == b.bit_width
        and (pa.types.is_integer(b) is False or a == b)
    )


def to_numpy(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The values of a numeric or boolean Arrow array without nulls as numpy (a view of
    the buffer for numbers, unpacked for booleans), like ``arr.to_numpy()``. Raises
    ValueError on nulls (fill them first)."""
    if isinstance(arr, pa.ChunkedArray):
        if arr.num_chunks == 1:
            arr = arr.chunk(0)
        elif arr.num_chunks == 0:
            return np.zeros(0, dtype=_dtype(arr.type))
        else:
            return np.concatenate([to_numpy(c) for c in arr.chunks])
    if arr.null_count:
        raise ValueError("to_numpy: the array has nulls")
    n, off = len(arr), arr.offset
    buf = arr.buffers()[1]
    if pa.types.is_boolean(arr.type):
        if n == 0:
            return np.zeros(0, dtype=bool)
        bits = np.frombuffer(buf, dtype=np.uint8)
        return np.unpackbits(bits, count=off + n, bitorder="little")[off:].view(bool)
    dtype = _dtype(arr.type)
    if n == 0:
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(buf, dtype=dtype, count=n, offset=off * dtype.itemsize)


def _dtype(t: pa.DataType) -> np.dtype:
    if pa.types.is_boolean(t):
        return np.dtype(bool)
    if pa.types.is_signed_integer(t):
        return np.dtype(f"int{t.bit_width}")
    if pa.types.is_unsigned_integer(t):
        return np.dtype(f"uint{t.bit_width}")
    if pa.types.is_floating(t):
        return np.dtype(f"float{t.bit_width}")
    if pa.types.is_timestamp(t) or pa.types.is_date64(t) or pa.types.is_duration(t):
        return np.dtype(np.int64)
    if pa.types.is_date32(t):
        return np.dtype(np.int32)
    raise TypeError(f"to_numpy: {t} is not a numeric type")


def strings(values: Sequence[str | None], type: pa.DataType = pa.string()) -> pa.Array:
    """``pa.array(values, pa.string())`` for a list of texts (None is null)."""
    encoded = [b"" if v is None else v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    mask = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    arr = pa.Array.from_buffers(
        pa.string(),
        len(encoded),
        [validity(mask, len(encoded)), pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))],
    )
    return arr if type == pa.string() else arr.cast(type)


def scalar(value: object, type: pa.DataType) -> pa.Scalar:
    """``pa.scalar(value, type)`` for None, an int, a bool or a text."""
    if value is None:
        return pa.nulls(1, type)[0]
    if isinstance(value, str):
        return strings([value], type)[0]
    if isinstance(value, bool):
        return from_numpy(np.array([value]), type)[0]
    if isinstance(value, int):
        return from_numpy(np.array([value], dtype=np.int64)).cast(type)[0]
    raise TypeError(f"scalar: {value.__class__.__name__} values are not supported")


def empty_table(schema: pa.Schema) -> pa.Table:
    """``schema.empty_table()``: a table of no rows (its metadata kept)."""
    return pa.Table.from_arrays([pa.nulls(0, f.type) for f in schema], schema=schema)
