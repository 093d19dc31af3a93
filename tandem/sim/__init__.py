"""Simulation: generated and replayed call traffic, what-if between tables.

Generated traffic (:mod:`tandem.sim.generate`): seeded, realistic CDR streams with planted
fraud patterns and quality collapses, labelled, for tests, benchmarks and simulation.
"""

from tandem.sim.generate import DEFAULT_START, TRAFFIC_SCHEMA, generate_traffic, write_traffic
from tandem.sim.labels import RuleScore, label_metrics
from tandem.sim.patterns import (
    LABELS,
    PATTERNS,
    Concurrent,
    Cps,
    FirstCall,
    HighRisk,
    LongCall,
    Pattern,
    QualityCollapse,
    Sequential,
    Spend,
    Velocity,
    Wangiri,
)
from tandem.sim.profile import Customer, TrafficProfile, traffic_profile
from tandem.sim.universe import DESTINATIONS, EXPENSIVE, Destination

__all__ = [
    "DEFAULT_START",
    "TRAFFIC_SCHEMA",
    "generate_traffic",
    "write_traffic",
    "label_metrics",
    "RuleScore",
    "LABELS",
    "PATTERNS",
    "Pattern",
    "HighRisk",
    "LongCall",
    "Concurrent",
    "Cps",
    "Spend",
    "Velocity",
    "Sequential",
    "Wangiri",
    "FirstCall",
    "QualityCollapse",
    "TrafficProfile",
    "Customer",
    "traffic_profile",
    "Destination",
    "DESTINATIONS",
    "EXPENSIVE",
]
