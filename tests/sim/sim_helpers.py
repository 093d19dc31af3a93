"""A small store (three carriers, one customer, per-second billing) and CDR tables for the
simulation tests; every figure in the tests is worked out by hand from these rates."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
from page_helpers import rendered  # noqa: F401 - the sim tests import it from here

from tandem.money import to_scaled
from tandem.store import Store

T0 = 1_793_577_600  # 2026-11-02T00:00:00Z
#: account -> kind, {prefix: rate per minute}
DECKS = {
    "alpha": ("carrier", {"44": "0.010", "33": "0.020"}),
    "bravo": ("carrier", {"44": "0.012", "33": "0.015"}),
    "charlie": ("carrier", {"44": "0.015", "33": "0.030"}),
    "acme": ("customer", {"44": "0.020", "33": "0.025"}),
}


def deck_frame(rates: dict[str, str], start: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prefix": list(rates),
            "destination": [{"44": "United Kingdom", "33": "France"}.get(p, p) for p in rates],
            "rate": [to_scaled(r) for r in rates.values()],
            "connect_fee": 0,
            "initial_increment": 1,
            "next_increment": 1,
            "min_duration": 0,
            "effective_from": start,
        }
    )


def make_store(path: Path, decks: dict | None = None, routing: str | None = None) -> Store:
    store = Store(str(path))
    for account, (kind, rates) in (decks or DECKS).items():
        store.write_deck(account, kind, deck_frame(rates), currency="USD", effective_from=0)
    if routing is not None:
        from tandem.lcr.plans import import_plan

        import_plan(store, routing.encode(), kind="routing", effective=0)
    return store


def cdrs(rows: list[tuple[int, int, str]], customer: str = "acme") -> pa.Table:
    """(start offset from T0, duration, number) rows as a canonical-enough CDR table."""
    return pa.table(
        {
            "start": pa.array([T0 + r[0] for r in rows], pa.int64()),
            "duration": pa.array([r[1] for r in rows], pa.int64()),
            "number": pa.array([r[2] for r in rows], pa.string()),
            "customer": pa.array([customer] * len(rows), pa.string()),
            "carrier": pa.array(["orig"] * len(rows), pa.string()),
            "call_id": pa.array([f"c{i}" for i in range(len(rows))], pa.string()),
        }
    )
