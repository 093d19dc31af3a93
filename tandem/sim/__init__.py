"""Simulation: generated and replayed call traffic, what-if between tables.

Generated traffic (:mod:`tandem.sim.generate`): seeded, realistic CDR streams with planted
fraud patterns and quality collapses, labelled, for tests, benchmarks and simulation.

Traffic replay (``tandem simulate``): :func:`simulate` routes every call of a CDR history
at its instant with batch routing (:mod:`tandem.sim.replay`), works it through its routes
(:mod:`tandem.sim.attempts`: failover codes, capacity over simulated time) under a
:class:`Scenario` of scripted events (:mod:`tandem.sim.scenario`), prices the carried
calls with the rating module, and sums it up (:mod:`tandem.sim.summary`); the rates and
tables in force come from a :class:`World` (:mod:`tandem.sim.world`); a what-if replays
the same traffic under a candidate (:mod:`tandem.sim.whatif`); :func:`write_report` writes
the tables and the HTML page (:mod:`tandem.sim.report`).
"""

from tandem.sim.generate import DEFAULT_START, TRAFFIC_SCHEMA, generate_traffic, write_traffic
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
from tandem.sim.replay import Replay, replay
from tandem.sim.report import write_report
from tandem.sim.run import SimulationResult, read_cdrs, simulate
from tandem.sim.scenario import DeckChange, Outage, QualityDrop, Scenario, load_scenario
from tandem.sim.summary import Summary, summarize
from tandem.sim.universe import DESTINATIONS, EXPENSIVE, Destination
from tandem.sim.whatif import WhatIf, compare
from tandem.sim.world import World

__all__ = [
    "DEFAULT_START",
    "TRAFFIC_SCHEMA",
    "generate_traffic",
    "write_traffic",
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
    "simulate",
    "SimulationResult",
    "read_cdrs",
    "replay",
    "Replay",
    "Scenario",
    "Outage",
    "QualityDrop",
    "DeckChange",
    "load_scenario",
    "Summary",
    "summarize",
    "WhatIf",
    "compare",
    "World",
    "write_report",
]
