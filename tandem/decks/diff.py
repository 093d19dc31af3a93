"""What a new deck version changes: new, increased, decreased, unchanged and closed codes.

Codes are compared by their per-minute rate with the rate the account had in force
when the new row takes effect. Increases that take effect sooner than the notice
period after the import (the trade's rule: a vendor announces an increase seven days
ahead) are flagged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tandem.instant import format_instant
from tandem.money import format_money

__all__ = ["DEFAULT_NOTICE_DAYS", "NoticeFlag", "DeckDiff", "diff_rates"]

#: Notice an increase needs, in days, unless configured otherwise.
DEFAULT_NOTICE_DAYS = 7

NEW, INCREASE, DECREASE, UNCHANGED, CLOSED = "New", "Increase", "Decrease", "Unchanged", "Closed"


@dataclass(frozen=True)
class NoticeFlag:
    """An increase announced with less notice than the notice period."""

    prefix: str
    old_rate: int  # scaled
    new_rate: int  # scaled
    effective_from: int  # UTC epoch seconds
    notice_seconds: int  # from the import instant to effective_from (may be negative)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: money as decimal strings, times as ISO 8601 UTC."""
        return {
            "prefix": self.prefix,
            "old_rate": format_money(self.old_rate),
            "new_rate": format_money(self.new_rate),
            "effective_from": format_instant(self.effective_from),
            "notice_days": round(self.notice_seconds / 86400, 2),
        }


@dataclass
class DeckDiff:
    """Codes by what a deck version does to them, and short-notice increases."""

    new: list[str] = field(default_factory=list)
    increased: list[str] = field(default_factory=list)
    decreased: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    short_notice: list[NoticeFlag] = field(default_factory=list)
    notice_days: int = DEFAULT_NOTICE_DAYS

    def counts(self) -> dict[str, int]:
        """``{"new": n, "increased": n, "decreased": n, "unchanged": n, "closed": n,
        "short_notice": n}``."""
        return {
            "new": len(self.new),
            "increased": len(self.increased),
            "decreased": len(self.decreased),
            "unchanged": len(self.unchanged),
            "closed": len(self.closed),
            "short_notice": len(self.short_notice),
        }

    def to_dict(self, *, lists: bool = True) -> dict[str, object]:
        """JSON-ready counts, and (``lists``) the codes of each kind except unchanged."""
        out: dict[str, object] = dict(self.counts())
        out["notice_days"] = self.notice_days
        if lists:
            out["codes"] = {
                "new": self.new,
                "increased": self.increased,
                "decreased": self.decreased,
                "closed": self.closed,
            }
        out["short_notice_increases"] = [f.to_dict() for f in self.short_notice]
        return out


def _digit_keys(values: np.ndarray) -> np.ndarray | None:
    """Each prefix as an int64 (``"1" + digits``, so leading zeros stay distinct).

    None unless every prefix is 1 to 18 ASCII digits (what a parsed deck holds); then
    equal keys mean equal prefixes, and hashing integers is far cheaper than strings.
    """
    try:
        arr = pa.array(values, type=pa.string())
    except (pa.ArrowException, TypeError, ValueError):
        return None
    if arr.null_count or not pc.all(pc.match_substring_regex(arr, r"^[0-9]{1,18}$")).as_py():
        return None
    return pc.binary_join_element_wise("1", arr, "").cast(pa.int64()).to_numpy()


