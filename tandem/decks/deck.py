"""Rate-deck import: validate, diff and store a vendor or customer deck, atomically.

:func:`import_deck` reads and validates the file with
:func:`tandem.decks.parse.parse_deck` (pure: no store), compares its rates with the
account's rates in force (:func:`tandem.decks.diff.diff_rates`) and writes the new version
with :meth:`tandem.store.Store.write_deck`, the whole version or nothing: if any row is
rejected nothing is written (:class:`~tandem.errors.DeckRejectedError` carries the full
report). :func:`diff_versions` compares a stored version with the ones before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tandem.decks.diff import DEFAULT_NOTICE_DAYS, DeckDiff, diff_rates
from tandem.decks.parse import DeckOptions, ParsedDeck, Rejection, parse_deck
from tandem.errors import DeckError, DeckRejectedError
from tandem.instant import InstantLike, format_instant, now_instant, parse_instant

__all__ = [
    "DeckImport",
    "import_deck",
    "diff_versions",
    "MODES",
]

#: Import modes: a full A-Z deck closes unlisted codes, a delta deck leaves them alone.
MODES = ("full", "delta")


@dataclass
class DeckImport:
    """The report of one deck import (also of a refused or dry-run one)."""

    account: str
    kind: str
    mode: str
    parsed: ParsedDeck
    diff: DeckDiff
    version: Any = None  # tandem.store.DeckVersion when written
    dry_run: bool = False

    @property
    def accepted(self) -> int:
        """Codes accepted."""
        return self.parsed.accepted

    @property
    def rejected(self) -> list[Rejection]:
        """Every rejected row."""
        return self.parsed.rejected

    @property
    def refused(self) -> bool:
        """True when rows were rejected, so nothing was (or would be) written."""
        return bool(self.parsed.rejected)

    @property
    def written(self) -> bool:
        """True when a new version was stored."""
        return self.version is not None

    def to_dict(self, *, lists: bool = True) -> dict[str, object]:
        """One JSON-ready object: ``accepted``, ``rejected``, ``diff`` and the deck's facts."""
        p = self.parsed
        return {
            "account": self.account,
            "kind": self.kind,
            "mode": self.mode,
            "source": p.source_name,
            "sha256": p.source_sha256,
            "format": p.format,
            "header_line": p.header_line,
            "columns": p.columns,
            "currency": p.currency,
            "effective_from": format_instant(p.effective_from),
            "rows_read": p.rows_read,
            "accepted": p.accepted,
            "rejected": [r.to_dict() for r in p.rejected],
            "warnings": p.warnings,
            "diff": self.diff.to_dict(lists=lists),
            "written": self.written,
            "refused": self.refused,
            "dry_run": self.dry_run,
            "version": None if self.version is None else self.version.version,
            "deck_id": None if self.version is None else self.version.id,
        }


# -- import ------------------------------------------------------------------------------------


def _split_fields(blobs: list[str], count: int) -> list[pa.Array] | None:
    """The four fields of ``count`` rows from comma-joined text (Arrow splits it).

    One blob holds every field of every row in turn, or one blob per field. None when
    the pieces do not come out as ``count`` per field (a prefix holding a comma).
    """
    parts = [pc.split_pattern(pa.array([b], type=pa.large_string()), ",").flatten() for b in blobs]
    if len(parts) == 1:
        if len(parts[0]) != 4 * count:
            return None
        return [
            parts[0].take(pa.array(np.arange(k, 4 * count, 4, dtype=np.int64))) for k in range(4)
        ]
    return parts if all(len(p) == count for p in parts) else None


