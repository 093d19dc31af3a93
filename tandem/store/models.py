"""SQLAlchemy 2 models of the rate store.

Conventions that keep money and time exact on every backend (SQLite has no decimal
or time-zone types):

* money columns hold scaled integers (:data:`tandem.money.SCALE` decimal places);
* rate validity (``effective_from`` / ``effective_until``) is held as UTC epoch
  seconds; ``effective_until`` is NULL while a rate is open-ended. A rate row is in
  force at instant T iff ``effective_from <= T < effective_until``;
* for one account, at most one row per prefix is in force at any instant (the deck
  writer closes superseded rows; see :meth:`tandem.store.Store.write_deck`);
* likewise at most one routing plan and one tariff plan version is in force at any
  instant (see :meth:`tandem.store.Store.write_plan`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from tandem.money import from_scaled

__all__ = [
    "Base",
    "Account",
    "Carrier",
    "Customer",
    "Deck",
    "DeckClose",
    "Rate",
    "PortedNumber",
    "PlanVersion",
    "CreditAccountRow",
    "RatedCdrRow",
]

CARRIER = "carrier"
CUSTOMER = "customer"

#: ``info`` of a rate column a deck frame carries (:data:`tandem.store.columns.RATE_COLUMNS`).
_DECK = {"deck": True}
#: ``info`` of a rate term: a deck column with a default (:data:`tandem.store.columns.TERMS`).
_TERM = {"deck": True, "term": True}


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Declarative base of every Tandem table."""


class Account(Base):
    """A party that owns decks: a carrier (vendor, buy side) or a customer (sell side)."""

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("kind", "name", name="uq_accounts_kind_name"),
        CheckConstraint("kind IN ('carrier', 'customer')", name="ck_accounts_kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_utcnow)

    decks: Mapped[list[Deck]] = relationship(back_populates="account", order_by="Deck.version")

    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "account"}


class Carrier(Account):
    """A carrier (vendor): its decks are buy rates."""

    __mapper_args__ = {"polymorphic_identity": CARRIER}


class Customer(Account):
    """A customer: its decks are sell rates."""

    __mapper_args__ = {"polymorphic_identity": CUSTOMER}


