"""Customers' credit accounts (``credit_accounts``): balance and credit limit, exact.

A customer's **balance** is what it has paid in less what its calls cost (scaled money in
the account's currency; it may go below zero), its **credit limit** how far below zero
its calls may take it (>= 0). The credit still open to it is ``balance + credit_limit``;
the call lifecycle (:mod:`tandem.calls`) subtracts the spend of calls that ended but are
not charged yet and blocks a customer at its limit.

A **charge** subtracts a call's cost from the balance in one ``UPDATE`` (atomic on SQLite
and PostgreSQL alike: two nodes charging at once both count) and adds it to ``charged``,
the running total of every charge, which only grows. Every amount is a scaled integer
(:data:`tandem.money.SCALE` places) checked to stay within a signed 64-bit column before
it is written: a write that would leave that range is refused and nothing changes (SQLite
would otherwise turn the sum into a float).

The functions here take an open :class:`~sqlalchemy.engine.Connection`;
:class:`tandem.store.Store` exposes them as ``credit_account``, ``credit_accounts``,
``set_credit`` and ``charge_credit``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from tandem.errors import StoreError
from tandem.money import format_money, from_scaled

__all__ = [
    "CreditAccount",
    "INT64_MAX",
    "INT64_MIN",
    "charge_credit",
    "check_customer",
    "select_credit_account",
    "select_credit_accounts",
    "upsert_credit",
]

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
_COLUMNS = "customer, currency, balance, credit_limit, charged, updated"
_CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True, slots=True)
class CreditAccount:
    """One customer's credit account as stored (money as scaled integers; ``updated`` in
    UTC epoch seconds)."""

    customer: str
    currency: str
    balance_scaled: int
    credit_limit_scaled: int
    charged_scaled: int
    updated: int

    @property
    def balance(self) -> Decimal:
        """The balance as an exact Decimal (below zero: the customer owes)."""
        return from_scaled(self.balance_scaled)

    @property
    def credit_limit(self) -> Decimal:
        """How far below zero the balance may go, as an exact Decimal."""
        return from_scaled(self.credit_limit_scaled)

    @property
    def available_scaled(self) -> int:
        """``balance + credit_limit`` (scaled): the credit open before uncharged spend."""
        return self.balance_scaled + self.credit_limit_scaled

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; money as decimal strings."""
        from tandem.instant import format_instant

        return {
            "customer": self.customer,
            "currency": self.currency,
            "balance": format_money(self.balance_scaled),
            "credit_limit": format_money(self.credit_limit_scaled),
            "available": format_money(self.available_scaled),
            "charged": format_money(self.charged_scaled),
            "updated": format_instant(self.updated),
        }


def _account(row: Any) -> CreditAccount:
    return CreditAccount(
        customer=row.customer,
        currency=row.currency,
        balance_scaled=int(row.balance),
        credit_limit_scaled=int(row.credit_limit),
        charged_scaled=int(row.charged),
        updated=int(row.updated),
    )


def check_customer(customer: object) -> str:
    """A customer name as the store keeps it (1-128 characters, not blank), or
    :class:`StoreError`."""
    if not isinstance(customer, str) or not customer.strip() or len(customer) > 128:
        raise StoreError(f"customer name must be 1-128 characters, got {customer!r}")
    return customer


def _check_money(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise StoreError(f"{what} must be a scaled integer amount, got {value!r}")
    if not INT64_MIN <= value <= INT64_MAX:
        raise StoreError(f"{what} {format_money(value)} is out of range (64-bit scaled money)")
    return value


def select_credit_account(conn: Connection, customer: str) -> CreditAccount | None:
    """The credit account of ``customer``, or None."""
    row = conn.execute(
        text(f"SELECT {_COLUMNS} FROM credit_accounts WHERE customer = :c"), {"c": customer}
    ).first()
    return None if row is None else _account(row)


def select_credit_accounts(conn: Connection) -> list[CreditAccount]:
    """Every credit account, by customer name."""
    rows = conn.execute(text(f"SELECT {_COLUMNS} FROM credit_accounts ORDER BY customer")).all()
    return [_account(r) for r in rows]


def upsert_credit(
    conn: Connection,
    customer: str,
    *,
    balance: int | None,
    credit_limit: int | None,
    currency: str | None,
    at: int,
) -> CreditAccount:
    """Set the balance and/or credit limit of ``customer`` (in the caller's transaction),
    creating the account when it has none (then ``currency`` is required; balance and
    limit default to 0). A currency other than the account's is refused: convert first."""
    check_customer(customer)
    if balance is not None:
        _check_money(balance, "balance")
    if credit_limit is not None:
        _check_money(credit_limit, "credit limit")
        if credit_limit < 0:
            raise StoreError(
                f"credit limit must be >= 0 (how far below zero the balance may go), "
                f"got {format_money(credit_limit)}"
            )
    if currency is not None and not _CURRENCY.fullmatch(currency):
        raise StoreError(f"currency must be an ISO 4217 code such as USD, got {currency!r}")
    found = select_credit_account(conn, customer)
    if found is None:
        if currency is None:
            raise StoreError(
                f"customer {customer!r} has no credit account yet: give its currency "
                "(--currency USD), or import a customer deck for it first"
            )
        conn.execute(
            text(f"INSERT INTO credit_accounts ({_COLUMNS}) VALUES (:c, :cur, :b, :l, 0, :at)"),
            {
                "c": customer,
                "cur": currency,
                "b": 0 if balance is None else balance,
                "l": 0 if credit_limit is None else credit_limit,
                "at": int(at),
            },
        )
    else:
        if currency is not None and currency != found.currency:
            raise StoreError(
                f"the credit account of {customer!r} is in {found.currency}, not {currency}: "
                "Tandem does not convert currencies"
            )
        conn.execute(
            text(
                "UPDATE credit_accounts SET balance = :b, credit_limit = :l, updated = :at "
                "WHERE customer = :c"
            ),
            {
                "c": customer,
                "b": found.balance_scaled if balance is None else balance,
                "l": found.credit_limit_scaled if credit_limit is None else credit_limit,
                "at": int(at),
            },
        )
    account = select_credit_account(conn, customer)
    assert account is not None
    return account


def charge_credit(conn: Connection, customer: str, amount: int, *, at: int) -> CreditAccount:
    """Subtract ``amount`` (scaled, >= 0) from the balance of ``customer`` and add it to
    ``charged``, in one ``UPDATE`` (atomic against other writers); returns the account
    after the charge. Refused (nothing changes) for a customer without an account, a
    negative amount, or one that would take a column out of the 64-bit range."""
    _check_money(amount, "charge")
    if amount < 0:
        raise StoreError(f"a charge must be >= 0, got {format_money(amount)}")
    params = {
        "c": customer,
        "x": amount,
        "at": int(at),
        "low": INT64_MIN + amount,  # balance - x stays >= INT64_MIN
        "high": INT64_MAX - amount,  # charged + x stays <= INT64_MAX
    }
    done = conn.execute(
        text(
            "UPDATE credit_accounts SET balance = balance - :x, charged = charged + :x, "
            "updated = :at WHERE customer = :c AND balance >= :low AND charged <= :high"
        ),
        params,
    ).rowcount
    account = select_credit_account(conn, customer)
    if account is None:
        raise StoreError(
            f"customer {customer!r} has no credit account: set one with "
            "'tandem account set CUSTOMER --balance X --limit Y'"
        )
    if done != 1:
        raise StoreError(
            f"charging {format_money(amount)} to {customer!r} would take its balance or "
            "charged total out of range (64-bit scaled money); nothing was charged"
        )
    return account