def _history(store: Any, account: str, kind: str, since: int | None = None) -> pd.DataFrame:
    """The account's stored rate rows (those with a non-empty validity window).

    Only the four columns the diff needs, straight from SQL (``Store.rates`` builds the
    full frame, which is slow for a million-code account). With ``since``, rows that
    ended before that instant are left out: for one prefix the stored windows do not
    overlap, so such a row can be neither the rate in force at any instant from
    ``since`` on nor shadow the one that is (the diff looks no earlier than the deck's
    first date).

    The rows travel as comma-joined text that Arrow splits and parses, instead of a
    million row tuples through the driver: on SQLite one ``group_concat`` per field in
    one query (SQLite steps each aggregate on each row in turn, and no field is NULL,
    so the lists stay aligned), on PostgreSQL one ``string_agg`` of whole rows. A
    prefix holding the separator (never from a parsed deck) makes the piece count
    disagree with the row count, and the rows are then fetched one by one.
    """
    cols = ["prefix", "rate", "effective_from", "effective_until"]
    found = store.find_account(account, kind)
    if found is None:
        return pd.DataFrame(columns=cols)
    where = (
        "r.account_id = ? AND (r.effective_until IS NULL OR r.effective_until > r.effective_from)"
    )
    params: tuple[int, ...] = (found.id,)
    if since is not None:
        where += " AND (r.effective_until IS NULL OR r.effective_until >= ?)"
        params += (int(since),)
    from tandem.store import OPEN_END
    from tandem.store.store import account_scan

    fields = ("r.prefix", "r.rate", "r.effective_from", "COALESCE(r.effective_until, -1)")
    with store.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            aggs = f"string_agg(concat_ws(',', {', '.join(fields)}), ',')"
        else:
            # One aggregate per field: SQLite steps every aggregate of a query on each row
            # in turn, so the four lists stay aligned (no field is NULL, none skipped).
            aggs = ", ".join(f"group_concat({f}, ',')" for f in fields)
        sql = f"SELECT COUNT(*), {aggs} FROM rates r{account_scan(conn, found.id)} WHERE {where}"
        rows_sql = f"SELECT {', '.join(fields)} FROM rates r WHERE {where}"
        if conn.dialect.paramstyle in ("format", "pyformat"):
            sql, rows_sql = sql.replace("?", "%s"), rows_sql.replace("?", "%s")
        cursor = conn.connection.driver_connection.cursor()
        try:
            cursor.execute(sql, params)
            count, *blobs = cursor.fetchone()
            if not count:
                return pd.DataFrame(columns=cols)
            columns = _split_fields(blobs, count)
            del blobs
            if columns is None:  # a separator inside a prefix: row by row
                cursor.execute(rows_sql, params)
                rows = cursor.fetchall()
                if not rows:
                    return pd.DataFrame(columns=cols)
                columns = [
                    pa.array([str(v) for v in col], pa.large_string())
                    for col in zip(*rows, strict=True)
                ]
                del rows
        finally:
            cursor.close()
    prefix = columns[0].to_numpy(zero_copy_only=False)
    rate, start, until = (
        col.cast(pa.int64()).to_numpy(zero_copy_only=False) for col in columns[1:]
    )
    until = np.where(until < 0, OPEN_END, until)
    return pd.DataFrame(
        {
            "prefix": pd.Series(prefix, dtype=object),
            "rate": rate,
            "effective_from": start,
            "effective_until": until,
        }
    )


def import_deck(
    store: Any,
    source: str | Path | bytes,
    *,
    account: str,
    kind: str = "carrier",
    mode: str = "full",
    options: DeckOptions | None = None,
    now: InstantLike | None = None,
    notice_days: int = DEFAULT_NOTICE_DAYS,
    dry_run: bool = False,
    decimals: int = 4,
    rounding: str = "half-up",
    source_name: str | None = None,
    on_step: Callable[[str], None] | None = None,
) -> DeckImport:
    """Import a deck for ``account`` (a ``carrier`` or ``customer``) as a new version.

    Reads and validates the file (:func:`parse_deck`), compares it with the account's
    rates in force (:func:`tandem.decks.diff.diff_rates`; increases effective
    sooner than ``notice_days`` after ``now`` are flagged) and stores it with
    :meth:`tandem.store.Store.write_deck` in ``mode`` ``full`` (codes the deck does not
    list close at its effective date) or ``delta``. Nothing is written when any row is
    rejected (raises :class:`DeckRejectedError`, whose ``result`` is the report) or with
    ``dry_run``. ``now`` pins the import instant (tests); it defaults to the clock.
    """
    if mode not in MODES:
        raise DeckError(f"deck mode must be 'full' or 'delta', got {mode!r}")
    if kind not in ("carrier", "customer"):
        raise DeckError(f"account kind must be 'carrier' or 'customer', got {kind!r}")
    if not account or not account.strip():
        raise DeckError("the account name is empty: pass --carrier NAME or --customer NAME")
    if notice_days < 0:
        raise DeckError(f"notice period must be zero or more days, got {notice_days}")
    step = on_step or (lambda _s: None)
    now_s = now_instant() if now is None else parse_instant(now)
    step("reading")
    parsed = parse_deck(source, options, now=now_s, source_name=source_name)
    step("comparing")
    since = parsed.effective_from
    if len(parsed.rates):
        since = min(since, int(parsed.rates["effective_from"].min()))
    previous = _history(store, account, kind, since)
    diff, changes = diff_rates(
        previous,
        parsed.rates,
        mode=mode,
        deck_from=parsed.effective_from,
        now=now_s,
        notice_days=notice_days,
    )
    parsed.rates["change"] = changes
    closing = parsed.rates.loc[parsed.rates["closed"].to_numpy(dtype=bool), "prefix"]
    not_open = sorted(set(closing) - set(diff.closed))
    if not_open:
        shown = " ".join(not_open[:20]) + (" ..." if len(not_open) > 20 else "")
        parsed.warnings.append(
            f"{len(not_open)} code(s) marked Closed had no rate in force: {shown}"
        )
    report = DeckImport(
        account=account, kind=kind, mode=mode, parsed=parsed, diff=diff, dry_run=dry_run
    )
    if parsed.rejected:
        count = len(parsed.rejected)
        first = parsed.rejected[0]
        raise DeckRejectedError(
            f"{parsed.source_name}: {count} row(s) rejected, nothing imported; first: {first}",
            report,
        )
    if parsed.accepted == 0:
        raise DeckError(f"{parsed.source_name}: the deck has no rate rows; nothing imported")
    if dry_run:
        return report
    step("writing")
    report.version = store.write_deck(
        account,
        kind,
        parsed.rates,
        currency=parsed.currency,
        mode=mode,
        effective_from=parsed.effective_from,
        source_name=parsed.source_name,
        source_sha256=parsed.source_sha256,
        decimals=decimals,
        rounding=rounding,
        timezone=(options.timezone if options and options.timezone else "UTC"),
    )
    return report


