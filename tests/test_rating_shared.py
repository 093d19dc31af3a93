"""Arrays shared by the batches of a run (:func:`tandem.rating.arrays.constant`,
:func:`~tandem.rating.arrays.null_array`, :func:`~tandem.rating.arrays.bounds`):
read-only, equal to what they replace, and a priced batch left as it was by the batches
priced after it."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from rating_helpers import rates_frame

from tandem.rating import fastrate
from tandem.rating.arrays import constant, null_array
from tandem.rating.cdr import canonical_table
from tandem.rating.price import Rater, RatingSummary


def test_constant_is_a_shared_read_only_full():
    a = constant(1000, 7, np.int64)
    assert a.dtype == np.int64 and a.tolist() == [7] * 1000
    assert constant(1000, 7, np.int64) is a
    b = constant(1000, 7, np.int32)
    assert b is not a and b.dtype == np.int32 and b.tolist() == [7] * 1000
    assert constant(999, 7, np.int64).tolist() == [7] * 999
    with pytest.raises(ValueError, match="read-only"):
        a[0] = 1
    nulls = null_array(5, pa.int8())
    assert nulls.equals(pa.nulls(5, pa.int8())) and null_array(5, pa.int8()) is nulls


def _rater() -> Rater:
    rows = [
        dict(account=account, kind=kind, prefix=p, rate=rate, currency="USD")
        for kind, account in (("customer", "c1"), ("carrier", "v1"))
        for p, rate in (("1", 10**7), ("12", 3 * 10**7), ("44", 5 * 10**6), ("447", 2))
    ]
    return Rater.from_rates(rates_frame(rows), workers=1)


def _batch(seed: int, n: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    numbers = rng.choice(["1555", "1234", "4420", "4479", "33"], n)  # "33" matches nothing
    return canonical_table(
        pa.table(
            {
                "start": rng.integers(1_700_000_000, 1_700_100_000, n),
                "duration": rng.integers(0, 4000, n),
                "number": pa.array(numbers.tolist(), pa.string()),
                "customer": ["c1"] * n,
                "carrier": ["v1"] * n,
            }
        )
    )


@pytest.mark.parametrize("native", [True, False])
def test_batches_priced_in_turn_share_constants_and_keep_their_values(native, monkeypatch):
    if native and not fastrate.BUILT:
        pytest.skip("C loops not built")
    monkeypatch.setattr(fastrate, "NATIVE", native)
    rater = _rater()
    first = rater.price(_batch(1, 700))
    before = first.to_pydict()
    summary = RatingSummary()
    summary.add(first)
    second = rater.price(_batch(2, 700))  # the same length: the same shared arrays
    assert first.to_pydict() == before
    # one account and one currency on each side: their per-CDR arrays are one, shared
    for col in ("sell_currency", "buy_currency"):
        a, b = (t.column(col).chunk(0).indices.buffers()[1] for t in (first, second))
        assert a.address == b.address
    again = RatingSummary()
    again.add(first)
    assert again == summary
    assert summary.unrated == {
        "no_matching_prefix": before["sell_reason"].count("no_matching_prefix")
    }


def test_is_constant_knows_only_the_shared_arrays():
    from tandem.rating.arrays import is_constant

    shared = constant(300, 4, np.int64)
    assert is_constant(shared)
    assert not is_constant(np.full(300, 4, np.int64))  # equal, not shared
    assert not is_constant(np.zeros(0, np.int64))


def test_bounds_of_a_read_only_array_are_remembered_while_it_lives():
    from tandem.rating import arrays

    values = np.asarray([5, -3, 9, 0], dtype=np.int64)
    assert arrays.bounds(values) == (-3, 9)  # writable: not remembered
    values[0] = 100
    assert arrays.bounds(values) == (-3, 100)
    frozen = values.copy()
    frozen.flags.writeable = False
    assert arrays.bounds(frozen) == (-3, 100)
    assert arrays._LAST_BOUNDS[0] is not None and arrays._LAST_BOUNDS[0][0]() is frozen
    other = np.asarray([7], dtype=np.int64)
    other.flags.writeable = False
    assert arrays.bounds(other) == (7, 7)  # another array: its own bounds
    del frozen, other
    import gc

    gc.collect()
    assert arrays._LAST_BOUNDS[0] is None or arrays._LAST_BOUNDS[0][0]() is None
