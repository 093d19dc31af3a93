"""The rates in force at one instant as the frame the LCR compiler takes.

:meth:`tandem.store.Store.in_force` reads the rows in force deck by deck, each column as
one int64 array (the prefix digits too, when every prefix is a plain number), and says
which rate terms are the same on every row. This module turns that into the compiler's
columns without a Python object per row: the account, kind, currency and prefix as
pandas Categoricals (codes filled one deck's slice at a time; prefixes factorised as
integers, only the distinct ones turned into text) and each constant term as a broadcast
array.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tandem.store.columns import TERMS

if TYPE_CHECKING:
    from tandem.store import Store

__all__ = ["IN_FORCE_COLUMNS", "read_in_force"]

#: Columns of the frame :func:`read_in_force` returns.
IN_FORCE_COLUMNS = ["account", "kind", "currency", "prefix", "rate", *TERMS, "effective_from"]


def read_in_force(store: Store, t: int) -> tuple[dict[str, Any], int, int]:
    """``(columns of the rows in force at t, valid_from, valid_until)``.

    Columns are :data:`IN_FORCE_COLUMNS` (numpy arrays or pandas Categoricals, one entry
    per row); open ends of the window are -/+ int64 max.
    """
    got = store.in_force(t)
    if not got.rows:
        return _empty(), got.valid_from, got.valid_until
    fields = got.fields
    # One contiguous array per field (no row-major stack, no strided column views).
    values = {f: np.concatenate([r.columns[f] for r in got.rows]) for f in fields}
    total = len(values["prefix"])
    meta = list(got.decks.values())  # every deck, in id order
    names = sorted({m.account for m in meta})
    currencies = sorted({m.currency for m in meta})
    # Per-row codes, filled one deck's slice at a time (decks are few, rows are many).
    acct = np.empty(total, dtype=_code_dtype(len(names)))
    kind = np.empty(total, dtype=np.int8)
    currency = np.empty(total, dtype=_code_dtype(len(currencies)))
    start = 0
    for part in got.rows:
        stop = start + len(part)
        owner = got.decks[part.deck_id]
        acct[start:stop] = names.index(owner.account)
        kind[start:stop] = int(owner.kind == "customer")
        currency[start:stop] = currencies.index(owner.currency)
        start = stop
    inverse, uniq = pd.factorize(values["prefix"], sort=False)
    frame: dict[str, object] = {
        "account": pd.Categorical.from_codes(acct, categories=names, validate=False),
        "kind": pd.Categorical.from_codes(kind, categories=["carrier", "customer"], validate=False),
        "currency": pd.Categorical.from_codes(currency, categories=currencies, validate=False),
        "prefix": pd.Categorical.from_codes(
            inverse.astype(_code_dtype(len(uniq)), copy=False),
            categories=pd.Index([str(u) for u in uniq.tolist()], dtype=object),
            validate=False,
        ),
        "rate": values["rate"],
    }
    for term in TERMS:
        if term in got.constant:
            frame[term] = np.broadcast_to(np.int64(got.constant[term]), (total,))
        else:
            frame[term] = values[term]
    # The store never holds two rows of one account and prefix in force at one instant
    # (write_deck supersedes), so the per-row start instant is not needed to break ties.
    frame["effective_from"] = np.broadcast_to(np.int64(t), (total,))
    return {c: frame[c] for c in IN_FORCE_COLUMNS}, got.valid_from, got.valid_until


def _code_dtype(categories: int) -> type[np.signedinteger]:
    """The smallest signed integer type pandas keeps as categorical codes (no recast)."""
    for dtype in (np.int8, np.int16, np.int32):
        if categories < np.iinfo(dtype).max:
            return dtype
    return np.int64


def _empty() -> dict[str, Any]:
    return {c: np.zeros(0, dtype=object) for c in IN_FORCE_COLUMNS}
