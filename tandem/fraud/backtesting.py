"""Backtest: how well the rules find the fraud planted (or found) in labelled CDRs.

Each CDR of a labelled file carries the name of the pattern it belongs to ('' or null
for normal traffic). :data:`PATTERN_RULES` says which rule each pattern is meant to
trigger: the patterns of :mod:`tandem.sim.generate` are named after the rules
(``high_risk``, ``concurrent``, ``cps``, ``spend``, ``velocity``, ``sequential``,
``wangiri``, ``first_call``, ``long_call``); other labels (``quality_collapse``...) are
normal traffic for every rule.

Per rule R, per call: a call is *alerted by R* when R alerted on it (flag or block: it lies
in one of R's episodes); it is *labelled R* when its pattern maps to R. Precision is
alerted-and-labelled over alerted, recall alerted-and-labelled over labelled (unreadable
CDRs count as labelled but never alerted). A ratio without calls to count is null.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np

from tandem.fraud.config import RULES
from tandem.fraud.scanner import ScanResult

__all__ = ["PATTERN_RULES", "RuleScore", "backtest"]

#: Planted pattern (label value) -> the rule meant to find it.
PATTERN_RULES: dict[str, str] = {rule: rule for rule in RULES}


@dataclass(frozen=True)
class RuleScore:
    """One rule's backtest: calls alerted, labelled, both; precision and recall."""

    rule: str
    alerted: int
    labelled: int
    true_positives: int

    @property
    def precision(self) -> Decimal | None:
        """True positives over alerted calls (None without alerts)."""
        return _ratio(self.true_positives, self.alerted)

    @property
    def recall(self) -> Decimal | None:
        """True positives over labelled calls (None without labelled calls)."""
        return _ratio(self.true_positives, self.labelled)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: ratios as decimal strings (4 places) or null."""
        return {
            "alerted": self.alerted,
            "labelled": self.labelled,
            "true_positives": self.true_positives,
            "precision": _text(self.precision),
            "recall": _text(self.recall),
        }


def _ratio(a: int, b: int) -> Decimal | None:
    if b == 0:
        return None
    return (Decimal(a) / Decimal(b)).quantize(Decimal("0.0001"), ROUND_HALF_EVEN)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def backtest(
    result: ScanResult,
    records: Sequence[int] | np.ndarray,
    labels: Sequence[str | None],
    *,
    patterns: Mapping[str, str] = PATTERN_RULES,
) -> dict[str, RuleScore]:
    """Precision and recall per rule: ``labels[k]`` is the pattern of the CDR numbered
    ``records[k]`` (the canonical ``record`` column); every CDR of the file, readable or
    not, should be listed."""
    records = np.asarray(records, dtype=np.int64)
    label_arr = np.asarray(["" if v is None else str(v) for v in labels], dtype=object)
    if len(label_arr) != len(records):
        raise ValueError("backtest needs one label per record")
    scores: dict[str, RuleScore] = {}
    for rule in RULES:
        wanted = [p for p, r in patterns.items() if r == rule]
        truth = records[np.isin(label_arr, wanted)] if wanted else records[:0]
        alerted = np.unique(result.alerted_records(rule))
        tp = int(np.isin(alerted, truth).sum())
        scores[rule] = RuleScore(rule, len(alerted), len(np.unique(truth)), tp)
    return scores
