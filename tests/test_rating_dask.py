"""price_dask on a local Dask cluster gives exactly what the batch path gives."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from rating_helpers import rates_frame

from tandem.rating.cdr import canonical_table
from tandem.rating.price import Rater

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

T0 = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp())


def test_price_dask_matches_batch():
    from tandem.rating.dask import price_dask

    rates = rates_frame(
        [
            dict(account="acme-telecom", kind="customer", prefix="44", rate="0.02"),
            dict(account="acme-telecom", kind="customer", prefix="447", rate="0.09",
                 initial_increment=30, next_increment=6),
            dict(account="atlas", kind="carrier", prefix="44", rate="0.01",
                 initial_increment=1, next_increment=1),
        ]
    )  # fmt: skip
    rater = Rater.from_rates(rates)
    rng = np.random.default_rng(3)
    n = 3000
    frame = pd.DataFrame(
        {
            "start": rng.integers(T0, T0 + 86400, n),
            "duration": rng.integers(-1, 500, n),
            "number": np.char.add(rng.choice(["4420", "4477", "33"], n), "1234567"),
            "customer": rng.choice(["acme-telecom", "other"], n),
            "carrier": "atlas",
        }
    )
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    )
    with cluster, distributed.Client(cluster):
        ddf = dd.from_pandas(frame, npartitions=4)
        got = price_dask(ddf, rater).compute()
    want = rater.price(canonical_table(pa.Table.from_pandas(frame))).to_pandas()
    assert len(got) == n
    assert list(got["sell_amount"]) == list(want["sell_amount"])
    assert list(got["sell_reason"].astype(object)) == list(want["sell_reason"].astype(object))
    assert list(got["margin"]) == list(want["margin"])
