"""Reading the rates in force at one instant, fast enough for millions of rows.

Fetching millions of row tuples through a DB-API driver costs seconds per million. Instead,
one query per deck (through the ``deck_id`` index) has the database compute, in one pass
over the deck's live rows:

* its share of the validity window (the last change at or before ``t`` and the next
  change after it);
* how many rows differ from a sample row in the rate terms other than the rate
  (connect fee, increments, minimum duration are often constant); only if some do, a
  second scan says which terms, and a third pass fetches them;
* one comma-separated string of integers per column (``group_concat`` on SQLite,
  ``string_agg`` on PostgreSQL) over the rows in force: prefix digits and rate. The
  aggregates of one query see the same rows in the same order (PostgreSQL: ``ORDER BY
  id``), and numpy parses each string in one call, in a worker thread, while the
  database (SQLite releases the GIL while stepping) computes the next deck's strings.

The deck list is read again at the end: a deck written meanwhile makes the read fail
with a clear error rather than mix two states of the store.

A prefix that is not written as a plain number (leading zeros, letters, more than 18
digits) is detected (the text no longer matches the numbers printed back) and the reader
falls back to fetching rows one by one.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from tandem.errors import StoreError
from tandem.instant import LAST_INSTANT, OPEN_END
from tandem.store.columns import TERMS

__all__ = ["DeckAccount", "DeckRows", "InForce", "read_in_force"]


class DeckAccount(NamedTuple):
    """Whose a deck version is: the account's name and kind, and the deck's currency."""

    account: str
    kind: str
    currency: str


@dataclass(frozen=True, slots=True)
class DeckRows:
    """One deck version's rows in force: one array per column, one entry per row.

    ``prefix`` is int64 (the digits) when every prefix in force is written as a plain
    number, else Python strings; ``rate`` and every term that is not the same on every
    row in force (:attr:`InForce.constant`) are int64.
    """

    deck_id: int
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.columns["prefix"])


@dataclass(frozen=True, slots=True)
class InForce:
    """The rate rows in force at one instant (:meth:`tandem.store.Store.in_force`).

    ``decks``: every stored deck version (also those with no row in force), by id, in id
    order; ``rows``: the versions with rows in force, in id order; ``constant``: each rate
    term that has one value on every row in force, with that value (the others are per-row
    columns of ``rows``); ``[valid_from, valid_until)``: the instants at which a stored
    rate last changed and next changes (-/+ :data:`~tandem.instant.OPEN_END` when open).
    """

    at: int
    valid_from: int
    valid_until: int
    decks: dict[int, DeckAccount]
    rows: list[DeckRows]
    constant: dict[str, int]

    @property
    def fields(self) -> list[str]:
        """The per-row columns of :attr:`rows`: ``prefix``, ``rate``, then varying terms."""
        return ["prefix", "rate", *(t for t in TERMS if t not in self.constant)]


def read_in_force(engine: Engine, t: int) -> InForce:
    """The rows in force at ``t`` (UTC epoch seconds), deck by deck (see the module docstring)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tandem-parse") as pool:
        return _read(engine, t, pool)


def _read(engine: Engine, t: int, pool: ThreadPoolExecutor) -> InForce:
    pg = engine.dialect.name == "postgresql"
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
    with engine.connect() as conn:
        decks = _decks(conn)
        sample = conn.execute(
            text(f"SELECT {', '.join(TERMS)} FROM rates WHERE {now} LIMIT 1"), {"t": t}
        ).first()
        # One pass per deck (through the deck_id index) computes the validity window,
        # counts the live rows whose terms differ from a sample row in force (terms that
        # are the same on every row need not travel per row) and aggregates the prefix
        # and rate of every row in force. Only when some row differs does a second scan
        # say which terms differ, and a third fetch them.
        params: dict[str, int] = {"t": t}
        differs: list[str] = []
        flag = ""
        if sample is not None:
            params.update({f"c{i}": int(v) for i, v in enumerate(sample)})
            differs = [f"{c} <> :c{i}" for i, c in enumerate(TERMS)]
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
        valid_from = max(froms) if froms else -OPEN_END
        valid_until = min(untils) if untils else OPEN_END
        if valid_until > LAST_INSTANT:
            # A change after 9999-12-31T23:59:59Z (a store written before import refused
            # such dates) never comes: the window is open, not a crash when printed.
            valid_until = OPEN_END
        if sample is None:
            return InForce(t, valid_from, valid_until, decks, [], {})
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
            varying = [c for c, n in zip(TERMS, counts, strict=True) if n]
        if varying:
            fields += varying
            again = text(f"SELECT {_aggs(fields, pg)} FROM rates WHERE deck_id = :d AND {now}")
            blobs = {d: tuple(conn.execute(again, {"t": t, "d": d}).one()) for d in blobs}
            parsed = {d: pool.submit(_parse_all, texts) for d, texts in blobs.items()}
        if _decks(conn) != decks:
            raise StoreError("the rate store changed while compiling; compile again")
        rows: list[DeckRows] = []
        for d in blobs:
            columns = [c for c in parsed[d].result() if c is not None]
            if len(columns) < len(fields) or any(len(c) != len(columns[0]) for c in columns):
                # A prefix that is not plain digits: read row by row.
                return _row_by_row(conn, t, valid_from, valid_until, decks)
            rows.append(DeckRows(d, dict(zip(fields, columns, strict=True))))
    constant = {c: int(v) for c, v in zip(TERMS, sample, strict=True) if c not in varying}
    return InForce(t, valid_from, valid_until, decks, rows, constant)


def _decks(conn: Connection) -> dict[int, DeckAccount]:
    """Deck id -> whose it is, in deck id order."""
    rows = conn.execute(
        text(
            "SELECT d.id, a.name, a.kind, d.currency FROM decks d "
            "JOIN accounts a ON a.id = d.account_id ORDER BY d.id"
        )
    )
    return {int(d): DeckAccount(str(name), str(kind), str(cur)) for d, name, kind, cur in rows}


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


def _row_by_row(
    conn: Connection, t: int, valid_from: int, valid_until: int, decks: dict[int, DeckAccount]
) -> InForce:
    """The rows in force at ``t``, fetched one by one (any prefix text); every term per row."""
    fields = ["prefix", "rate", *TERMS]
    sql = (
        f"SELECT deck_id, {', '.join(fields)} FROM rates "
        "WHERE effective_from <= :t AND (effective_until IS NULL OR effective_until > :t) "
        "ORDER BY deck_id"
    )
    fetched = conn.execute(text(sql), {"t": t}).fetchall()
    if not fetched:
        return InForce(t, valid_from, valid_until, decks, [], {})
    deck_ids, prefixes, *numbers = zip(*fetched, strict=True)
    columns = [np.array(prefixes, dtype=object)]
    columns += [np.array(values, dtype=np.int64) for values in numbers]
    ids = np.array(deck_ids, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    stops = [*starts[1:].tolist(), len(ids)]
    rows = [
        DeckRows(int(ids[a]), {f: c[a:b] for f, c in zip(fields, columns, strict=True)})
        for a, b in zip(starts.tolist(), stops, strict=True)
    ]
    return InForce(t, valid_from, valid_until, decks, rows, {})
