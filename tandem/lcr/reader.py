"""Reading the rates in force at one instant out of the store, fast enough for millions of rows.

Fetching millions of row tuples through a DB-API driver costs seconds per million. Instead,
one query per deck (through the ``deck_id`` index) has the database compute, in one pass
over the deck's live rows:

* its share of the table's validity window (the last change at or before ``t`` and the
  next change after it);
* how many rows differ from a sample row in the per-row columns other than the rate
  (connect fee, increments, minimum duration are often constant); only if some do, a
  second scan says which columns, and a third pass fetches them;
* one comma-separated string of integers per column (``group_concat`` on SQLite,
  ``string_agg`` on PostgreSQL) over the rows in force: prefix digits and rate. The
  aggregates of one query see the same rows in the same order (PostgreSQL: ``ORDER BY
  id``), and numpy parses each string in one call.

The deck list is read again at the end: a deck written meanwhile makes the compile fail
with a clear error rather than mix two states of the store.

A prefix that is not written as a plain number (leading zeros, letters, more than 18
digits) is detected (the text no longer matches the numbers printed back) and the reader
falls back to fetching rows one by one.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

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
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tandem-parse") as pool:
        return _read(store, t, pool)


def _read(store: Store, t: int, pool: ThreadPoolExecutor) -> tuple[dict[str, Any], int, int]:
    pg = store.dialect == "postgresql"
    live = "(effective_until IS NULL OR effective_until > effective_from)"
    now = "(effective_from <= :t AND (effective_until IS NULL OR effective_until > :t))"
    # The last boundary at or before t and the first after it; on a live row
    # effective_from < effective_until, so each row offers at most one candidate to each.
    window = (
        "MAX(CASE WHEN effective_until <= :t THEN effective_until "
        "WHEN effective_from <= :t THEN effective_from END), "
        "MIN(CASE WHEN effective_from > :t THEN effective_from "
        "WHEN effective_until > :t THEN effective_until END)"
    )
    cols = ", ".join(_OPTIONAL)
    with store.engine.connect() as conn:
        decks = _decks(conn)
        sample = conn.execute(
            text(f"SELECT {cols} FROM rates WHERE {now} LIMIT 1"), {"t": t}
        ).first()
        # One pass per deck (through the deck_id index) computes the validity window,
        # counts the live rows whose other columns differ from a sample row in force
        # (columns that are the same on every row need not travel per row) and
        # aggregates the prefix and rate of every row in force. Only when some row
        # differs does a second scan say which columns differ, and a third fetch them.
        params: dict[str, int] = {"t": t}
        differs: list[str] = []
        flag = ""
        if sample is not None:
            params.update({f"c{i}": int(v) for i, v in enumerate(sample)})
            differs = [f"{c} <> :c{i}" for i, c in enumerate(_OPTIONAL)]
            flag = f", COUNT(*) FILTER (WHERE {' OR '.join(differs)})"
        fields = ["prefix", "rate"]
        first = text(
            f"SELECT {window}{flag}, {_aggs(fields, pg, now)} "
            f"FROM rates WHERE deck_id = :d AND {live}"
        )
        froms: list[int] = []
        untils: list[int] = []
        differing = 0
        blobs: dict[int, tuple[str, ...]] = {}
        # Parse each deck's text in a worker thread while SQLite (which releases the GIL
        # while stepping) computes the next deck's: the two overlap on a second core.
        parsed: dict[int, Future[list[np.ndarray | None]]] = {}
        for d in decks:
            got = conn.execute(first, {**params, "d": d}).one()
            if got[0] is not None:
                froms.append(int(got[0]))
            if got[1] is not None:
                untils.append(int(got[1]))
            if sample is not None:
                differing += int(got[2] or 0)
            if got[-1]:
                blobs[d] = tuple(got[-len(fields) :])
                parsed[d] = pool.submit(_parse_all, blobs[d])
        valid_from = max(froms) if froms else -_BIG
        valid_until = min(untils) if untils else _BIG
        if sample is None:
            return _empty(), valid_from, valid_until
        varying: list[str] = []
        if differing:
            scan = "" if pg else " NOT INDEXED"  # a plain table scan beats index order here
            counts = conn.execute(
                text(
                    "SELECT "
                    + ", ".join(f"COUNT(*) FILTER (WHERE {d})" for d in differs)
                    + f" FROM rates{scan} WHERE {now}"
                ),
                params,
            ).one()
            varying = [c for c, n in zip(_OPTIONAL, counts, strict=True) if n]
        if varying:
            fields += varying
            again = text(f"SELECT {_aggs(fields, pg)} FROM rates WHERE deck_id = :d AND {now}")
            blobs = {d: tuple(conn.execute(again, {"t": t, "d": d}).one()) for d in blobs}
            parsed = {d: pool.submit(_parse_all, texts) for d, texts in blobs.items()}
        if _decks(conn) != decks:
            raise StoreError("the rate store changed while compiling; compile again")
        parts: list[list[np.ndarray]] = []
        for d in blobs:
            result = parsed[d].result()
            columns = [c for c in result if c is not None]
            if len(columns) < len(result) or any(len(c) != len(columns[0]) for c in columns):
                # A prefix that is not plain digits: read row by row.
                return _rows(conn, t), valid_from, valid_until
            parts.append(columns)
    # One contiguous array per field (no row-major stack, no strided column views).
    values = [
        np.concatenate([p[k] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
        for k in range(len(fields))
    ]
    total = len(values[0])
    ids = np.array(sorted(decks), dtype=np.int64)
    blob_pos = np.searchsorted(ids, np.array(list(blobs), dtype=np.int64)).tolist()
    meta = [decks[int(d)] for d in ids]
    names = sorted({m[0] for m in meta})
    currencies = sorted({m[2] for m in meta})
    name_code = [names.index(m[0]) for m in meta]
    kind_code = [int(m[1] == "customer") for m in meta]
    currency_code = [currencies.index(m[2]) for m in meta]
    # Per-row codes, filled one deck's slice at a time (decks are few, rows are many).
    acct = np.empty(total, dtype=_code_dtype(len(names)))
    kind = np.empty(total, dtype=np.int8)
    currency = np.empty(total, dtype=_code_dtype(len(currencies)))
    start = 0
    for b, part in zip(blob_pos, parts, strict=True):
        stop = start + len(part[0])
        acct[start:stop] = name_code[b]
        kind[start:stop] = kind_code[b]
        currency[start:stop] = currency_code[b]
        start = stop
    inverse, uniq = pd.factorize(values[0], sort=False)
    frame: dict[str, object] = {
        "account": pd.Categorical.from_codes(acct, categories=names, validate=False),
        "kind": pd.Categorical.from_codes(kind, categories=["carrier", "customer"], validate=False),
        "currency": pd.Categorical.from_codes(currency, categories=currencies, validate=False),
        "prefix": pd.Categorical.from_codes(
            inverse.astype(_code_dtype(len(uniq)), copy=False),
            categories=pd.Index([str(u) for u in uniq.tolist()], dtype=object),
            validate=False,
        ),
        "rate": values[1],
    }
    for i, col in enumerate(_OPTIONAL):
        if col in varying:
            frame[col] = values[fields.index(col)]
        else:
            frame[col] = np.broadcast_to(np.int64(sample[i]), (total,))
    # The store never holds two rows of one account and prefix in force at one instant
    # (write_deck supersedes), so the per-row start instant is not needed to break ties.
    frame["effective_from"] = np.broadcast_to(np.int64(t), (total,))
    return {c: frame[c] for c in IN_FORCE_COLUMNS}, valid_from, valid_until


def _code_dtype(categories: int) -> type[np.signedinteger]:
    """The smallest signed integer type pandas keeps as categorical codes (no recast)."""
    for dtype in (np.int8, np.int16, np.int32):
        if categories < np.iinfo(dtype).max:
            return dtype
    return np.int64


def _decks(conn: Connection) -> dict[int, tuple[str, str, str]]:
    """Deck id -> (account name, account kind, currency), in deck id order."""
    rows = conn.execute(
        text(
            "SELECT d.id, a.name, a.kind, d.currency FROM decks d "
            "JOIN accounts a ON a.id = d.account_id ORDER BY d.id"
        )
    )
    return {int(d): (str(name), str(kind), str(cur)) for d, name, kind, cur in rows}


def _aggs(fields: list[str], pg: bool, where: str = "") -> str:
    """One comma-separated text aggregate per field (optionally only over rows ``where``).
    The aggregates of one query see the same rows in the same order."""
    only = f" FILTER (WHERE {where})" if where else ""
    if pg:
        return ", ".join(f"string_agg({f}::text, ',' ORDER BY id){only}" for f in fields)
    return ", ".join(f"group_concat({f}, ','){only}" for f in fields)


_POW10 = np.array([10**k for k in range(1, 19)], dtype=np.int64)


def _parse_all(texts: tuple[str, ...]) -> list[np.ndarray | None]:
    """:func:`_parse` of each of one deck's aggregated columns."""
    return [_parse(blob or "") for blob in texts]


def _parse(blob: str) -> np.ndarray | None:
    """The integers of ``blob``, or None when any field was not written canonically
    (leading zeros, a sign, spaces, letters): the text length must equal the length of
    the numbers printed back."""
    try:
        values = np.fromstring(blob, dtype=np.int64, sep=",")
    except ValueError:
        return None
    digits = np.searchsorted(_POW10, np.abs(values), side="right") + 1 + (values < 0)
    if int(digits.sum()) + max(values.size - 1, 0) != len(blob):
        return None
    return values


def _empty() -> dict[str, Any]:
    return {c: np.zeros(0, dtype=object) for c in IN_FORCE_COLUMNS}


def _rows(conn: Connection, t: int) -> dict[str, Any]:
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
