"""The stored rows the deck diff compares with (``Store.rate_history``)."""

from __future__ import annotations

import pandas as pd

from tandem.store import OPEN_END


def _write(store, rows, start, mode="full"):
    frame = pd.DataFrame(rows, columns=["prefix", "rate"])
    store.write_deck("acme", "carrier", frame, currency="USD", mode=mode, effective_from=start)


def _rows(frame):
    return sorted(
        zip(
            frame["prefix"],
            frame["rate"].astype(int),
            frame["effective_from"].astype(int),
            frame["effective_until"].astype(int),
            strict=True,
        )
    )


def test_history_rows_and_since(store):
    assert store.rate_history("acme", "carrier").empty
    _write(store, [("44", 10), ("4420", 5), ("33", 7)], 100)
    _write(store, [("44", 11), ("4420", 5)], 200)  # 33 ends at 200
    _write(store, [("44", 12)], 300, mode="delta")  # 44 @ 200 ends at 300
    _write(store, [("44", 9)], 300, mode="delta")  # voids 44 @ 300 (empty window: left out)
    every = [
        ("33", 7, 100, 200),
        ("44", 9, 300, OPEN_END),
        ("44", 10, 100, 200),
        ("44", 11, 200, 300),
        ("4420", 5, 100, 200),
        ("4420", 5, 200, OPEN_END),
    ]
    assert _rows(store.rate_history("acme", "carrier")) == every
    # Rows ending before `since` are left out; a row ending at `since` is kept.
    assert _rows(store.rate_history("acme", "carrier", since=250)) == [
        ("44", 9, 300, OPEN_END),
        ("44", 11, 200, 300),
        ("4420", 5, 200, OPEN_END),
    ]
    assert _rows(store.rate_history("acme", "carrier", since=200)) == every


def test_history_prefix_with_the_separator(store):
    """A prefix holding a comma (only through the Python API) is read row by row."""
    _write(store, [("4,4", 10), ("33", 7)], 100)
    assert _rows(store.rate_history("acme", "carrier")) == [
        ("33", 7, 100, OPEN_END),
        ("4,4", 10, 100, OPEN_END),
    ]
