"""Backtest scores: how well per-call alerts of each rule match the planted labels.

:func:`label_metrics` takes, for every rule, which calls it alerted on (one bool per
call) and the ``label`` column of the same calls (:func:`tandem.sim.generate_traffic`
writes one; any labelled CDR file has one), and counts per rule:

* ``planted``: calls whose label is one the rule should catch (``expected``: by default
  the label named like the rule; the ``high_risk`` rule also catches ``long_call``
  calls, which go to high-risk ranges by definition);
* ``true_positive``: alerted calls among those;
* ``false_positive``: alerted calls of normal traffic (label ``""``, or
  ``quality_collapse``, which is no fraud);
* ``other``: alerted calls planted for another pattern (fraud, but not this rule's);

and ``precision = true_positive / (true_positive + false_positive)`` (alerts on another
pattern's calls count neither way), ``recall = true_positive / planted``, each a Decimal
rounded half-even to 4 places, or None when its denominator is 0.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tandem.errors import ConfigError

__all__ = ["RuleScore", "label_metrics", "DEFAULT_EXPECTED", "NOT_FRAUD"]

#: Labels each rule should catch, where more than its own name.
DEFAULT_EXPECTED: dict[str, tuple[str, ...]] = {"high_risk": ("high_risk", "long_call")}

#: Labels of calls that are no fraud: an alert on one is a false positive.
NOT_FRAUD: tuple[str, ...] = ("", "quality_collapse")

_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class RuleScore:
    """One rule's backtest figures (see the module docstring)."""

    rule: str
    expected: tuple[str, ...]
    alerted: int
    planted: int
    true_positive: int
    false_positive: int
    other: int
    precision: Decimal | None
    recall: Decimal | None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: counts as numbers, ratios as decimal strings (or null)."""
        return {
            "rule": self.rule,
            "expected": list(self.expected),
            "alerted": self.alerted,
            "planted": self.planted,
            "true_positive": self.true_positive,
            "false_positive": self.false_positive,
            "other": self.other,
            "precision": None if self.precision is None else str(self.precision),
            "recall": None if self.recall is None else str(self.recall),
        }


def _ratio(num: int, den: int) -> Decimal | None:
    if den == 0:
        return None
    return (Decimal(num) / Decimal(den)).quantize(_PLACES, rounding=ROUND_HALF_EVEN)


def _codes(
    labels: pa.Array | pa.ChunkedArray | Sequence[str] | np.ndarray,
) -> tuple[np.ndarray, list[str]]:
    """Labels as integer codes into a list of distinct labels (nulls read as "")."""
    if isinstance(labels, pa.ChunkedArray):
        labels = labels.combine_chunks()
    if not isinstance(labels, pa.Array):
        labels = pa.array(np.asarray(labels, dtype=object), pa.string())
    if not pa.types.is_dictionary(labels.type):
        if not (pa.types.is_string(labels.type) or pa.types.is_large_string(labels.type)):
            raise ConfigError(f"labels must be text, not {labels.type}")
        labels = pc.dictionary_encode(pc.fill_null(labels, ""))
    values = [v if v is not None else "" for v in labels.dictionary.to_pylist()]
    idx = labels.indices
    none = len(values)
    codes = pc.fill_null(idx, none).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, [*values, ""]


def label_metrics(
    alerted: Mapping[str, Sequence[bool] | np.ndarray | pa.Array],
    labels: pa.Array | pa.ChunkedArray | Sequence[str] | np.ndarray,
    *,
    expected: Mapping[str, Collection[str]] | None = None,
    not_fraud: Collection[str] = NOT_FRAUD,
) -> dict[str, RuleScore]:
    """Precision and recall of each rule's per-call alerts against the calls' labels."""
    codes, values = _codes(labels)
    n = len(codes)
    expect = {**DEFAULT_EXPECTED, **(dict(expected) if expected else {})}
    normal = np.isin(codes, [i for i, v in enumerate(values) if v in set(not_fraud)])
    out: dict[str, RuleScore] = {}
    for rule, flags in alerted.items():
        if isinstance(flags, pa.ChunkedArray | pa.Array):
            hit = np.asarray(pc.fill_null(flags, False).to_numpy(zero_copy_only=False), bool)
        else:
            hit = np.asarray(flags, dtype=bool)
        if hit.shape != (n,):
            raise ConfigError(f"rule {rule}: {hit.shape[0] if hit.ndim else 0} alert flags "
                              f"for {n} labelled calls")  # fmt: skip
        wanted = tuple(sorted(expect.get(rule, (rule,))))
        mine = np.isin(codes, [i for i, v in enumerate(values) if v in wanted])
        tp = int(np.count_nonzero(hit & mine))
        fp = int(np.count_nonzero(hit & normal))
        alerts = int(np.count_nonzero(hit))
        planted = int(np.count_nonzero(mine))
        out[rule] = RuleScore(
            rule=rule,
            expected=wanted,
            alerted=alerts,
            planted=planted,
            true_positive=tp,
            false_positive=fp,
            other=alerts - tp - fp,
            precision=_ratio(tp, tp + fp),
            recall=_ratio(tp, planted),
        )
    return out