class Deck(Base):
    """One imported version of an account's rate deck."""

    __tablename__ = "decks"
    __table_args__ = (UniqueConstraint("account_id", "version", name="uq_decks_account_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    mode: Mapped[str] = mapped_column(String(8))  # 'full' or 'delta'
    source_name: Mapped[str] = mapped_column(String(512))
    source_sha256: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(DateTime, default=_utcnow)
    effective_from: Mapped[int] = mapped_column(BigInteger)  # UTC epoch seconds
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    decimals: Mapped[int] = mapped_column(Integer, default=4)
    rounding: Mapped[str] = mapped_column(String(16), default="half-up")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")

    account: Mapped[Account] = relationship(back_populates="decks")

    @property
    def effective_from_dt(self) -> datetime:
        """``effective_from`` as an aware UTC datetime."""
        return datetime.fromtimestamp(self.effective_from, UTC)


class Rate(Base):
    """One prefix's rate in one deck version, valid over ``[effective_from, effective_until)``.

    Its columns are the one definition of a rate row: :mod:`tandem.store.columns` derives
    every column list from them (``info`` marks the columns a deck frame carries, and
    among those the rate terms with the value a frame that leaves them out gets).
    """

    __tablename__ = "rates"
    __table_args__ = (Index("ix_rates_account_prefix", "account_id", "prefix"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    deck_id: Mapped[int] = mapped_column(ForeignKey("decks.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    prefix: Mapped[str] = mapped_column(String(16), info=_DECK)
    destination: Mapped[str] = mapped_column(String(128), default="", info=_DECK)
    rate: Mapped[int] = mapped_column(BigInteger, info=_DECK)  # scaled, per minute
    connect_fee: Mapped[int] = mapped_column(BigInteger, default=0, info=_TERM)  # scaled
    initial_increment: Mapped[int] = mapped_column(Integer, default=60, info=_TERM)  # seconds
    next_increment: Mapped[int] = mapped_column(Integer, default=60, info=_TERM)  # seconds
    min_duration: Mapped[int] = mapped_column(Integer, default=0, info=_TERM)  # seconds
    effective_from: Mapped[int] = mapped_column(BigInteger, info=_DECK)  # UTC epoch seconds
    effective_until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    change: Mapped[str | None] = mapped_column(String(16), nullable=True)
    line: Mapped[int | None] = mapped_column(Integer, nullable=True)  # source line number

    @property
    def rate_decimal(self) -> Decimal:
        """The per-minute rate as an exact Decimal."""
        return from_scaled(self.rate)


class DeckClose(Base):
    """A code one deck version closed with a ``Closed`` status, from ``effective_from``.

    Such a row adds no rate (nothing goes to ``rates``) but cuts the code's earlier rows
    like a rate row would; it is kept so that deleting a deck version can rebuild the
    account's validity windows exactly (:mod:`tandem.store.deletion`).
    """

    __tablename__ = "deck_closes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deck_id: Mapped[int] = mapped_column(ForeignKey("decks.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    effective_from: Mapped[int] = mapped_column(BigInteger)  # UTC epoch seconds


class PortedNumber(Base):
    """A local number-portability / ENUM entry: a number or number block and where it lives."""

    __tablename__ = "ported_numbers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number_prefix: Mapped[str] = mapped_column(String(16), index=True)
    routing_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sip_uri: Mapped[str | None] = mapped_column(String(256), nullable=True)
    source: Mapped[str] = mapped_column(String(512), default="")
    imported_at: Mapped[datetime] = mapped_column(DateTime, default=_utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class PlanVersion(Base):
    """One imported version of a routing or tariff plan: the TOML text, stored verbatim,
    in force over ``[effective_from, effective_until)``."""

    __tablename__ = "plans"
    __table_args__ = (
        UniqueConstraint("kind", "version", name="uq_plans_kind_version"),
        CheckConstraint("kind IN ('routing', 'tariff')", name="ck_plans_kind"),
        Index("ix_plans_kind_effective_from", "kind", "effective_from"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # 'routing' or 'tariff'
    version: Mapped[int] = mapped_column(Integer)
    source_name: Mapped[str] = mapped_column(String(512))
    source_sha256: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[datetime] = mapped_column(DateTime, default=_utcnow)
    effective_from: Mapped[int] = mapped_column(BigInteger)  # UTC epoch seconds
    effective_until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class CreditAccountRow(Base):
    """A customer's credit account: ``balance`` (what it has paid in, less what its calls
    cost; may go below zero) and ``credit_limit`` (how far below zero its calls may take
    it), both scaled money in ``currency``; ``charged`` is the total of every charge applied
    (scaled, only grows: the call lifecycle compares it with the shared spend counter);
    ``updated`` the instant of the last change (UTC epoch seconds)."""

    __tablename__ = "credit_accounts"
    __table_args__ = (
        UniqueConstraint("customer", name="uq_credit_accounts_customer"),
        CheckConstraint("credit_limit >= 0", name="ck_credit_accounts_limit"),
        CheckConstraint("charged >= 0", name="ck_credit_accounts_charged"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer: Mapped[str] = mapped_column(String(128))
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[int] = mapped_column(BigInteger)  # scaled
    credit_limit: Mapped[int] = mapped_column(BigInteger)  # scaled, >= 0
    charged: Mapped[int] = mapped_column(BigInteger)  # scaled, total charged so far
    updated: Mapped[int] = mapped_column(BigInteger)  # UTC epoch seconds


class RatedCdrRow(Base):
    """One rated CDR in the warehouse (``tandem rate --to-db``): the rating columns of
    the rated Parquet file, money as scaled integers like every money column here.

    A row is keyed by ``(cdr_id, start_epoch, leg)``: ``cdr_id`` is the CDR's call id
    where it has one (else a digest of its start, number, accounts and duration), ``leg``
    numbers the CDRs of one load with the same id and start (0, 1, ...) in their input
    order. Loading the same CDRs again replaces their rows (see
    :mod:`tandem.store.warehouse`).
    """

    __tablename__ = "rated_cdrs"
    # One index beside the key: every index costs each load (see bench_warehouse.py).
    __table_args__ = (Index("ix_rated_cdrs_start", "start_epoch"),)

    cdr_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    leg: Mapped[int] = mapped_column(Integer, primary_key=True)
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    start_epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # UTC epoch s
    duration: Mapped[int] = mapped_column(BigInteger)  # seconds
    number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    rated_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    customer: Mapped[str | None] = mapped_column(String(128), nullable=True)
    carrier: Mapped[str | None] = mapped_column(String(128), nullable=True)
    call_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    disposition: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sell_prefix: Mapped[str | None] = mapped_column(String(16), nullable=True)
    sell_destination: Mapped[str | None] = mapped_column(String(128), nullable=True)
    sell_billed_seconds: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sell_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # scaled
    sell_currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    buy_prefix: Mapped[str | None] = mapped_column(String(16), nullable=True)
    buy_destination: Mapped[str | None] = mapped_column(String(128), nullable=True)
    buy_billed_seconds: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    buy_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # scaled
    buy_currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    margin: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # scaled
    source: Mapped[str] = mapped_column(String(1024))  # the CDR file, or "query"
    record: Mapped[int] = mapped_column(BigInteger)  # the CDR's ordinal in its source
    loaded_at: Mapped[int] = mapped_column(BigInteger)  # UTC epoch seconds
