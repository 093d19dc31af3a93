"""The rate store (SQLAlchemy 2; SQLite by default, PostgreSQL alike): the only SQL in Tandem."""

from tandem.store.columns import DECK_COLUMNS, OPEN_END, RATE_COLUMNS, TERM_DEFAULTS, TERMS
from tandem.store.credit import CreditAccount
from tandem.store.deletion import DeckDeletion
from tandem.store.in_force import DeckAccount, DeckRows, InForce
from tandem.store.models import (
    Account,
    Base,
    Carrier,
    CreditAccountRow,
    Customer,
    Deck,
    DeckClose,
    PlanVersion,
    PortedNumber,
    Rate,
)
from tandem.store.plans import PLAN_KINDS, StoredPlan
from tandem.store.ported import PortedEntry, PortedImport, StoredPortedNumber
from tandem.store.store import (
    AccountInfo,
    DeckVersion,
    Store,
    database_url,
    default_db_url,
)

__all__ = [
    "Account",
    "AccountInfo",
    "Base",
    "Carrier",
    "CreditAccount",
    "CreditAccountRow",
    "Customer",
    "DECK_COLUMNS",
    "Deck",
    "DeckAccount",
    "DeckClose",
    "DeckDeletion",
    "DeckRows",
    "DeckVersion",
    "InForce",
    "OPEN_END",
    "PLAN_KINDS",
    "PlanVersion",
    "PortedEntry",
    "PortedImport",
    "PortedNumber",
    "RATE_COLUMNS",
    "Rate",
    "Store",
    "StoredPlan",
    "StoredPortedNumber",
    "TERMS",
    "TERM_DEFAULTS",
    "database_url",
    "default_db_url",
]
