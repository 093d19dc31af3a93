"""Credit accounts in the store (migration 0004): set, read, charge; exact on SQLite and
PostgreSQL; bad input refused with the store unchanged."""

import threading

import pytest

from tandem.errors import StoreError
from tandem.money import UNIT, to_scaled
from tandem.store import Store
from tandem.store.credit import INT64_MAX, INT64_MIN

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def test_set_and_read_an_account(store):
    assert store.credit_account("acme") is None
    acc = store.set_credit(
        "acme", balance=to_scaled("100.5"), credit_limit=to_scaled("20"), currency="USD", at=T0
    )
    assert acc.balance_scaled == to_scaled("100.5")
    assert acc.credit_limit_scaled == 20 * UNIT
    assert acc.available_scaled == to_scaled("120.5")
    assert acc.charged_scaled == 0 and acc.updated == T0 and acc.currency == "USD"
    assert store.credit_account("acme") == acc
    # only the limit changes; the balance stays
    acc2 = store.set_credit("acme", credit_limit=to_scaled("5"), at=T0 + 60)
    assert acc2.balance_scaled == to_scaled("100.5") and acc2.credit_limit_scaled == 5 * UNIT
    assert acc2.updated == T0 + 60
    assert [a.customer for a in store.credit_accounts()] == ["acme"]


def test_charges_are_exact_and_cumulative(store):
    store.set_credit("acme", balance=to_scaled("1"), currency="EUR", at=T0)
    for _ in range(3):
        acc = store.charge_credit("acme", to_scaled("0.000000001"), at=T0 + 1)
    assert acc.balance_scaled == UNIT - 3
    assert acc.charged_scaled == 3
    acc = store.charge_credit("acme", 2 * UNIT, at=T0 + 2)
    assert acc.balance_scaled == -UNIT - 3  # below zero: the customer owes
    assert acc.charged_scaled == 2 * UNIT + 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"credit_limit": -1}, "credit limit must be >= 0"),
        ({"balance": 1.5}, "balance must be a scaled integer"),
        ({"balance": INT64_MAX + 1}, "out of range"),
        ({"currency": "usd"}, "ISO 4217"),
        ({"currency": "GBP"}, "is in USD, not GBP"),
    ],
)
def test_bad_values_are_refused_and_nothing_changes(store, kwargs, message):
    before = store.set_credit("acme", balance=7, credit_limit=3, currency="USD", at=T0)
    with pytest.raises(StoreError, match=message):
        store.set_credit("acme", at=T0 + 5, **kwargs)
    assert store.credit_account("acme") == before


def test_a_new_account_needs_a_currency(store):
    with pytest.raises(StoreError, match="give its currency"):
        store.set_credit("nobody", balance=5, at=T0)
    assert store.credit_accounts() == []
    with pytest.raises(StoreError, match="customer name"):
        store.set_credit(" ", balance=5, currency="USD", at=T0)


def test_bad_charges_are_refused_and_nothing_changes(store):
    with pytest.raises(StoreError, match="no credit account"):
        store.charge_credit("ghost", 5, at=T0)
    before = store.set_credit("acme", balance=INT64_MIN + 10, currency="USD", at=T0)
    with pytest.raises(StoreError, match="out of range"):
        store.charge_credit("acme", 11, at=T0)
    with pytest.raises(StoreError, match="must be >= 0"):
        store.charge_credit("acme", -1, at=T0)
    assert store.credit_account("acme") == before
    store.charge_credit("acme", 10, at=T0)  # exactly to the bottom of the range is fine
    assert store.credit_account("acme").balance_scaled == INT64_MIN


def test_concurrent_charges_all_count(store):
    """Two writers charging at once: every charge lands (one atomic UPDATE each)."""
    store.set_credit("acme", balance=0, currency="USD", at=T0)
    url = store.engine.url.render_as_string(hide_password=False)
    errors: list[BaseException] = []

    def charge(n: int) -> None:
        other = Store(url, migrate=False)
        try:
            for _ in range(n):
                for _attempt in range(50):  # SQLite: "database is locked" may come back
                    try:
                        other.charge_credit("acme", 7, at=T0)
                        break
                    except StoreError as exc:
                        if "locked" not in str(exc) and "another" not in str(exc):
                            raise
                else:
                    raise AssertionError("never got the lock")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            other.close()

    threads = [threading.Thread(target=charge, args=(25,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    acc = store.credit_account("acme")
    assert acc.balance_scaled == -350 and acc.charged_scaled == 350
