"""The CDR columns the fraud scan reads, by name: importable before numpy and pyarrow, so
``tandem fraud scan`` starts decoding them on a thread while it imports the scan
(:class:`tandem.rating.parquetprefetch.ParquetPrefetch`)."""

from __future__ import annotations

__all__ = ["COST_COLUMNS", "RATE_COLUMNS", "SCAN_COLUMNS", "SCAN_DICTIONARY"]

#: The cost of a call at the customer's sell rate, by the first of these names it has.
COST_COLUMNS = ("sell_amount", "cost", "sell_cost")
#: The customer's sell rate per minute.
RATE_COLUMNS = ("sell_rate",)
#: Every column :func:`tandem.fraud.rows.scan_rows` reads (canonical fields and optional
#: columns): what a scan asks the CDR reader for (:attr:`tandem.rating.CdrReader.columns`).
SCAN_COLUMNS = frozenset(
    (
        "raw",
        "record",
        "start",
        "duration",
        "number",
        "customer",
        "trunk",
        "source_ip",
        "destination",
        "group",
        *COST_COLUMNS,
        *RATE_COLUMNS,
    )
)
#: The name columns the scan reads as Arrow dictionaries from a Parquet file
#: (:attr:`tandem.rating.CdrReader.dictionary`): few distinct names each, decoded once.
SCAN_DICTIONARY = frozenset(("customer", "carrier", "trunk", "source_ip", "destination", "group"))
