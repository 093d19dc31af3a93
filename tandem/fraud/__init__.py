"""Fraud rules evaluated before routes are offered, and the same rules replayed over CDRs.

* :class:`FraudConfig` (``data/fraud.toml``: :func:`load_fraud_config`) — the rules and
  their thresholds, with per-customer overrides;
* :class:`FraudEngine` — every rule on a call attempt (:meth:`FraudEngine.check`, one
  counters batch), at its end (:meth:`FraudEngine.ended`) and while it runs
  (:meth:`FraudEngine.running`), over shared counters (:mod:`tandem.state`);
* :func:`scan` — the same rules over a batch of CDRs, vectorised, merged into
  :class:`Episode` s; :func:`backtest` scores them against labelled CDRs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tandem.fraud.config import (
    RULES,
    ConcurrentRule,
    CpsRule,
    CustomerOverride,
    FirstCallRule,
    FraudConfig,
    HighRiskRule,
    LongCallRule,
    RuleSet,
    SequentialRule,
    SpendRule,
    VelocityRule,
    WangiriRule,
    fraud_config_from_mapping,
    load_fraud_config,
)
from tandem.fraud.facts import CallFacts, FraudResult, Verdict
from tandem.fraud.highrisk import HighRiskMatcher, read_prefix_file
from tandem.fraud.thresholds import ACTIONS, Action, Thresholds
from tandem.lazy import lazy_exports

# The scan and backtest load numpy and pyarrow: on first use only, so that a proxy
# embedding the live engine does not import them; the live engine loads the counters
# (tandem.state, redis-py): on first use only, so that a scan does not (PEP 562).
_LAZY = {
    "FraudEngine": "tandem.fraud.engine",
    "LOCAL_NOTE": "tandem.fraud.engine",
    "UNREACHABLE_NOTE": "tandem.fraud.engine",
    "Episode": "tandem.fraud.scanner",
    "RuleHits": "tandem.fraud.scanner",
    "ScanResult": "tandem.fraud.scanner",
    "scan": "tandem.fraud.scanner",
    "PATTERN_RULES": "tandem.fraud.backtesting",
    "RuleScore": "tandem.fraud.backtesting",
    "backtest": "tandem.fraud.backtesting",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from tandem.fraud.backtesting import PATTERN_RULES, RuleScore, backtest
    from tandem.fraud.engine import LOCAL_NOTE, UNREACHABLE_NOTE, FraudEngine
    from tandem.fraud.scanner import Episode, RuleHits, ScanResult, scan


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


__all__ = [
    "ACTIONS",
    "LOCAL_NOTE",
    "PATTERN_RULES",
    "RULES",
    "UNREACHABLE_NOTE",
    "Action",
    "CallFacts",
    "ConcurrentRule",
    "CpsRule",
    "CustomerOverride",
    "Episode",
    "FirstCallRule",
    "FraudConfig",
    "FraudEngine",
    "FraudResult",
    "HighRiskMatcher",
    "HighRiskRule",
    "LongCallRule",
    "RuleHits",
    "RuleScore",
    "RuleSet",
    "ScanResult",
    "SequentialRule",
    "SpendRule",
    "Thresholds",
    "Verdict",
    "VelocityRule",
    "WangiriRule",
    "backtest",
    "fraud_config_from_mapping",
    "load_fraud_config",
    "read_prefix_file",
    "scan",
]
