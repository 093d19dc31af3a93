"""The evidence the fraud rules attach to a verdict, and the shared high-risk prefixes:
what the live engine (:mod:`tandem.fraud.engine`) and the scan
(:mod:`tandem.fraud.scanner`) both write, in one place. Imports neither the counters nor
numpy, so the scan does not load the live engine's state backends."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tandem.fraud.config import FraudConfig
from tandem.fraud.highrisk import read_prefix_file
from tandem.money import format_money

__all__ = ["first_call_evidence", "shared_high_risk", "velocity_evidence", "wangiri_evidence"]


def shared_high_risk(config: FraudConfig, extra: Iterable[str] = ()) -> list[str]:
    """The shared high-risk prefixes: the config's ``prefixes``, its ``file``'s and
    ``extra``."""
    rule = config.rules.high_risk
    out = list(rule.prefixes) + list(extra)
    if rule.file is not None:
        out += read_prefix_file(rule.file)
    return out


def velocity_evidence(
    rule: Any, prefix: str, count: int, earlier_calls: int, factor: Any
) -> dict[str, str]:
    """The evidence of a velocity verdict."""
    return {
        "prefix": prefix,
        "window": str(rule.window),
        "count": str(count),
        "baseline": str(rule.baseline),
        "baseline_calls": str(earlier_calls),
        "factor": str(factor),
        "min_calls": str(rule.min_calls),
        "min_baseline": str(rule.min_baseline),
    }


def wangiri_evidence(rule: Any, prefix: str, count: int, threshold: Any) -> dict[str, str]:
    """The evidence of a Wangiri verdict."""
    return {
        "prefix": prefix,
        "window": str(rule.window),
        "short": str(rule.short),
        "count": str(count),
        "threshold": str(threshold),
    }


def first_call_evidence(rule: Any, prefix: str, sell_rate: int) -> dict[str, str]:
    """The evidence of a first-call verdict."""
    return {
        "prefix": prefix,
        "remember": str(rule.remember),
        "rate": format_money(sell_rate),
        "threshold": format_money(rule.rate or 0),
    }
