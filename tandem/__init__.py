"""Tandem: Class 4 wholesale voice routing and rating.

The public API is re-exported here, flat: ``from tandem import Store, Router, price_cdrs``.
Money, instants, E.164 numbers and errors load with the package; the store, deck, routing,
rating and ENUM names load on first use (PEP 562), so that embedding one part does not
import the others and ``tandem --help`` imports neither SQLAlchemy nor pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tandem.errors import (
    CdrError,
    ConcurrentWriteError,
    ConfigError,
    DeckError,
    DeckRejectedError,
    EnumLookupError,
    InstantError,
    MoneyError,
    NumberError,
    OutputError,
    PortDataError,
    RegexpRefusedError,
    SnapshotError,
    StateError,
    StateUnavailableError,
    StoreError,
    TandemError,
    UnknownCarrierError,
    UnknownCustomerError,
)
from tandem.instant import format_instant, parse_instant
from tandem.money import (
    SCALE,
    MoneyPolicy,
    Rounding,
    format_money,
    from_scaled,
    parse_decimal,
    to_scaled,
)
from tandem.numbers import e164_digits

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    # the rate store
    "Store": "tandem.store",
    "DeckVersion": "tandem.store",
    # rate decks
    "DeckOptions": "tandem.decks",
    "DeckImport": "tandem.decks",
    "ParsedDeck": "tandem.decks",
    "Rejection": "tandem.decks",
    "parse_deck": "tandem.decks",
    "import_deck": "tandem.decks",
    "diff_versions": "tandem.decks",
    "DeckDiff": "tandem.decks",
    "NoticeFlag": "tandem.decks",
    # least-cost routing
    "Router": "tandem.lcr",
    "RoutingTable": "tandem.lcr",
    "Decision": "tandem.lcr",
    "Route": "tandem.lcr",
    "Dropped": "tandem.lcr",
    "Plan": "tandem.lcr",
    "RoutingConfig": "tandem.lcr",
    "load_config": "tandem.lcr",
    "import_plan": "tandem.lcr",
    "PlanImport": "tandem.lcr",
    "compile_table": "tandem.lcr",
    "compile_rates": "tandem.lcr",
    "TranslationRules": "tandem.lcr",
    "translate": "tandem.lcr",
    "TrunkTable": "tandem.lcr",
    "route_batch": "tandem.lcr",
    "BatchDecisions": "tandem.lcr",
    # shared state (counters for capacity, fraud limits and quality)
    "Counters": "tandem.state",
    "MemoryCounters": "tandem.state",
    "RedisCounters": "tandem.state",
    "FallbackCounters": "tandem.state",
    "Gather": "tandem.state",
    "counting_client": "tandem.state",
    # the call lifecycle (what a proxy holds) and credit accounts
    "Calls": "tandem.calls",
    "Call": "tandem.calls",
    "CallDecision": "tandem.calls",
    "CallEnd": "tandem.calls",
    "CreditAccount": "tandem.store",
    # carrier quality
    "QualityBoard": "tandem.quality",
    "QualityConfig": "tandem.quality",
    "Score": "tandem.quality",
    "quality_table": "tandem.quality",
    # fraud rules (live engine and CDR scan)
    "FraudConfig": "tandem.fraud",
    "FraudEngine": "tandem.fraud",
    "CallFacts": "tandem.fraud",
    "Verdict": "tandem.fraud",
    "FraudResult": "tandem.fraud",
    "load_fraud_config": "tandem.fraud",
    "ScanResult": "tandem.fraud",
    # rating
    "CallPrice": "tandem.rating",
    "Rater": "tandem.rating",
    "RatingResult": "tandem.rating",
    "RatingSummary": "tandem.rating",
    "RatingReport": "tandem.rating",
    "Tariff": "tandem.rating",
    "TariffPlan": "tandem.rating",
    "load_plan": "tandem.rating",
    "PlanSchedule": "tandem.rating",
    "price_call": "tandem.rating",
    "price_cdrs": "tandem.rating",
    "rate_file": "tandem.rating",
    # vendor CDR reconciliation
    "Reconciliation": "tandem.recon",
    "reconcile": "tandem.recon",
    "write_dispute": "tandem.recon",
    "rate_on_dask": "tandem.rating.daskrun",
    # ENUM and number portability
    "EnumResolver": "tandem.enum",
    "EnumResult": "tandem.enum",
    "LocalPortTable": "tandem.enum",
    "ChainedLookup": "tandem.enum",
    "PortEntry": "tandem.enum",
    "import_port_csv": "tandem.enum",
    "read_port_csv": "tandem.enum",
    "LookupKind": "tandem.enum",
    "NumberInfo": "tandem.enum",
    "NumberLookup": "tandem.enum",
    # simulation: traffic replay, scenarios, what-if
    "simulate": "tandem.sim",
    "SimulationResult": "tandem.sim",
    "Scenario": "tandem.sim",
    "load_scenario": "tandem.sim",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from tandem.calls import Call, CallDecision, CallEnd, Calls
    from tandem.decks.diff import DeckDiff, NoticeFlag
    from tandem.decks.importer import DeckImport, diff_versions, import_deck
    from tandem.decks.parse import DeckOptions, ParsedDeck, Rejection, parse_deck
    from tandem.enum import (
        ChainedLookup,
        EnumResolver,
        EnumResult,
        LocalPortTable,
        LookupKind,
        NumberInfo,
        NumberLookup,
        PortEntry,
        import_port_csv,
        read_port_csv,
    )
    from tandem.fraud import (
        CallFacts,
        FraudConfig,
        FraudEngine,
        FraudResult,
        ScanResult,
        Verdict,
        load_fraud_config,
    )
    from tandem.lcr import (
        BatchDecisions,
        Decision,
        Dropped,
        Plan,
        PlanImport,
        Route,
        Router,
        RoutingConfig,
        RoutingTable,
        TranslationRules,
        TrunkTable,
        compile_rates,
        compile_table,
        import_plan,
        load_config,
        route_batch,
        translate,
    )
    from tandem.quality import QualityBoard, QualityConfig, Score, quality_table
    from tandem.rating import (
        CallPrice,
        PlanSchedule,
        Rater,
        RatingReport,
        RatingResult,
        RatingSummary,
        Tariff,
        TariffPlan,
        load_plan,
        price_call,
        price_cdrs,
        rate_file,
    )
    from tandem.rating.daskrun import rate_on_dask
    from tandem.recon import Reconciliation, reconcile, write_dispute
    from tandem.sim import Scenario, SimulationResult, load_scenario, simulate
    from tandem.state import (
        Counters,
        FallbackCounters,
        Gather,
        MemoryCounters,
        RedisCounters,
        counting_client,
    )
    from tandem.store import CreditAccount, DeckVersion, Store


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tandem' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Call",
    "CallDecision",
    "CallEnd",
    "QualityBoard",
    "QualityConfig",
    "Score",
    "quality_table",
    "CallFacts",
    "CallPrice",
    "Calls",
    "CreditAccount",
    "CdrError",
    "ConcurrentWriteError",
    "ChainedLookup",
    "compile_rates",
    "compile_table",
    "ConfigError",
    "Counters",
    "Decision",
    "DeckDiff",
    "DeckError",
    "DeckImport",
    "DeckOptions",
    "DeckRejectedError",
    "DeckVersion",
    "diff_versions",
    "Dropped",
    "e164_digits",
    "EnumLookupError",
    "EnumResolver",
    "EnumResult",
    "FallbackCounters",
    "FraudConfig",
    "Gather",
    "counting_client",
    "FraudEngine",
    "FraudResult",
    "format_instant",
    "format_money",
    "from_scaled",
    "import_deck",
    "import_plan",
    "import_port_csv",
    "InstantError",
    "load_config",
    "load_fraud_config",
    "load_plan",
    "LocalPortTable",
    "LookupKind",
    "MemoryCounters",
    "MoneyError",
    "OutputError",
    "MoneyPolicy",
    "NoticeFlag",
    "NumberError",
    "NumberInfo",
    "NumberLookup",
    "parse_decimal",
    "parse_deck",
    "parse_instant",
    "ParsedDeck",
    "Plan",
    "PlanImport",
    "PlanSchedule",
    "PortDataError",
    "RegexpRefusedError",
    "PortEntry",
    "price_call",
    "price_cdrs",
    "rate_file",
    "rate_on_dask",
    "Rater",
    "RedisCounters",
    "Verdict",
    "RatingReport",
    "RatingResult",
    "ScanResult",
    "RatingSummary",
    "read_port_csv",
    "Reconciliation",
    "reconcile",
    "Rejection",
    "Rounding",
    "Route",
    "Router",
    "route_batch",
    "BatchDecisions",
    "RoutingConfig",
    "RoutingTable",
    "SCALE",
    "SnapshotError",
    "StateError",
    "StateUnavailableError",
    "Store",
    "StoreError",
    "TandemError",
    "Tariff",
    "TariffPlan",
    "to_scaled",
    "translate",
    "TranslationRules",
    "TrunkTable",
    "UnknownCarrierError",
    "UnknownCustomerError",
    "write_dispute",
    "simulate",
    "SimulationResult",
    "Scenario",
    "load_scenario",
    "__version__",
]
