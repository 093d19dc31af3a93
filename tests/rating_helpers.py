"""Helpers shared by the rating tests: decks written straight into a store or a frame."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

from tandem.money import to_scaled
from tandem.store import OPEN_END


def deck_frame(rows: list[dict]) -> pd.DataFrame:
    """A ``write_deck`` frame from dicts with prefix, rate (text) and optional columns."""
    out = []
    for r in rows:
        out.append(
            {
                "prefix": r["prefix"],
                "destination": r.get("destination", ""),
                "rate": to_scaled(Decimal(r["rate"])),
                "connect_fee": to_scaled(Decimal(r.get("connect_fee", "0"))),
                "initial_increment": r.get("initial_increment", 60),
                "next_increment": r.get("next_increment", 60),
                "min_duration": r.get("min_duration", 0),
                "effective_from": r.get("effective_from", 0),
            }
        )
    return pd.DataFrame(out)


def rates_frame(rows: list[dict]) -> pd.DataFrame:
    """A frame shaped like ``Store.rates()`` (for tests that need no database)."""
    out = []
    for r in rows:
        out.append(
            {
                "account": r["account"],
                "kind": r["kind"],
                "deck_id": r.get("deck_id", 1),
                "version": 1,
                "currency": r.get("currency", "USD"),
                "decimals": r.get("decimals", 4),
                "rounding": r.get("rounding", "half-up"),
                "timezone": r.get("timezone", "UTC"),
                "prefix": r["prefix"],
                "destination": r.get("destination", ""),
                "rate": r["rate"] if isinstance(r["rate"], int) else to_scaled(Decimal(r["rate"])),
                "connect_fee": r.get("connect_fee", 0),
                "initial_increment": r.get("initial_increment", 60),
                "next_increment": r.get("next_increment", 60),
                "min_duration": r.get("min_duration", 0),
                "effective_from": r.get("effective_from", 0),
                "effective_until": r.get("effective_until", OPEN_END),
                "change": None,
                "line": 1,
            }
        )
    if not out:
        from tandem.store.store import _empty_rates

        return _empty_rates()
    frame = pd.DataFrame(out)
    for c in (
        "deck_id",
        "decimals",
        "rate",
        "connect_fee",
        "initial_increment",
        "next_increment",
        "min_duration",
        "effective_from",
        "effective_until",
    ):
        frame[c] = frame[c].astype(np.int64)
    return frame


def cdr_frame(rows: list[tuple]) -> pd.DataFrame:
    """CDRs from (start, duration, number, customer, carrier) tuples."""
    return pd.DataFrame(
        {
            "start": pd.array([r[0] for r in rows], dtype="Int64"),
            "duration": pd.array([r[1] for r in rows], dtype="Int64"),
            "number": pd.array([r[2] for r in rows], dtype="string"),
            "customer": pd.array([r[3] for r in rows], dtype="string"),
            "carrier": pd.array([r[4] for r in rows], dtype="string"),
        }
    )
