"""Deleting a deck version (``Store.delete_deck``): the store ends up exactly as if the
version had never been imported, on SQLite and PostgreSQL.

Random deck sequences come from the supersession model's strategy
(:mod:`test_store_supersede`): several accounts, full and delta decks, per-row dates,
Closed rows. One store gets every deck and then loses one version; the same store gets the
same decks without that one under other account names; every table then holds the same
rows for both (versions compared by their order, ids left out).
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from test_store_supersede import ACCOUNTS, _frame, sequences

from tandem.decks import delete_deck
from tandem.errors import DeckError, StoreError
from tandem.store.deletion import rebuilt_windows


def _no_ties(calls) -> bool:
    """Each deck lists a code at most once per start (the parser merges or rejects the
    rest); with ties the order of equal rows is the caller's, not the store's."""
    for _which, _mode, deck_from, rows in calls:
        keys = [(p, deck_from if s is None else s) for p, _r, s, _c in rows]
        if len(keys) != len(set(keys)):
            return False
    return True


def _write(store, tag: str, calls) -> None:
    for which, mode, deck_from, rows in calls:
        kind, name = ACCOUNTS[which]
        store.write_deck(
            tag + name, kind, _frame(rows, deck_from), currency="USD", mode=mode,
            effective_from=deck_from,
        )  # fmt: skip


def _dump(store, tag: str) -> dict[str, list[tuple]]:
    """Every stored row of the accounts named ``tag...``, tag and ids left out, versions
    as their rank among the account's versions."""
    with store.engine.connect() as conn:
        accounts = conn.execute(
            text("SELECT id, kind, name FROM accounts WHERE name LIKE :t ORDER BY kind, name"),
            {"t": tag + "%"},
        ).fetchall()
        out: dict[str, list[tuple]] = {"accounts": [], "decks": [], "rates": [], "closes": []}
        for a in accounts:
            key = (a.kind, a.name.removeprefix(tag))
            out["accounts"].append(key)
            decks = conn.execute(
                text(
                    "SELECT id, version, mode, currency, effective_from, row_count "
                    "FROM decks WHERE account_id = :a ORDER BY version"
                ),
                {"a": a.id},
            ).fetchall()
            rank = {d.id: i for i, d in enumerate(decks)}
            out["decks"] += [(key, rank[d.id], *tuple(d)[2:]) for d in decks]
            out["rates"] += sorted(
                (key, rank[r[0]], *r[1:])
                for r in conn.execute(
                    text(
                        "SELECT deck_id, prefix, destination, rate, connect_fee, "
                        "initial_increment, next_increment, min_duration, effective_from, "
                        "effective_until, change, line FROM rates WHERE account_id = :a"
                    ),
                    {"a": a.id},
                )
            )
            out["closes"] += sorted(
                (key, rank[r[0]], r[1], r[2])
                for r in conn.execute(
                    text(
                        "SELECT c.deck_id, c.prefix, c.effective_from FROM deck_closes c "
                        "JOIN decks d ON d.id = c.deck_id WHERE d.account_id = :a"
                    ),
                    {"a": a.id},
                )
            )
    return out


def test_deleting_a_version_is_as_if_it_was_never_imported(store):
    counter = itertools.count()
    examples = 30 if store.dialect == "sqlite" else 20

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(calls=sequences.filter(_no_ties), pick=st.integers(0, 100), latest=st.booleans())
    def run(calls, pick, latest):
        n = next(counter)
        which = calls[pick % len(calls)][0]
        mine = [i for i, c in enumerate(calls) if c[0] == which]
        position = len(mine) - 1 if latest else pick % len(mine)
        dropped = mine[position]
        kind, name = ACCOUNTS[which]
        _write(store, f"d{n}-", calls)
        deletion = store.delete_deck(f"d{n}-{name}", kind, position + 1)
        assert deletion.version == position + 1
        assert deletion.later_versions == list(range(position + 2, len(mine) + 1))
        assert deletion.account_deleted == (len(mine) == 1)
        _write(store, f"w{n}-", calls[:dropped] + calls[dropped + 1 :])
        assert _dump(store, f"d{n}-") == _dump(store, f"w{n}-")

    run()


def test_the_rebuild_agrees_with_every_stored_window(store):
    """Nothing deleted, the rebuild from the rows alone gives the stored windows back."""
    counter = itertools.count()

    @settings(
        max_examples=20 if store.dialect == "sqlite" else 10,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(calls=sequences.filter(_no_ties))
    def run(calls):
        tag = f"r{next(counter)}-"
        _write(store, tag, calls)
        with store.engine.connect() as conn:
            for (account_id,) in conn.execute(
                text("SELECT id FROM accounts WHERE name LIKE :t"), {"t": tag + "%"}
            ):
                _rows, changed = rebuilt_windows(conn, account_id, None)
                assert changed.empty, changed

    run()


def test_import_a_import_b_delete_b_is_import_a(store, tmp_path):
    """The CLI path in small: two imports through the deck importer, the second deleted."""
    from tandem.decks import import_deck

    a = b"Code,Destination,Rate\n44,UK,0.0100\n4420,London,0.0090\n33,France,0.0200\n"
    b = b"Code,Destination,Rate,Change\n44,UK,0.0110,\n4420,London,,Closed\n49,Germany,0.01,\n"
    for tag, decks in (("x-", (a, b)), ("y-", (a,))):
        for i, body in enumerate(decks):
            import_deck(
                store, body, account=tag + "atlas", now="2026-11-01",
                source_name="d.csv", options=None,
                **({"mode": "full"} if i == 0 else {"mode": "full"}),
            )  # fmt: skip
    with pytest.raises(DeckError, match="in force since"):
        delete_deck(store, "x-atlas", "carrier", 2, now="2026-12-01")
    report = delete_deck(store, "x-atlas", "carrier", 2, now="2026-10-01", dry_run=True)
    assert report.dry_run and report.rates_deleted == 2 and report.rates_restored >= 2
    assert _dump(store, "x-") != _dump(store, "y-")  # a dry run writes nothing
    with pytest.raises(DeckError, match="later version"):
        delete_deck(store, "x-atlas", "carrier", 1, now="2026-10-01")
    report = delete_deck(store, "x-atlas", "carrier", 2, now="2026-10-01")
    assert not report.forced and report.written
    assert _dump(store, "x-") == _dump(store, "y-")
    with pytest.raises(StoreError, match="no deck version 2"):
        delete_deck(store, "x-atlas", "carrier", 2, force=True)
