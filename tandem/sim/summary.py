"""What a replay comes to: per carrier, per destination and over time, money exact.

:func:`summarize` turns a :class:`~tandem.sim.replay.Replay` into a :class:`Summary`:
pandas frames whose money columns hold exact scaled integers (Python ``int``; summed with
:mod:`tandem.rating.amounts`, never floats), and :meth:`Summary.as_json` the ``--json``
object, money as exact decimal strings (:func:`tandem.money.format_money`).

Counts: ``offered`` is attempts on a carrier (a call that fails over is offered to each
carrier it tries), ``failovers`` the attempts that failed with a failover code,
``carried`` answered calls, ``minutes`` their seconds / 60 (two places, half-even),
``cost`` / ``revenue`` / ``margin`` the rating module's buy amount, sell amount and
margin of the carried calls. Per destination (the customer's sell prefix): ``offered`` is
calls. ``blocked`` counts calls by why they were not carried or answered: the router's
reason, ``failed`` (an attempt's code was not a failover code), ``routes_exhausted``,
``capacity``, ``bad_time``, ``bad_duration``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tandem.instant import format_instant
from tandem.money import format_money
from tandem.rating.amounts import carry_limbs, join_limbs, money_limbs
from tandem.sim.attempts import BLOCKED, CARRIED, END_NAMES, UNANSWERED
from tandem.sim.replay import Replay

__all__ = ["MONEY", "Summary", "summarize", "minutes_text", "money_sums", "int_sums"]

#: The money columns of every frame of a :class:`Summary`.
MONEY = ("cost", "revenue", "margin")
_AMOUNTS = {"cost": "buy_amount", "revenue": "sell_amount", "margin": "margin"}


def minutes_text(seconds: int) -> str:
    """Seconds as minutes with two places (half-even), e.g. ``"12.50"``."""
    m = (Decimal(int(seconds)) / 60).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
    return f"{m:.2f}"


_CHUNK = 1 << 20  # rows per float64 bincount: 2**20 values below 2**32 sum exactly


def int_sums(codes: np.ndarray, groups: int, values: np.ndarray) -> np.ndarray:
    """Exact int64 sums of ``values`` (each ``0 <= v < 2**32``) per group code: float64
    ``bincount`` over chunks of at most 2**20 rows, whose sums stay below 2**52 (exact),
    added up as int64."""
    acc = np.zeros(groups, dtype=np.int64)
    for lo in range(0, len(codes), _CHUNK):
        part = np.bincount(
            codes[lo : lo + _CHUNK], weights=values[lo : lo + _CHUNK], minlength=groups
        )
        acc += part.astype(np.int64)
    return acc


def money_sums(codes: np.ndarray, groups: int, column: pa.Array | pa.ChunkedArray) -> list[int]:
    """Exact scaled sums of a money column per group code (nulls count 0): its limbs
    (:func:`tandem.rating.amounts.money_limbs`) summed per group, carried and joined."""
    l0, l1, l2 = money_limbs(column)
    sums = [int_sums(codes, groups, l0), int_sums(codes, groups, l1)]
    acc = np.zeros(groups, dtype=np.int64)  # the high word: signed, small
    np.add.at(acc, codes[l2 != 0], l2[l2 != 0])
    return join_limbs(*carry_limbs(sums[0], sums[1], acc))


@dataclass
class Summary:
    """Frames of a replay (money as exact scaled ints) and its call counts."""

    calls: int
    carried: int
    unanswered: int
    blocked: dict[str, int]
    unrated: dict[str, int]
    skipped_capacity: dict[str, int]
    currency: list[str]
    by_carrier: pd.DataFrame
    by_destination: pd.DataFrame
    over_time: pd.DataFrame
    totals: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` object (money and minutes as exact strings)."""
        return {
            "calls": self.calls,
            "carried": self.carried,
            "unanswered": self.unanswered,
            "by_carrier": _records(self.by_carrier),
            "blocked": dict(self.blocked),
            "unrated": dict(self.unrated),
            "skipped_capacity": dict(self.skipped_capacity),
            "currency": self.currency,
            "totals": {
                "minutes": minutes_text(self.totals["seconds"]),
                **{k: format_money(self.totals[k]) for k in MONEY},
            },
            "by_destination": _records(self.by_destination),
            "over_time": _records(self.over_time),
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON records: money formatted, seconds as minutes, numpy ints as ints."""
    out = []
    for row in frame.to_dict("records"):
        rec: dict[str, Any] = {}
        for k, v in row.items():
            if k in MONEY or k.endswith(("_cost", "_margin", "_revenue")) or k == "cost_delta":
                rec[k] = format_money(int(v))
            elif k == "seconds":
                rec["minutes"] = minutes_text(int(v))
            elif isinstance(v, np.integer):
                rec[k] = int(v)
            else:
                rec[k] = v
        out.append(rec)
    return out


def summarize(result: Replay, interval: int = 3600) -> Summary:
    """Counts and exact money per carrier, per destination and per ``interval`` seconds."""
    att = result.attempts
    g = len(result.carriers)
    routes = result.routes
    offered = np.bincount(routes[att.attempted], minlength=g)
    failovers = np.bincount(routes[att.failed_over], minlength=g)
    skipped = np.bincount(routes[att.skipped], minlength=g)
    carried_mask = att.end == CARRIED
    carried_by = np.bincount(att.carrier[carried_mask], minlength=g)
    seconds_by = _int_bincount(att.carrier[carried_mask], result.duration[carried_mask], g)
    priced = result.priced
    prow = priced.column("row").to_numpy()
    pcar = att.carrier[prow].astype(np.int64)
    money = {k: money_sums(pcar, g, priced.column(c)) for k, c in _AMOUNTS.items()}
    by_carrier = pd.DataFrame(
        {
            "carrier": list(result.carriers),
            "offered": offered.astype(np.int64),
            "carried": carried_by.astype(np.int64),
            "failovers": failovers.astype(np.int64),
            "seconds": seconds_by,
            **{k: pd.Series(v, dtype=object) for k, v in money.items()},
        }
    )
    by_carrier = by_carrier[["carrier", "offered", "carried", "failovers", "seconds", *MONEY]]
    by_carrier = by_carrier.sort_values("carrier", kind="stable").reset_index(drop=True)

    blocked: dict[str, int] = {}
    reasons = result.reason[att.end == BLOCKED]
    for r, c in zip(*np.unique(reasons.astype(str), return_counts=True), strict=True):
        blocked[str(r) or "blocked"] = int(c)
    for end in range(len(END_NAMES)):
        if end in (CARRIED, UNANSWERED, BLOCKED):
            continue
        count = int((att.end == end).sum())
        if count:
            blocked[END_NAMES[end]] = count
    unrated: dict[str, int] = {}
    if priced.num_rows:
        reason = priced.column("sell_reason").cast(pa.string())
        buy_reason = priced.column("buy_reason").cast(pa.string())
        either = pc.coalesce(reason, buy_reason)
        for item in pc.value_counts(either.drop_null()).to_pylist():
            unrated[item["values"]] = int(item["counts"])
    currencies = sorted(
        set(priced.column("sell_currency").cast(pa.string()).drop_null().unique().to_pylist())
        if priced.num_rows
        else set()
    )
    totals = {"seconds": int(result.duration[carried_mask].sum())}
    for k in MONEY:
        totals[k] = int(sum(money[k]))
    return Summary(
        calls=result.count,
        carried=int(carried_mask.sum()),
        unanswered=int((att.end == UNANSWERED).sum()),
        blocked=dict(sorted(blocked.items())),
        unrated=dict(sorted(unrated.items())),
        skipped_capacity={result.carriers[i]: int(c) for i, c in enumerate(skipped.tolist()) if c},
        currency=currencies,
        by_carrier=by_carrier,
        by_destination=_by_destination(result, prow),
        over_time=_over_time(result, interval, prow),
        totals=totals,
    )


def _int_bincount(codes: np.ndarray, values: np.ndarray, groups: int) -> np.ndarray:
    """Exact sums of small non-negative integers (seconds, counts) per group."""
    return int_sums(codes, groups, values)


def _by_destination(result: Replay, prow: np.ndarray) -> pd.DataFrame:
    """Per sell prefix: calls, carried, failovers, blocked, minutes, money, the carrier that
    carried most of them and the destination's name (from the customer's deck)."""
    att = result.attempts
    key = result.dest_key * 16 + result.dest_len
    uniq, code = np.unique(key, return_inverse=True)
    groups = len(uniq)
    carried = att.end == CARRIED
    not_carried = (att.end != CARRIED) & (att.end != UNANSWERED)
    per_call_fo = att.failed_over.sum(axis=1)
    priced = result.priced
    pcode = code[prow]
    money = {k: money_sums(pcode, groups, priced.column(c)) for k, c in _AMOUNTS.items()}
    names = [""] * groups
    if priced.num_rows:  # the name of the first priced call of each destination
        dest = priced.column("sell_destination").cast(pa.string())
        found, first = np.unique(pcode, return_index=True)
        for c, name in zip(found.tolist(), dest.take(pa.array(first)).to_pylist(), strict=True):
            names[c] = name or ""
    top = [""] * groups
    if carried.any():
        pair = pd.DataFrame({"d": code[carried], "c": att.carrier[carried]})
        counts = pair.groupby(["d", "c"]).size().reset_index(name="n")
        counts = counts.sort_values(["d", "n", "c"], ascending=[True, False, True])
        for d, c in counts.drop_duplicates("d")[["d", "c"]].itertuples(index=False):
            top[int(d)] = result.carriers[int(c)]
    lengths = uniq % 16
    digits = uniq // 16
    prefix = [str(d).zfill(int(n)) if n else "" for d, n in zip(digits, lengths, strict=True)]
    frame = pd.DataFrame(
        {
            "destination": prefix,
            "name": names,
            "offered": np.bincount(code, minlength=groups).astype(np.int64),
            "carried": np.bincount(code[carried], minlength=groups).astype(np.int64),
            "failovers": _int_bincount(code, per_call_fo, groups),
            "blocked": np.bincount(code[not_carried], minlength=groups).astype(np.int64),
            "carrier": top,
            "seconds": _int_bincount(code[carried], result.duration[carried], groups),
            **{k: pd.Series(v, dtype=object) for k, v in money.items()},
        }
    )
    return frame.sort_values("destination", kind="stable").reset_index(drop=True)


def _over_time(result: Replay, interval: int, prow: np.ndarray) -> pd.DataFrame:
    """Per time bucket and carrier: offered, carried, share of the bucket's carried calls
    (4 places, half-even), minutes and money."""
    att = result.attempts
    n = len(result.start)
    bucket = result.start // interval * interval
    g = max(len(result.carriers), 1)
    b_uniq, b_code = np.unique(bucket[att.end != BLOCKED] if n else bucket, return_inverse=True)
    if len(b_uniq) == 0:
        return pd.DataFrame(
            columns=["time", "carrier", "offered", "carried", "share", "seconds", *MONEY]
        )
    call_bucket = np.searchsorted(b_uniq, bucket)
    call_bucket = np.minimum(call_bucket, len(b_uniq) - 1)
    groups = len(b_uniq) * g
    rows_att, cols_att = np.nonzero(att.attempted)
    offered = np.bincount(
        call_bucket[rows_att] * g + result.routes[rows_att, cols_att], minlength=groups
    )
    carried = att.end == CARRIED
    cc = call_bucket[carried] * g + att.carrier[carried]
    carried_n = np.bincount(cc, minlength=groups)
    seconds = _int_bincount(cc, result.duration[carried], groups)
    pc_code = call_bucket[prow] * g + att.carrier[prow]
    priced = result.priced
    money = {k: money_sums(pc_code, groups, priced.column(c)) for k, c in _AMOUNTS.items()}
    per_bucket = carried_n.reshape(len(b_uniq), g).sum(axis=1)
    keep = np.flatnonzero(offered > 0)
    shares = []
    for idx in keep.tolist():
        total = int(per_bucket[idx // g])
        share = Decimal(int(carried_n[idx])) / total if total else Decimal(0)
        shares.append(f"{share.quantize(Decimal('0.0001'), ROUND_HALF_EVEN):.4f}")
    frame = pd.DataFrame(
        {
            "time": [format_instant(int(b_uniq[i // g])) for i in keep.tolist()],
            "carrier": [result.carriers[i % g] for i in keep.tolist()],
            "offered": offered[keep].astype(np.int64),
            "carried": carried_n[keep].astype(np.int64),
            "share": shares,
            "seconds": seconds[keep],
            **{k: pd.Series([money[k][i] for i in keep.tolist()], dtype=object) for k in MONEY},
        }
    )
    return frame.reset_index(drop=True)