def _prefix_codes(history: np.ndarray, incoming: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Dense integer codes (equal iff the prefixes are equal) of two prefix arrays."""
    if (
        len(history) == len(incoming) > 1
        and bool((incoming[1:] > incoming[:-1]).all())
        and bool((history == incoming).all())
    ):
        # The weekly re-import: the same distinct codes, in the same (sorted) order.
        same = np.arange(len(incoming), dtype=np.int64)
        return same, same, len(incoming)
    both = np.concatenate([history.astype(object), incoming.astype(object)])
    keys = _digit_keys(both) if len(both) else None
    codes, uniques = pd.factorize(both if keys is None else keys)
    codes = codes.astype(np.int64)
    return codes[: len(history)], codes[len(history) :], len(uniques)


def _previous_at(
    previous: pd.DataFrame,
    prefixes: np.ndarray,
    times: np.ndarray,
    *,
    inclusive_until: bool,
    codes: tuple[np.ndarray, np.ndarray, int] | None = None,
) -> np.ndarray:
    """The previous rate in force for each (prefix, time), or -1 where there was none.

    An as-of join without a Python loop: codes and times become one sorted integer key
    (code rank, then start; a higher ``version`` wins a tie), searched with numpy.
    ``codes`` are :func:`_prefix_codes` of the history's and the queries' prefixes,
    when the caller already has them.
    """
    n = len(prefixes)
    out = np.full(n, -1, dtype=np.int64)
    if previous.empty or n == 0:
        return out
    h_from = previous["effective_from"].to_numpy(dtype=np.int64)
    h_until = previous["effective_until"].to_numpy(dtype=np.int64)
    h_rate = previous["rate"].to_numpy(dtype=np.int64)
    h_version = (
        previous["version"].to_numpy(dtype=np.int64)
        if "version" in previous.columns
        else np.zeros(len(previous), dtype=np.int64)
    )
    if codes is None:
        codes = _prefix_codes(previous["prefix"].to_numpy(dtype=object), prefixes)
    h_code, q_code, n_codes = codes
    order = np.lexsort((h_version, h_from, h_code))
    h_code, h_from, h_until, h_rate = h_code[order], h_from[order], h_until[order], h_rate[order]
    low = min(int(h_from.min()), int(times.min()))
    span = max(int(h_from.max()), int(times.max())) - low + 1
    if (n_codes + 1) * span >= 2**62:  # pragma: no cover - beyond any calendar
        raise ValueError("effective dates span too wide to compare")
    h_key = h_code * span + (h_from - low)
    q_key = q_code.astype(np.int64) * span + (times.astype(np.int64) - low)
    idx = np.searchsorted(h_key, q_key, side="right") - 1
    at = np.where(idx >= 0, idx, 0)
    found = (idx >= 0) & (h_code[at] == q_code)
    live = (h_until[at] >= times) if inclusive_until else (h_until[at] > times)
    ok = found & live
    out[ok] = h_rate[at][ok]
    return out


def _order(prefixes: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Row order by prefix, then time; the identity when rows already are in that order."""
    n = len(prefixes)
    if n < 2:
        return np.arange(n, dtype=np.int64)
    after, before = prefixes[1:], prefixes[:-1]
    later = after > before
    if later.all() or (later | ((after == before) & (times[1:] >= times[:-1]))).all():
        return np.arange(n, dtype=np.int64)
    return np.lexsort((times, prefixes.astype(str)))


def _distinct(sorted_codes: np.ndarray) -> list[str]:
    """The distinct codes of a sorted array, in order."""
    if len(sorted_codes) == 0:
        return []
    keep = np.ones(len(sorted_codes), dtype=bool)
    keep[1:] = sorted_codes[1:] != sorted_codes[:-1]
    return sorted_codes[keep].tolist()


def diff_rates(
    previous: pd.DataFrame,
    incoming: pd.DataFrame,
    *,
    mode: str,
    deck_from: int,
    now: int,
    notice_days: int = DEFAULT_NOTICE_DAYS,
    inclusive_until: bool = False,
) -> tuple[DeckDiff, np.ndarray]:
    """Compare ``incoming`` deck rows with the account's ``previous`` rate rows.

    ``previous`` has ``prefix, rate, effective_from, effective_until`` (scaled money, UTC
    epoch seconds, :data:`tandem.store.OPEN_END` when open); ``incoming`` has ``prefix,
    rate, effective_from`` and optionally ``closed``. Each incoming row is compared with
    the rate in force at its ``effective_from`` (or, when nothing was in force then and
    the deck gives one code several dated rows, with the preceding row). In ``full``
    mode, codes in force at ``deck_from`` that the deck does not list are closed. Returns
    the diff and, aligned with ``incoming``, each row's change word
    (``New``, ``Increase``, ``Decrease``, ``Unchanged``, ``Closed``).
    """
    n = len(incoming)
    diff = DeckDiff(notice_days=notice_days)
    changes = np.empty(n, dtype=object)
    prefixes = incoming["prefix"].to_numpy(dtype=object)
    times = incoming["effective_from"].to_numpy(dtype=np.int64)
    rates = incoming["rate"].to_numpy(dtype=np.int64)
    closed = (
        incoming["closed"].to_numpy(dtype=bool)
        if "closed" in incoming.columns
        else np.zeros(n, dtype=bool)
    )
    order = _order(prefixes, times)
    sp = prefixes[order]
    same_as_before = np.zeros(n, dtype=bool)
    if n > 1:
        same_as_before[1:] = sp[1:] == sp[:-1]
    codes = (
        _prefix_codes(previous["prefix"].to_numpy(dtype=object), prefixes)
        if not previous.empty and n
        else None
    )
    prev = _previous_at(previous, prefixes, times, inclusive_until=inclusive_until, codes=codes)
    chained = np.flatnonzero(same_as_before)
    if len(chained):
        rows, before = order[chained], order[chained - 1]
        unknown = prev[rows] < 0
        prev[rows[unknown]] = np.where(closed[before[unknown]], -1, rates[before[unknown]])
    has_prev = prev >= 0
    changes[:] = NEW
    changes[has_prev & (rates > prev)] = INCREASE
    changes[has_prev & (rates < prev)] = DECREASE
    changes[has_prev & (rates == prev)] = UNCHANGED
    changes[closed] = CLOSED
    words = changes[order]
    not_closed = ~closed[order]
    for name, word in (
        ("new", NEW),
        ("increased", INCREASE),
        ("decreased", DECREASE),
        ("unchanged", UNCHANGED),
    ):
        getattr(diff, name).extend(_distinct(sp[(words == word) & not_closed]))
    diff.closed.extend(_distinct(sp[(closed & has_prev)[order]]))
    if mode == "full" and not previous.empty:
        h_from = previous["effective_from"].to_numpy(dtype=np.int64)
        h_until = previous["effective_until"].to_numpy(dtype=np.int64)
        live = (h_from <= deck_from) & (
            (h_until >= deck_from) if inclusive_until else (h_until > deck_from)
        )
        h_prefix = previous["prefix"].to_numpy(dtype=object)
        if codes is None:
            unlisted = set(h_prefix[live].tolist()) - set(prefixes.tolist())
        else:
            h_code, q_code, n_codes = codes
            listed = np.zeros(n_codes, dtype=bool)
            listed[q_code] = True
            unlisted = set(h_prefix[live & ~listed[h_code]].tolist())
        diff.closed = sorted(set(diff.closed) | unlisted)
    limit = now + notice_days * 86400
    short = np.flatnonzero((changes == INCREASE) & (times < limit))
    for i in short.tolist():
        diff.short_notice.append(
            NoticeFlag(
                prefix=str(prefixes[i]),
                old_rate=int(prev[i]),
                new_rate=int(rates[i]),
                effective_from=int(times[i]),
                notice_seconds=int(times[i]) - now,
            )
        )
    diff.short_notice.sort(key=lambda f: (f.prefix, f.effective_from))
    return diff, changes
