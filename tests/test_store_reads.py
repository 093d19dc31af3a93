"""The store's reading methods for the layers above it (``in_force``, ``rate_history``,
``earlier_rows``, the portability table) on SQLite and PostgreSQL, and the rate-row columns
written once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import sqlalchemy

from tandem.errors import InstantError, StoreError
from tandem.store import (
    DECK_COLUMNS,
    OPEN_END,
    RATE_COLUMNS,
    TERM_DEFAULTS,
    TERMS,
    DeckAccount,
    Rate,
)
from tandem.store.columns import STORED_COLUMNS

BIG = int(np.iinfo(np.int64).max)


def _write(store, account, rows, start, *, kind="carrier", mode="full", currency="USD", **terms):
    frame = pd.DataFrame(rows, columns=["prefix", "rate"]).assign(**terms)
    return store.write_deck(
        account, kind, frame, currency=currency, mode=mode, effective_from=start
    )


def _by_deck(got):
    """{deck id: sorted (prefix text, rate, per-row terms...)} of an InForce."""
    out = {}
    for part in got.rows:
        cols = [part.columns[f] for f in got.fields]
        out[part.deck_id] = sorted(
            (str(p), *(int(c[i]) for c in cols[1:])) for i, p in enumerate(cols[0])
        )
    return out


# -- in_force -------------------------------------------------------------------------------------


def test_in_force_empty_store(store):
    got = store.in_force(0)
    assert (got.at, got.valid_from, got.valid_until) == (0, -BIG, BIG)
    assert got.decks == {} and got.rows == [] and got.constant == {}


def test_in_force_rows_window_and_constant_terms(store):
    v1 = _write(store, "atlas", [("44", 10), ("4420", 5)], 100)
    v2 = _write(store, "atlas", [("44", 9)], 200, mode="delta")
    sell = _write(store, "acme", [("4", 20)], 100, kind="customer", currency="EUR")
    got = store.in_force(150)
    assert got.decks == {
        v1.id: DeckAccount("atlas", "carrier", "USD"),
        v2.id: DeckAccount("atlas", "carrier", "USD"),
        sell.id: DeckAccount("acme", "customer", "EUR"),
    }
    assert (got.valid_from, got.valid_until) == (100, 200)
    # Every term is the same on every row in force: none travels per row.
    assert got.constant == TERM_DEFAULTS and got.fields == ["prefix", "rate"]
    assert _by_deck(got) == {v1.id: [("44", 10), ("4420", 5)], sell.id: [("4", 20)]}
    assert got.rows[0].columns["prefix"].dtype == np.int64  # plain digits travel as numbers
    later = store.in_force(200)
    assert (later.valid_from, later.valid_until) == (200, BIG)
    assert _by_deck(later) == {
        v1.id: [("4420", 5)],
        v2.id: [("44", 9)],
        sell.id: [("4", 20)],
    }
    assert [r.deck_id for r in later.rows] == sorted(r.deck_id for r in later.rows)


def test_in_force_varying_terms_travel_per_row(store):
    deck = _write(store, "atlas", [("44", 10), ("33", 5)], 0, connect_fee=[0, 7])
    got = store.in_force(0)
    assert got.fields == ["prefix", "rate", "connect_fee"]
    assert got.constant == {t: v for t, v in TERM_DEFAULTS.items() if t != "connect_fee"}
    assert _by_deck(got) == {deck.id: [("33", 5, 7), ("44", 10, 0)]}


def test_in_force_prefixes_that_are_not_plain_numbers(store):
    """Leading zeros and letters are read row by row, as text, every term per row."""
    deck = _write(store, "atlas", [("0044", 5), ("44A", 7)], 0)
    got = store.in_force(0)
    assert got.constant == {} and got.fields == ["prefix", "rate", *TERMS]
    defaults = tuple(TERM_DEFAULTS.values())
    assert _by_deck(got) == {deck.id: [("0044", 5, *defaults), ("44A", 7, *defaults)]}


def test_in_force_and_rate_history_refuse_a_naive_instant(store):
    from datetime import datetime

    with pytest.raises(InstantError, match="no time zone"):
        store.in_force(datetime(2026, 1, 1))
    _write(store, "atlas", [("44", 10)], 0)
    with pytest.raises(InstantError, match="no time zone"):
        store.rate_history("atlas", "carrier", since=datetime(2026, 1, 1))
    assert len(store.rate_history("atlas", "carrier", since="2026-01-01")) == 1


# -- rate_history and earlier_rows ------------------------------------------------------------


def test_rate_history_of_an_unknown_account_and_kind(store):
    empty = store.rate_history("nobody", "carrier")
    assert empty.empty and list(empty.columns) == [
        "prefix",
        "rate",
        "effective_from",
        "effective_until",
    ]
    with pytest.raises(StoreError, match="account kind"):
        store.rate_history("nobody", "vendor")


def test_rate_history_is_per_kind(store):
    _write(store, "acme", [("44", 10)], 100)
    _write(store, "acme", [("44", 20)], 100, kind="customer")
    sell = store.rate_history("acme", "customer")
    assert sell[["prefix", "rate", "effective_until"]].values.tolist() == [["44", 20, OPEN_END]]


def test_earlier_rows_keep_voided_rows_and_versions(store):
    _write(store, "atlas", [("44", 10), ("33", 7)], 100)
    _write(store, "atlas", [("44", 11)], 300, mode="delta")
    _write(store, "atlas", [("44", 12)], 200, mode="delta")  # voids 44 @ 300
    v4 = _write(store, "atlas", [("44", 13)], 400)
    _write(store, "other", [("44", 1)], 100)  # another account's rows never show
    rows = store.earlier_rows(v4)
    assert list(rows.columns) == ["prefix", "rate", "effective_from", "effective_until", "version"]
    assert all(rows[c].dtype == np.int64 for c in rows.columns[1:])
    assert sorted(rows.itertuples(index=False, name=None)) == [
        ("33", 7, 100, 400, 1),  # cut by the full deck v4
        ("44", 10, 100, 200, 1),
        ("44", 11, 300, 300, 2),  # voided by v3: an empty window, still listed
        ("44", 12, 200, 400, 3),
    ]
    first = store.decks(account="atlas")[0]
    assert store.earlier_rows(first).empty
    # A row still open reads as OPEN_END.
    _write(store, "solo", [("1", 1)], 0)
    solo = _write(store, "solo", [("2", 2)], 0, mode="delta")
    assert store.earlier_rows(solo)["effective_until"].tolist() == [OPEN_END]


# -- the local portability table --------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    number_prefix: str
    routing_number: str | None = None
    sip_uri: str | None = None


def test_ported_numbers_write_supersede_replace(store):
    assert store.ported_numbers() == []
    done = store.write_ported_numbers(
        [Entry("4420", "44990"), Entry("1202555", sip_uri="sip:x@core")], source="a.csv"
    )
    assert (done.imported, done.deactivated, done.active) == (2, 0, 2)
    done = store.write_ported_numbers([Entry("4420", "44991")], source="b.csv")
    assert (done.imported, done.deactivated, done.active) == (1, 1, 2)
    got = {(e.number_prefix, e.routing_number, e.sip_uri, e.source) for e in store.ported_numbers()}
    assert got == {("4420", "44991", None, "b.csv"), ("1202555", None, "sip:x@core", "a.csv")}
    seen: list[int] = []
    done = store.write_ported_numbers(
        [Entry("33", "3399")], source="c.csv", replace=True, on_progress=seen.append
    )
    assert (done.imported, done.deactivated, done.active) == (1, 2, 1)
    assert seen == [1]
    assert [e.number_prefix for e in store.ported_numbers()] == ["33"]


def test_ported_numbers_write_is_all_or_nothing(store):
    store.write_ported_numbers([Entry("4420", "44990")], source="a.csv")
    broken = Entry(None, "3398")  # type: ignore[arg-type]  # number_prefix is NOT NULL
    with pytest.raises(StoreError, match="portability table"):
        store.write_ported_numbers([Entry("33", "3399"), broken], source="b.csv", replace=True)
    assert [e.number_prefix for e in store.ported_numbers()] == ["4420"]


# -- the rate row, written once ---------------------------------------------------------------


def test_rate_columns_derive_from_the_model_and_match_the_schema(sqlite_store):
    assert RATE_COLUMNS == (
        "prefix",
        "destination",
        "rate",
        "connect_fee",
        "initial_increment",
        "next_increment",
        "min_duration",
        "effective_from",
    )
    assert TERM_DEFAULTS == {
        "connect_fee": 0,
        "initial_increment": 60,
        "next_increment": 60,
        "min_duration": 0,
    }
    assert tuple(DECK_COLUMNS) == (*RATE_COLUMNS, "line", "change", "closed")
    model = [c.name for c in Rate.__table__.columns]
    assert model == ["id", *STORED_COLUMNS]
    # The migrated table (Alembic) has exactly the model's columns.
    migrated = sqlalchemy.inspect(sqlite_store.engine).get_columns("rates")
    assert sorted(c["name"] for c in migrated) == sorted(model)


def test_write_deck_fills_left_out_terms_with_their_defaults(store):
    _write(store, "atlas", [("44", 10)], 0)
    row = store.rates(accounts=["atlas"]).iloc[0]
    assert {t: int(row[t]) for t in TERMS} == TERM_DEFAULTS
    frame = store.rates()
    assert list(frame.columns)[8:] == [c for c in STORED_COLUMNS if not c.endswith("_id")]
