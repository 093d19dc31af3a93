"""The rate store (SQLAlchemy 2; SQLite by default, PostgreSQL alike)."""

from tandem.store.models import (
    Account,
    Base,
    Carrier,
    Customer,
    Deck,
    PlanVersion,
    PortedNumber,
    Rate,
)
from tandem.store.plans import PLAN_KINDS, StoredPlan
from tandem.store.store import (
    OPEN_END,
    RATE_COLUMNS,
    AccountInfo,
    DeckVersion,
    Store,
    default_db_url,
)

__all__ = [
    "Account",
    "AccountInfo",
    "Base",
    "Carrier",
    "Customer",
    "Deck",
    "DeckVersion",
    "OPEN_END",
    "PLAN_KINDS",
    "PlanVersion",
    "PortedNumber",
    "RATE_COLUMNS",
    "Rate",
    "Store",
    "StoredPlan",
    "default_db_url",
]
