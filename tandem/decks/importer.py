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

import pandas as pd

from tandem.decks.diff import DEFAULT_NOTICE_DAYS, DeckDiff, diff_rates
from tandem.decks.parse import DeckOptions, ParsedDeck, Rejection, parse_deck
from tandem.errors import DeckError, DeckRejectedError
from tandem.instant import InstantLike, format_instant, now_instant, parse_instant
from tandem.store import OPEN_END, DeckVersion, Store

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
    version: DeckVersion | None = None  # when written
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


def import_deck(
    store: Store,
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
    # The version compared with: if another import stores one before this one writes,
    # the comparison is stale and write_deck refuses (ConcurrentWriteError).
    compared_version = store.latest_version(account, kind)
    previous = store.rate_history(account, kind, since=since)
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
        expect_version=compared_version,
    )
    return report


def _baseline(older: pd.DataFrame, versions: list[DeckVersion], at: int) -> pd.DataFrame:
    """The account's codes as the versions before the latest left them at instant ``at``.

    Per code, the row of the highest earlier version in force at ``at`` (rows the latest
    version cut short or voided count as in force), less codes that a later full deck
    among the earlier versions no longer listed.
    """
    if older.empty:
        return pd.DataFrame(columns=["prefix", "rate", "effective_from", "effective_until"])
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
            "effective_until": OPEN_END,
        }
    )


def diff_versions(
    store: Store, account: str, kind: str, *, notice_days: int = DEFAULT_NOTICE_DAYS
) -> tuple[DeckDiff, DeckVersion, DeckVersion | None]:
    """The diff of ``account``'s latest deck version against the versions before it.

    Returns ``(diff, latest, previous)`` (:class:`tandem.store.DeckVersion`; previous is
    None for a first version, when every code is new). The earlier versions' codes are
    taken as they stood at the latest version's effective date. Short notice is judged
    from the latest version's import instant. Codes a delta deck closed by a ``Closed`` status are
    not stored, so they show in the import report only.
    """
    versions = store.decks(account=account, kind=kind)
    if not versions:
        raise DeckError(f"{kind} {account!r} has no deck; import one with 'tandem deck import'")
    latest = versions[-1]
    previous_version = versions[-2] if len(versions) > 1 else None
    deck_from = parse_instant(latest.effective_from)
    baseline = _baseline(store.earlier_rows(latest), versions[:-1], deck_from)
    incoming = store.rates(deck_id=latest.id)[["prefix", "rate", "effective_from"]]
    incoming = incoming.assign(closed=False)
    diff, _ = diff_rates(
        baseline,
        incoming,
        mode=latest.mode,
        deck_from=deck_from,
        now=parse_instant(latest.imported_at),
        notice_days=notice_days,
    )
    return diff, latest, previous_version
