"""What-if: the same traffic under the current tables and under a candidate, compared.

:func:`compare` takes the two :class:`~tandem.sim.summary.Summary` objects of one traffic
replayed twice (same CDRs, scenario and seed; only the rates and tables differ) and lists,
per destination, the carrier that carried most of its calls, its cost and its margin under
both, and the differences. The destinations where anything changed come first, the largest
margin change (in absolute value) first, then the largest cost change; the totals say what
the candidate would have done to the whole traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from tandem.money import format_money
from tandem.sim.summary import MONEY, Summary, minutes_text

__all__ = ["WhatIf", "compare"]

_COLUMNS = [
    "destination", "name", "calls", "base_carrier", "candidate_carrier", "base_cost",
    "candidate_cost", "cost_delta", "base_margin", "candidate_margin", "margin_delta",
]  # fmt: skip


@dataclass
class WhatIf:
    """Per-destination comparison (``destinations``: every destination, changed ones
    first; money as exact scaled ints) and the totals under both."""

    destinations: pd.DataFrame
    base: dict[str, int]
    candidate: dict[str, int]

    @property
    def changed(self) -> pd.DataFrame:
        """The destinations whose carrier, cost or margin differ."""
        d = self.destinations
        mask = (
            (d["base_carrier"] != d["candidate_carrier"])
            | (d["cost_delta"] != 0)
            | (d["margin_delta"] != 0)
        )
        return d[mask].reset_index(drop=True)

    def as_json(self, top: int | None = None) -> dict[str, Any]:
        """The ``whatif`` object of ``--json``: totals under both and their difference,
        how many destinations changed, and the ``top`` changed ones (all when None)."""
        changed = self.changed
        shown = changed if top is None else changed.head(top)
        rows = []
        for rec in shown.to_dict("records"):
            rows.append(
                {
                    k: (format_money(int(v)) if k.endswith(("_cost", "_margin", "_delta")) else v)
                    for k, v in rec.items()
                }
            )
            rows[-1]["calls"] = int(rec["calls"])

        def totals(t: dict[str, int]) -> dict[str, str]:
            return {"minutes": minutes_text(t["seconds"]), **{k: format_money(t[k]) for k in MONEY}}

        return {
            "base": totals(self.base),
            "candidate": totals(self.candidate),
            "delta": {k: format_money(self.candidate[k] - self.base[k]) for k in MONEY},
            "changed_destinations": int(len(changed)),
            "destinations": rows,
        }


def compare(base: Summary, candidate: Summary) -> WhatIf:
    """Compare one traffic's replay under the current tables (``base``) and a candidate."""
    cols = ["destination", "name", "offered", "carrier", "cost", "margin"]
    a = base.by_destination[cols]
    b = candidate.by_destination[cols]
    m = a.merge(b, on="destination", how="outer", suffixes=("_a", "_b"))
    zero = pd.Series([0] * len(m), dtype=object)
    frame = pd.DataFrame(
        {
            "destination": m["destination"],
            "name": [
                x if isinstance(x, str) and x else (y if isinstance(y, str) else "")
                for x, y in zip(m["name_a"], m["name_b"], strict=True)
            ],
            "calls": m["offered_a"].fillna(m["offered_b"]).fillna(0).astype("int64"),
            "base_carrier": m["carrier_a"].fillna(""),
            "candidate_carrier": m["carrier_b"].fillna(""),
            "base_cost": m["cost_a"].where(m["cost_a"].notna(), zero).astype(object),
            "candidate_cost": m["cost_b"].where(m["cost_b"].notna(), zero).astype(object),
            "base_margin": m["margin_a"].where(m["margin_a"].notna(), zero).astype(object),
            "candidate_margin": m["margin_b"].where(m["margin_b"].notna(), zero).astype(object),
        }
    )
    frame["cost_delta"] = [
        int(c) - int(b_) for b_, c in zip(frame["base_cost"], frame["candidate_cost"], strict=True)
    ]
    frame["margin_delta"] = [
        int(c) - int(b_)
        for b_, c in zip(frame["base_margin"], frame["candidate_margin"], strict=True)
    ]
    changed = (
        (frame["base_carrier"] != frame["candidate_carrier"])
        | (frame["cost_delta"] != 0)
        | (frame["margin_delta"] != 0)
    )
    frame["_changed"] = ~changed
    frame["_m"] = [-abs(v) for v in frame["margin_delta"]]
    frame["_c"] = [-abs(v) for v in frame["cost_delta"]]
    frame = frame.sort_values(["_changed", "_m", "_c", "destination"], kind="stable")
    frame = frame[_COLUMNS].reset_index(drop=True)
    keys = ("seconds", *MONEY)
    return WhatIf(frame, {k: base.totals[k] for k in keys}, {k: candidate.totals[k] for k in keys})
