"""Fraud rules evaluated before routes are offered, and the same rules replayed over CDRs.

* :class:`FraudConfig` (``data/fraud.toml``: :func:`load_fraud_config`) — the rules and
  their thresholds, with per-customer overrides;
* :class:`FraudEngine` — every rule on a call attempt (:meth:`FraudEngine.check`, one
  counters batch), at its end (:meth:`FraudEngine.ended`) and while it runs
  (:meth:`FraudEngine.running`), over shared counters (:mod:`tandem.state`);
* :func:`scan` — the same rules over a batch of CDRs, vectorised, merged into
  :class:`Episode` s; :func:`backtest` scores them against labelled CDRs.
"""

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
from tandem.fraud.engine import LOCAL_NOTE, UNREACHABLE_NOTE, FraudEngine
from tandem.fraud.facts import CallFacts, FraudResult, Verdict
from tandem.fraud.highrisk import HighRiskMatcher, read_prefix_file
from tandem.fraud.scan import Episode, RuleHits, ScanResult, scan
from tandem.fraud.thresholds import ACTIONS, Action, Thresholds

__all__ = [
    "ACTIONS",
    "LOCAL_NOTE",
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
    "RuleSet",
    "ScanResult",
    "SequentialRule",
    "SpendRule",
    "Thresholds",
    "Verdict",
    "VelocityRule",
    "WangiriRule",
    "fraud_config_from_mapping",
    "load_fraud_config",
    "read_prefix_file",
    "scan",
]
