from datetime import UTC, datetime

import pandas as pd
import pytest

from tandem.errors import InstantError, StoreError
from tandem.store import OPEN_END

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)


def deck(rows):
    return pd.DataFrame(rows, columns=["prefix", "rate"])


def in_force(store, at, account="acme"):
    frame = store.rates(accounts=[account], at=at)
    return dict(zip(frame["prefix"], frame["rate"], strict=True))


def test_schema_is_migrated(store):
    assert store.schema_revision() == "0005"


def test_full_deck_closes_missing_codes(store):
    store.write_deck(
        "acme", "carrier", deck([("44", 10), ("4420", 5)]), currency="usd", effective_from=JAN
    )
    v2 = store.write_deck("acme", "carrier", deck([("44", 11)]), currency="USD", effective_from=FEB)
    assert v2.version == 2 and v2.currency == "USD"
    assert in_force(store, datetime(2026, 1, 15, tzinfo=UTC)) == {"44": 10, "4420": 5}
    assert in_force(store, FEB) == {"44": 11}


def test_delta_deck_keeps_unlisted_codes(store):
    store.write_deck(
        "acme", "carrier", deck([("44", 10), ("4420", 5)]), currency="USD", effective_from=JAN
    )
    store.write_deck(
        "acme",
        "carrier",
        deck([("4420", 6), ("33", 3)]),
        currency="USD",
        effective_from=FEB,
        mode="delta",
    )
    assert in_force(store, FEB) == {"44": 10, "4420": 6, "33": 3}


def test_closed_rows_and_future_rates(store):
    store.write_deck(
        "acme", "carrier", deck([("44", 10), ("33", 3)]), currency="USD", effective_from=JAN
    )
    frame = pd.DataFrame(
        {
            "prefix": ["44", "44", "33"],
            "rate": [12, 14, 0],
            "effective_from": [int(FEB.timestamp()), int(MAR.timestamp()), int(FEB.timestamp())],
            "closed": [False, False, True],
        }
    )
    store.write_deck("acme", "carrier", frame, currency="USD", effective_from=FEB, mode="delta")
    assert in_force(store, JAN) == {"44": 10, "33": 3}
    assert in_force(store, FEB) == {"44": 12}
    assert in_force(store, MAR) == {"44": 14}
    history = store.rates(accounts=["acme"])
    assert history["effective_until"].max() == OPEN_END


def test_earlier_deck_voids_future_rows(store):
    store.write_deck("acme", "carrier", deck([("44", 10)]), currency="USD", effective_from=MAR)
    store.write_deck("acme", "carrier", deck([("44", 9)]), currency="USD", effective_from=FEB)
    assert in_force(store, MAR) == {"44": 9}
    assert len(store.rates(accounts=["acme"])) == 1


def test_accounts_are_per_kind(store):
    store.write_deck("acme", "carrier", deck([("44", 10)]), currency="USD", effective_from=JAN)
    store.write_deck("acme", "customer", deck([("44", 20)]), currency="USD", effective_from=JAN)
    assert {(a.kind, a.name) for a in store.accounts()} == {
        ("carrier", "acme"),
        ("customer", "acme"),
    }
    assert store.rates(kind="carrier", at=JAN)["rate"].tolist() == [10]
    sell = store.rates(kind="customer", at=JAN)
    assert sell["rate"].tolist() == [20]
    with pytest.raises(StoreError, match="both a carrier and a customer"):
        store.find_account("acme")


def test_naive_time_is_refused(store):
    with pytest.raises(InstantError, match="no time zone"):
        store.write_deck(
            "acme",
            "carrier",
            deck([("44", 1)]),
            currency="USD",
            effective_from=datetime(2026, 1, 1),
        )


def test_bad_kind_and_mode(store):
    with pytest.raises(StoreError):
        store.write_deck("acme", "vendor", deck([("44", 1)]), currency="USD", effective_from=JAN)
    with pytest.raises(StoreError):
        store.write_deck(
            "acme", "carrier", deck([("44", 1)]), currency="USD", effective_from=JAN, mode="partial"
        )