def _baseline(older: pd.DataFrame, versions: list, at: int, open_end: int) -> pd.DataFrame:
    """The account's codes as the versions before the latest left them at instant ``at``.

    Per code, the row of the highest earlier version in force at ``at`` (rows the latest
    version cut short or voided count as in force), less codes that a later full deck
    among the earlier versions no longer listed.
    """
    if older.empty:
        return pd.DataFrame(columns=["prefix", "rate", "effective_from", "effective_until"])
    older = older.copy()
    older["effective_until"] = older["effective_until"].fillna(open_end).astype("int64")
    live = older[(older["effective_from"] <= at) & (older["effective_until"] >= at)]
    live = live.sort_values(["version", "effective_from"]).drop_duplicates("prefix", keep="last")
    for v in versions:
        if v.mode != "full" or parse_instant(v.effective_from) > at:
            continue
        listed = set(older.loc[older["version"] == v.version, "prefix"])
        live = live[~((live["version"] < v.version) & ~live["prefix"].isin(listed))]
    return pd.DataFrame(
        {
            "prefix": live["prefix"].to_numpy(dtype=object),
            "rate": live["rate"].to_numpy(dtype="int64"),
            "effective_from": 0,
            "effective_until": open_end,
        }
    )


def diff_versions(
    store: Any, account: str, kind: str, *, notice_days: int = DEFAULT_NOTICE_DAYS
) -> tuple[DeckDiff, Any, Any]:
    """The diff of ``account``'s latest deck version against the versions before it.

    Returns ``(diff, latest, previous)`` (:class:`tandem.store.DeckVersion`; previous is
    None for a first version, when every code is new). The earlier versions' codes are
    taken as they stood at the latest version's effective date. Short notice is judged
    from the latest version's import instant. Codes a delta deck closed by a ``Closed`` status are
    not stored, so they show in the import report only.
    """
    from sqlalchemy import text

    from tandem.store import OPEN_END

    versions = store.decks(account=account, kind=kind)
    if not versions:
        raise DeckError(f"{kind} {account!r} has no deck; import one with 'tandem deck import'")
    latest = versions[-1]
    previous_version = versions[-2] if len(versions) > 1 else None
    sql = (
        "SELECT r.prefix, r.rate, r.effective_from, r.effective_until, d.version "
        "FROM rates r JOIN decks d ON d.id = r.deck_id "
        "WHERE d.account_id = (SELECT account_id FROM decks WHERE id = :deck) "
    )
    with store.engine.connect() as conn:
        older = conn.execute(
            text(sql + "AND d.version < :v"), {"deck": latest.id, "v": latest.version}
        ).fetchall()
        rows = conn.execute(
            text(
                sql + "AND d.id = :deck AND (r.effective_until IS NULL "
                "OR r.effective_until > r.effective_from)"
            ),
            {"deck": latest.id},
        ).fetchall()
    cols = ["prefix", "rate", "effective_from", "effective_until", "version"]
    older_frame = pd.DataFrame.from_records(older, columns=cols)
    deck_from = parse_instant(latest.effective_from)
    baseline = _baseline(older_frame, versions[:-1], deck_from, OPEN_END)
    incoming = pd.DataFrame.from_records(rows, columns=cols)
    incoming["closed"] = False
    diff, _ = diff_rates(
        baseline,
        incoming,
        mode=latest.mode,
        deck_from=deck_from,
        now=parse_instant(latest.imported_at),
        notice_days=notice_days,
    )
    return diff, latest, previous_version
