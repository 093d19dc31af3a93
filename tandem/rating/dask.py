"""Rating CDR sets that outgrow one machine: :func:`price_dask` over a Dask dataframe.

The batch rating function is a pure function of a batch (:meth:`Rater.price`), so it maps
over a Dask dataframe's partitions unchanged: each partition is converted to Arrow,
canonicalised, priced, and returned as pandas. The compiled :class:`Rater` is shipped to
the workers once (it is a handful of numpy arrays). Needs the ``dask`` extra
(``pip install 'tandem[dask]'``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from tandem.errors import ConfigError
from tandem.rating.cdr import canonical_table
from tandem.rating.price import PortLookup, Rater

if TYPE_CHECKING:
    import dask.dataframe as dd

__all__ = ["price_dask", "price_partition"]


def price_partition(
    frame: pd.DataFrame,
    rater: Rater,
    timezone: str = "UTC",
    column_map: dict[str, str] | None = None,
    port_lookup: PortLookup | None = None,
) -> pd.DataFrame:
    """Price one partition (a pandas frame of CDRs); every row comes back with its prices
    and, when unrated, its ``sell_reason``."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    canon = canonical_table(table, timezone=timezone, column_map=column_map)
    priced = rater.price(canon, port_lookup)
    out = priced.to_pandas()
    out.index = frame.index
    return out


def price_dask(
    ddf: dd.DataFrame,
    rater: Rater,
    *,
    timezone: str = "UTC",
    column_map: dict[str, str] | None = None,
    port_lookup: PortLookup | None = None,
) -> dd.DataFrame:
    """Price a Dask dataframe of CDRs lazily; returns a Dask dataframe with one priced row
    per input row (rated rows have a null ``sell_reason``). Compute it, or write it with
    ``to_parquet``; the summary is ``result.sell_reason.value_counts(dropna=False)``."""
    try:
        import dask.dataframe as dd  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the extra is installed in tests
        raise ConfigError("price_dask needs Dask: pip install 'tandem[dask]'") from exc
    head = ddf._meta if hasattr(ddf, "_meta") else ddf.head(0)
    meta = price_partition(head, rater, timezone, column_map, None)
    return ddf.map_partitions(
        price_partition,
        rater,
        timezone,
        column_map,
        port_lookup,
        meta=meta,
    )
