"""Least-cost routing: compiled prefix tables, routing plans (versioned in the store) and
decisions."""

from tandem.lcr.batch import REASON_KINDS, BatchDecisions, route_batch
from tandem.lcr.plans import (
    PlanDiff,
    PlanImport,
    import_plan,
    routing_config_at,
    table_routing_config,
    tariff_plan_at,
)
from tandem.lcr.policy import (
    CarrierPolicy,
    ForcedRoute,
    Plan,
    QualityFloor,
    RoutingConfig,
    config_from_mapping,
    load_config,
)
from tandem.lcr.router import ON_NET, Decision, Dropped, Route, Router
from tandem.lcr.scores import CarrierLook, QualityConfig, Score, ScoreSource
from tandem.lcr.snapshot import load_key
from tandem.lcr.table import OPEN_END, RoutingTable, compile_rates, compile_table
from tandem.lcr.translate import Translation, TranslationRules, normalize, translate
from tandem.lcr.trunks import Trunk, TrunkTable
from tandem.state import Counters, MemoryCounters, carrier_calls_key

__all__ = [
    "BatchDecisions",
    "CarrierLook",
    "CarrierPolicy",
    "Counters",
    "Decision",
    "Dropped",
    "ForcedRoute",
    "MemoryCounters",
    "ON_NET",
    "OPEN_END",
    "Plan",
    "PlanDiff",
    "PlanImport",
    "REASON_KINDS",
    "QualityConfig",
    "QualityFloor",
    "Route",
    "Router",
    "RoutingConfig",
    "RoutingTable",
    "Score",
    "ScoreSource",
    "Translation",
    "TranslationRules",
    "Trunk",
    "TrunkTable",
    "carrier_calls_key",
    "compile_rates",
    "compile_table",
    "config_from_mapping",
    "import_plan",
    "load_config",
    "load_key",
    "normalize",
    "route_batch",
    "routing_config_at",
    "table_routing_config",
    "tariff_plan_at",
    "translate",
]
