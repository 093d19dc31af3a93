"""Deleting one deck version: its rows go, and the account's other rows get back the
validity windows they would have had if it had never been imported.

Why a rebuild is exact. A deck import cuts the account's stored rows (see
:mod:`tandem.store.windows`): for a code P with earliest incoming start C, every stored row
of P gets ``until = min(until, max(C, from))`` (a row beginning at or after C is voided,
one in force at C ends at C, shorter rows are untouched). That is a minimum, so cuts
commute: a row's end is the end its own deck gave it (the next start of the same code in
that deck, else open) lowered by the cut of every later version. Each version's cut is
known from what is stored: the earliest start per code of its rate rows and of its
``Closed`` rows (:class:`tandem.store.models.DeckClose`), and for a full deck the deck's
date for every code it did not list. So the windows without version N are rebuilt from the
rows alone, whichever version N is; for the latest version this is exactly the state
before it was imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Connection

from tandem.store.columns import OPEN_END
from tandem.store.dialect import driver_connection, qmark

__all__ = ["DeckDeletion", "rebuilt_windows"]


@dataclass
class DeckDeletion:
    """What deleting one deck version changes (or would change, in a dry run)."""

    account: str
    kind: str
    version: int
    deck_id: int
    source_name: str
    mode: str
    effective_from: int
    rates_deleted: int
    closes_deleted: int
    #: Later versions of the account (their imports were compared with this one).
    later_versions: list[int] = field(default_factory=list)
    #: The earliest start of the version's rows that were in force at some instant
    #: (a non-empty window), None when every row was voided.
    in_force_from: int | None = None
    #: Other rows of the account whose window end changes (given back what it cut).
    rates_restored: int = 0
    #: True when the account has no version left and is removed too.
    account_deleted: bool = False
    dry_run: bool = False
    forced: bool = False

    @property
    def written(self) -> bool:
        """True when the version was deleted (not a dry run)."""
        return not self.dry_run


def _account_rows(conn: Connection, account_id: int, without: int | None) -> pd.DataFrame:
    """The account's rate rows outside version ``without``: ``id, version, prefix, from,
    until`` (OPEN_END: open).

    Read through the driver's cursor (a million rows as SQLAlchemy row objects cost
    seconds); the deck of each row becomes its version by a lookup on the few decks.
    """
    versions: dict[int, int] = {
        int(d): int(v)
        for d, v in conn.execute(
            text("SELECT id, version FROM decks WHERE account_id = :a"), {"a": account_id}
        )
    }
    skip = [d for d, v in versions.items() if v == without] or [-1]
    cursor = driver_connection(conn).cursor()
    try:
        cursor.execute(
            qmark(
                conn,
                "SELECT id, deck_id, prefix, effective_from, COALESCE(effective_until, -1) "
                "FROM rates WHERE account_id = ? AND deck_id <> ?",
            ),
            (account_id, skip[0]),
        )
        rows = cursor.fetchall()
    finally:
        cursor.close()
    if not rows:
        ids = decks = starts = ends = np.zeros(0, dtype=np.int64)
        prefixes: tuple = ()
    else:
        id_col, deck_col, prefixes, start_col, end_col = zip(*rows, strict=True)
        del rows
        ids = np.asarray(id_col, dtype=np.int64)
        decks = np.asarray(deck_col, dtype=np.int64)
        starts = np.asarray(start_col, dtype=np.int64)
        ends = np.asarray(end_col, dtype=np.int64)
    deck_ids = np.asarray(sorted(versions), dtype=np.int64)
    deck_versions = np.asarray([versions[d] for d in deck_ids.tolist()], dtype=np.int64)
    return pd.DataFrame(
        {
            "id": ids,
            "version": deck_versions[np.searchsorted(deck_ids, decks)]
            if len(decks)
            else np.zeros(0, dtype=np.int64),
            "prefix": pd.Series(list(prefixes), dtype=object),
            "from": starts,
            "until": np.where(ends < 0, OPEN_END, ends),
        }
    )


def _account_closes(conn: Connection, account_id: int) -> pd.DataFrame:
    rows = conn.execute(
        text(
            "SELECT d.version, c.prefix, c.effective_from FROM deck_closes c "
            "JOIN decks d ON d.id = c.deck_id WHERE d.account_id = :a"
        ),
        {"a": account_id},
    ).fetchall()
    return pd.DataFrame(
        {
            "version": np.array([r[0] for r in rows], dtype=np.int64),
            "prefix": pd.Series([r[1] for r in rows], dtype=object),
            "from": np.array([r[2] for r in rows], dtype=np.int64),
        }
    )


def rebuilt_windows(
    conn: Connection, account_id: int, without_version: int | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(rows, changed)``: the account's rate rows outside ``without_version`` with the
    end each would have if that version had never been imported (``new_until``), and the
    rows among them whose stored end differs (``id``, ``new_until``; OPEN_END is open).

    With ``without_version`` None the rebuild covers every version: ``changed`` is then
    empty whenever the stored windows follow the supersession rule.
    """
    rows = _account_rows(conn, account_id, without_version)
    closes = _account_closes(conn, account_id)
    decks = conn.execute(
        text("SELECT version, mode, effective_from FROM decks WHERE account_id = :a"),
        {"a": account_id},
    ).fetchall()
    if without_version is not None:
        rows = rows[rows["version"] != without_version].reset_index(drop=True)
        closes = closes[closes["version"] != without_version]
        decks = [d for d in decks if d[0] != without_version]
    marks = pd.concat(
        [
            rows[["version", "prefix", "from"]].assign(row=np.arange(len(rows))),
            closes[["version", "prefix", "from"]].assign(row=-1),
        ],
        ignore_index=True,
    ).sort_values(["version", "prefix", "from"], kind="stable")
    # The end a deck gave its own row: the next start of the same code in that deck.
    version = marks["version"].to_numpy()
    prefix = marks["prefix"].to_numpy(dtype=object)
    start = marks["from"].to_numpy(dtype=np.int64)
    same_next = np.zeros(len(marks), dtype=bool)
    if len(marks) > 1:
        same_next[:-1] = (version[:-1] == version[1:]) & (prefix[:-1] == prefix[1:])
    own_end = np.full(len(marks), OPEN_END, dtype=np.int64)
    own_end[:-1] = np.where(same_next[:-1], start[1:], OPEN_END)
    is_row = marks["row"].to_numpy() >= 0
    new_until = np.empty(len(rows), dtype=np.int64)
    new_until[marks["row"].to_numpy()[is_row]] = own_end[is_row]
    # Every later version cuts: its codes at their earliest start, a full deck's others at
    # its date; a cut is min(until, max(C, from)).
    first_start = marks.groupby(["version", "prefix"], sort=False)["from"].min()
    row_version = rows["version"].to_numpy()
    row_from = rows["from"].to_numpy(dtype=np.int64)
    for deck_version, mode, deck_from in sorted(decks):
        earlier = row_version < deck_version
        if not earlier.any():
            continue
        cuts = first_start.xs(deck_version, level="version") if deck_version in version else None
        at = (
            rows.loc[earlier, "prefix"].map(cuts)
            if cuts is not None
            else pd.Series(np.nan, index=rows.index[earlier])
        )
        if mode == "full":
            at = at.fillna(deck_from)
        listed = at.notna().to_numpy()
        if not listed.any():
            continue
        idx = np.flatnonzero(earlier)[listed]
        cut = np.maximum(at.to_numpy()[listed].astype(np.int64), row_from[idx])
        new_until[idx] = np.minimum(new_until[idx], cut)
    rows = rows.assign(new_until=new_until)
    changed = rows.loc[rows["new_until"] != rows["until"], ["id", "new_until"]]
    return rows, changed
