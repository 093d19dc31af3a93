"""Reading the rates in force at one instant out of the store, fast enough for millions of rows.

Fetching millions of row tuples through a DB-API driver costs seconds per million. Instead:

1. one scan computes the table's validity window (the last change at or before ``t`` and
   the next change after it), counts the rows in force and finds which per-row columns
   actually vary (connect fee, increments, ... are usually constant);
2. one scan has the database build a single comma-separated string of integers
   (``group_concat`` on SQLite, ``string_agg`` on PostgreSQL) with, per row in force, its
   deck id, prefix digits, rate and only the columns that vary; numpy parses it in one
   call. One aggregate per query means the fields of a row can never misalign.

Prefixes that are not 1-18 plain digits, or that start with ``0`` (the digits would lose
their leading zeros), make the reader fall back to fetching rows one by one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
_OPTIONAL = ["connect_fee", "initial_increment", "next_increment", "min_duration", "effective_from"]
_BIG = int(np.iinfo(np.int64).max)


def read_in_force(store: Store, t: int) -> tuple[pd.DataFrame, int, int]:
    """``(rows in force at t, valid_from, valid_until)``; open ends are -/+ int64 max."""
    pg = store.dialect == "postgresql"
    live = "(effective_until IS NULL OR effective_until > effective_from)"
    now = "(effective_from <= :t AND (effective_until IS NULL OR effective_until > :t))"
    odd = (
        "(prefix !~ '^[1-9][0-9]{0,17}$')"
        if pg
        else "(prefix GLOB '*[^0-9]*' OR prefix GLOB '0*' OR length(prefix) NOT BETWEEN 1 AND 18)"
    )
    stats = [
        "MAX(CASE WHEN effective_from <= :t THEN effective_from END)",
        "MAX(CASE WHEN effective_until <= :t THEN effective_until END)",
        "MIN(CASE WHEN effective_from > :t THEN effective_from END)",
        "MIN(CASE WHEN effective_until > :t THEN effective_until END)",
        f"SUM(CASE WHEN {now} THEN 1 ELSE 0 END)",
        f"SUM(CASE WHEN {now} AND {odd} THEN 1 ELSE 0 END)",
    ]
    for col in _OPTIONAL:
        stats.append(f"MIN(CASE WHEN {now} THEN {col} END)")
        stats.append(f"MAX(CASE WHEN {now} THEN {col} END)")
    scan = "" if pg else " NOT INDEXED"
    with store.engine.connect() as conn:
        got = conn.execute(
            text(f"SELECT {', '.join(stats)} FROM rates{scan} WHERE {live}"), {"t": t}
        ).one()
        f1, f2, u1, u2, count, unusual = got[:6]
        froms = [int(v) for v in (f1, f2) if v is not None]
        untils = [int(v) for v in (u1, u2) if v is not None]
        valid_from = max(froms) if froms else -_BIG
        valid_until = min(untils) if untils else _BIG
        if not count:
            return _empty(), valid_from, valid_until
        if unusual:
            return _rows(conn, pg, t), valid_from, valid_until
        constant: dict[str, int] = {}
        varying: list[str] = []
        for i, col in enumerate(_OPTIONAL):
            lo, hi = got[6 + 2 * i], got[7 + 2 * i]
            if lo == hi:
                constant[col] = int(lo)
            else:
                varying.append(col)
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
        blob = conn.execute(
            text(f"SELECT {agg} FROM rates{scan} WHERE {now}"), {"t": t}
        ).scalar_one()
    try:
        values = np.fromstring(blob, dtype=np.int64, sep=",").reshape(-1, len(fields))
    except ValueError as exc:
        raise StoreError(f"the rate store returned unreadable rates: {exc}") from exc
    if values.shape[0] != count:
        raise StoreError("the rate store changed while compiling; compile again")
    deck_ids = values[:, 0]
    ids = np.array(sorted(decks), dtype=np.int64)
    pos = np.searchsorted(ids, deck_ids)
    if (pos >= len(ids)).any() or (ids[np.minimum(pos, len(ids) - 1)] != deck_ids).any():
        raise StoreError("the rate store changed while compiling; compile again")
    meta = [decks[int(d)] for d in ids]
    names = sorted({m[0] for m in meta})
    name_code = np.array([names.index(m[0]) for m in meta], dtype=np.int64)
    uniq, inverse = np.unique(values[:, 1], return_inverse=True)
    frame: dict[str, object] = {
        "account": pd.Categorical.from_codes(name_code[pos], categories=names),
        "kind": np.array([m[1] for m in meta], dtype=object)[pos],
        "currency": np.array([m[2] for m in meta], dtype=object)[pos],
        "prefix": pd.Categorical.from_codes(
            inverse.reshape(-1), categories=pd.Index([str(u) for u in uniq.tolist()], dtype=object)
        ),
        "rate": values[:, 2],
    }
    for col in _OPTIONAL:
        if col in constant:
            frame[col] = np.full(len(values), constant[col], dtype=np.int64)
        else:
            frame[col] = values[:, fields.index(col)]
    return pd.DataFrame(frame)[IN_FORCE_COLUMNS], valid_from, valid_until


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in IN_FORCE_COLUMNS})


def _rows(conn, pg: bool, t: int) -> pd.DataFrame:  # type: ignore[no-untyped-def]
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
    return pd.DataFrame(frame)
