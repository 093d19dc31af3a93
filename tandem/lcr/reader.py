"""Reading the rates in force at one instant out of the store, fast enough for millions of rows.

Fetching millions of row tuples through a DB-API driver costs seconds per million. Instead:

1. one scan computes the table's validity window (the last change at or before ``t`` and
   the next change after it) and whether the per-row columns other than the rate
   (connect fee, increments, minimum duration) vary at all (they are often constant);
   only if they do, a second scan says which;
2. one scan has the database build a single comma-separated string of integers
   (``group_concat`` on SQLite, ``string_agg`` on PostgreSQL) with, per row in force, its
   deck id, prefix digits, rate and only the columns that vary; numpy parses it in one
   call. One aggregate per query means the fields of a row can never misalign.

A prefix that is not written as a plain number (leading zeros, letters, more than 18
digits) is detected (the text no longer matches the numbers printed back) and the reader
falls back to fetching rows one by one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import text

from tandem.errors import StoreError

if TYPE_CHECKING:
    from tandem.store import Store

__all__ = ["IN_FORCE_COLUMNS", "read_in_force"]

#: Columns of the frame :func:`read_in_force` returns.
IN_FORCE_COLUMNS = [
    "account",
    "kind",
    "currency",
    "prefix",
    "rate",
    "connect_fee",
    "initial_increment",
    "next_increment",
    "min_duration",
    "effective_from",
]
_OPTIONAL = ["connect_fee", "initial_increment", "next_increment", "min_duration"]
_BIG = int(np.iinfo(np.int64).max)


def read_in_force(store: Store, t: int) -> tuple[dict[str, Any], int, int]:
    """``(columns of the rows in force at t, valid_from, valid_until)``.

    Columns are :data:`IN_FORCE_COLUMNS` (numpy arrays or pandas Categoricals, one entry
    per row); open ends of the window are -/+ int64 max.
    """
    pg = store.dialect == "postgresql"
    live = "(effective_until IS NULL OR effective_until > effective_from)"
    now = "(effective_from <= :t AND (effective_until IS NULL OR effective_until > :t))"
    scan = "" if pg else " NOT INDEXED"  # a plain table scan beats index order here
    window = (
        "MAX(effective_from) FILTER (WHERE effective_from <= :t), "
        "MAX(effective_until) FILTER (WHERE effective_until <= :t), "
        "MIN(effective_from) FILTER (WHERE effective_from > :t), "
        "MIN(effective_until) FILTER (WHERE effective_until > :t)"
    )
    cols = ", ".join(_OPTIONAL)
    with store.engine.connect() as conn:
        sample = conn.execute(
            text(f"SELECT {cols} FROM rates WHERE {now} LIMIT 1"), {"t": t}
        ).first()
        # Columns that are the same on every row in force need not travel per row: the
        # window scan also counts rows that differ from a sample row, and only then a
        # second scan says which columns differ.
        params: dict[str, int] = {"t": t}
        differs: list[str] = []
        extra = ""
        if sample is not None:
            params.update({f"c{i}": int(v) for i, v in enumerate(sample)})
            differs = [f"{c} <> :c{i}" for i, c in enumerate(_OPTIONAL)]
            extra = f", COUNT(*) FILTER (WHERE {now} AND ({' OR '.join(differs)}))"
        got = conn.execute(
            text(f"SELECT {window}{extra} FROM rates{scan} WHERE {live}"), params
        ).one()
        f1, f2, u1, u2 = got[:4]
        froms = [int(v) for v in (f1, f2) if v is not None]
        untils = [int(v) for v in (u1, u2) if v is not None]
        valid_from = max(froms) if froms else -_BIG
        valid_until = min(untils) if untils else _BIG
        if sample is None:
            return _empty(), valid_from, valid_until
        varying: list[str] = []
        if got[4]:
            flags = conn.execute(
                text(
                    "SELECT "
                    + ", ".join(f"COUNT(*) FILTER (WHERE {d})" for d in differs)
                    + f" FROM rates{scan} WHERE {now}"
                ),
                params,
            ).one()
            varying = [c for c, flag in zip(_OPTIONAL, flags, strict=True) if flag]
        decks = {
            int(d): (str(name), str(kind), str(cur))
            for d, name, kind, cur in conn.execute(
                text(
                    "SELECT d.id, a.name, a.kind, d.currency FROM decks d "
                    "JOIN accounts a ON a.id = d.account_id"
                )
            )
        }
        fields = ["deck_id", "prefix", "rate", *varying]
        if pg:
            agg = f"string_agg(concat_ws(',', {', '.join(fields)}), ',')"
        else:
            agg = "group_concat(" + " || ',' || ".join(fields) + ", ',')"
        blob = conn.execute(text(f"SELECT {agg} FROM rates{scan} WHERE {now}"), {"t": t}).scalar()
        values = _parse(blob or "", len(fields))
        if values is None:  # a prefix that is not plain digits: read row by row
            return _rows(conn, t), valid_from, valid_until
    deck_ids = values[:, 0]
    ids = np.array(sorted(decks), dtype=np.int64)
    pos = np.searchsorted(ids, deck_ids)
    if (pos >= len(ids)).any() or (ids[np.minimum(pos, len(ids) - 1)] != deck_ids).any():
        raise StoreError("the rate store changed while compiling; compile again")
    meta = [decks[int(d)] for d in ids]
    names = sorted({m[0] for m in meta})
    currencies = sorted({m[2] for m in meta})
    name_code = np.array([names.index(m[0]) for m in meta], dtype=np.int64)
    inverse, uniq = pd.factorize(values[:, 1], sort=False)
    frame: dict[str, object] = {
        "account": pd.Categorical.from_codes(name_code[pos], categories=names),
        "kind": pd.Categorical.from_codes(
            np.array([m[1] == "customer" for m in meta], dtype=np.int64)[pos],
            categories=["carrier", "customer"],
        ),
        "currency": pd.Categorical.from_codes(
            np.array([currencies.index(m[2]) for m in meta], dtype=np.int64)[pos],
            categories=currencies,
        ),
        "prefix": pd.Categorical.from_codes(
            inverse, categories=pd.Index([str(u) for u in uniq.tolist()], dtype=object)
        ),
        "rate": values[:, 2],
    }
    for i, col in enumerate(_OPTIONAL):
        if col in varying:
            frame[col] = values[:, fields.index(col)]
        else:
            frame[col] = np.broadcast_to(np.int64(sample[i]), (len(values),))
    # The store never holds two rows of one account and prefix in force at one instant
    # (write_deck supersedes), so the per-row start instant is not needed to break ties.
    frame["effective_from"] = np.broadcast_to(np.int64(t), (len(values),))
    return {c: frame[c] for c in IN_FORCE_COLUMNS}, valid_from, valid_until


_POW10 = np.array([10**k for k in range(1, 19)], dtype=np.int64)


def _parse(blob: str, width: int) -> np.ndarray | None:
    """The integers of ``blob`` as rows of ``width``, or None when any field was not
    written canonically (leading zeros, a sign, spaces, letters): the text length must
    equal the length of the numbers printed back."""
    try:
        values = np.fromstring(blob, dtype=np.int64, sep=",")
    except ValueError:
        return None
    if values.size % width:
        return None
    digits = np.searchsorted(_POW10, np.abs(values), side="right") + 1 + (values < 0)
    if int(digits.sum()) + max(values.size - 1, 0) != len(blob):
        return None
    return values.reshape(-1, width)


def _empty() -> dict[str, Any]:
    return {c: np.zeros(0, dtype=object) for c in IN_FORCE_COLUMNS}


def _rows(conn, t: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Rows in force at ``t``, fetched one by one (any prefix text)."""
    sql = (
        "SELECT a.name, a.kind, d.currency, r.prefix, r.rate, r.connect_fee, "
        "r.initial_increment, r.next_increment, r.min_duration, r.effective_from "
        "FROM rates r JOIN decks d ON d.id = r.deck_id JOIN accounts a ON a.id = r.account_id "
        "WHERE r.effective_from <= :t AND (r.effective_until IS NULL OR r.effective_until > :t)"
    )
    rows = conn.execute(text(sql), {"t": t}).fetchall()
    if not rows:
        return _empty()
    cols = list(zip(*rows, strict=True))
    frame = {}
    for name, values in zip(IN_FORCE_COLUMNS, cols, strict=True):
        if name in ("account", "kind", "currency", "prefix"):
            frame[name] = np.array(values, dtype=object)
        else:
            frame[name] = np.array(values, dtype=np.int64)
    return frame
