"""Supersession in ``Store.write_deck`` against a brute-force model of its docstring.

The model (pure Python, one list of rows per account) applies the documented rules
literally, row by row: per incoming prefix P with R the earliest incoming start, stored
rows of P beginning at or after R are voided and rows in force at R end at R; in ``full``
mode every other stored prefix ends at the deck's start (rows beginning at or after it are
voided); incoming rows of one prefix chain in time; closed rows add no rate. After a
random sequence of decks the store must show the same rows in force at every instant
where anything can change, and the same history.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.store import OPEN_END

PREFIXES = ("1", "12", "123", "44", "4420", "7")
TIMES = (100, 200, 300, 400, 500)
#: Every instant where the rows in force can change, and one just before each.
INSTANTS = (0, *sorted({t + d for t in TIMES for d in (-1, 0, 1)}), 10**9)
ACCOUNTS = (("carrier", "a"), ("carrier", "b"), ("customer", "a"))


@dataclass
class Row:
    prefix: str
    rate: int
    start: int
    until: int | None  # None: open-ended
    version: int

    def live(self) -> bool:
        return self.until is None or self.until > self.start

    def in_force(self, t: int) -> bool:
        return self.live() and self.start <= t and (self.until is None or t < self.until)


class Model:
    """The documented semantics of ``Store.write_deck``, one account at a time."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], list[Row]] = {}
        self.versions: dict[tuple[str, str], int] = {}

    def write(self, key, incoming, mode: str, deck_from: int) -> None:
        version = self.versions.get(key, 0) + 1
        self.versions[key] = version
        stored = self.rows.setdefault(key, [])
        # Stable: rows of one prefix with equal starts keep the deck's order.
        ordered = sorted(incoming, key=lambda r: (r[0], r[2]))
        first: dict[str, int] = {}
        for prefix, _rate, start, _closed in ordered:
            first.setdefault(prefix, start)
        for row in stored:
            if not row.live():
                continue
            if row.prefix in first:
                cut = first[row.prefix]
            elif mode == "full":
                cut = deck_from
            else:
                continue
            if row.start >= cut:
                row.until = row.start  # voided
            elif row.until is None or row.until > cut:
                row.until = cut
        for prefix, group in itertools.groupby(ordered, key=lambda r: r[0]):
            chain = list(group)
            for i, (_p, rate, start, closed) in enumerate(chain):
                until = chain[i + 1][2] if i + 1 < len(chain) else None
                if not closed:
                    stored.append(Row(prefix, rate, start, until, version))

    def in_force(self, t: int) -> set[tuple]:
        return {
            (kind, name, r.prefix, r.rate, r.version)
            for (kind, name), rows in self.rows.items()
            for r in rows
            if r.in_force(t)
        }

    def history(self) -> set[tuple]:
        return {
            (kind, name, r.prefix, r.rate, r.start, OPEN_END if r.until is None else r.until)
            for (kind, name), rows in self.rows.items()
            for r in rows
            if r.live()
        }


incoming_row = st.tuples(
    st.sampled_from(PREFIXES),
    st.integers(1, 10**6),  # rate (scaled)
    st.one_of(st.none(), st.sampled_from(TIMES)),  # None: the deck's effective_from
    st.sampled_from((False, False, True)),  # closed
)
deck_call = st.tuples(
    st.sampled_from(range(len(ACCOUNTS))),
    st.sampled_from(("full", "delta")),
    st.sampled_from(TIMES),
    st.lists(incoming_row, max_size=8),
)
sequences = st.lists(deck_call, min_size=1, max_size=6)


def _frame(rows, deck_from: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "prefix": [r[0] for r in rows],
            "rate": [r[1] for r in rows],
            "closed": [r[3] for r in rows],
        }
    )
    starts = [r[2] for r in rows]
    if any(s is not None for s in starts):  # else the column is left out: the deck's date
        frame["effective_from"] = pd.array(starts, dtype="Int64")
    return frame


def _store_in_force(store, names, t: int) -> set[tuple]:
    frame = store.rates(accounts=names, at=t)
    return set(
        zip(
            frame["kind"],
            frame["account"],
            frame["prefix"],
            frame["rate"].astype(int),
            frame["version"].astype(int),
            strict=True,
        )
    )


def _store_history(store, names) -> set[tuple]:
    frame = store.rates(accounts=names)
    return set(
        zip(
            frame["kind"],
            frame["account"],
            frame["prefix"],
            frame["rate"].astype(int),
            frame["effective_from"].astype(int),
            frame["effective_until"].astype(int),
            strict=True,
        )
    )


def test_supersession_matches_the_model(store):
    """Random deck sequences on SQLite and PostgreSQL give exactly the model's rows."""
    counter = itertools.count()
    examples = 60 if store.dialect == "sqlite" else 25

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(calls=sequences)
    def run(calls):
        # Fresh account names per example: the store is shared, the accounts are not.
        tag = f"x{next(counter)}-"
        model = Model()
        for which, mode, deck_from, rows in calls:
            kind, name = ACCOUNTS[which]
            store.write_deck(
                tag + name,
                kind,
                _frame(rows, deck_from),
                currency="USD",
                mode=mode,
                effective_from=deck_from,
            )
            filled = [(p, rate, deck_from if s is None else s, c) for p, rate, s, c in rows]
            model.write((kind, tag + name), filled, mode, deck_from)
        names = sorted({tag + name for _kind, name in ACCOUNTS})
        for t in INSTANTS:
            assert _store_in_force(store, names, t) == model.in_force(t), f"at {t}"
        assert _store_history(store, names) == model.history()

    run()


def test_big_decks_match_the_model(store):
    """Thousands of codes (the bulk paths), re-imported full and delta, as the model says."""
    import numpy as np

    rng = np.random.default_rng(5)
    pool = sorted({str(x) for x in rng.integers(10**3, 10**6, size=3000)})
    model = Model()
    key = ("carrier", "big")

    def write(mode, deck_from, codes, starts=None, closed=None):
        rates = rng.integers(1, 10**7, size=len(codes))
        starts = [deck_from] * len(codes) if starts is None else starts
        closed = [False] * len(codes) if closed is None else closed
        rows = list(zip(codes, rates.tolist(), starts, closed, strict=True))
        frame = pd.DataFrame(
            {"prefix": codes, "rate": rates, "effective_from": starts, "closed": closed}
        )
        store.write_deck(
            "big", "carrier", frame, currency="USD", mode=mode, effective_from=deck_from
        )
        model.write(key, rows, mode, deck_from)

    write("full", 200, pool)
    write("full", 200, pool)  # the weekly re-import: same codes, same date
    write("full", 300, pool[::2])  # later, fewer codes
    write("delta", 250, pool[::3], closed=[i % 5 == 0 for i in range(len(pool[::3]))])
    mixed = pool[1::2]
    write("full", 400, mixed, starts=[[100, 400, 500][i % 3] for i in range(len(mixed))])
    write(
        "full", 150, pool[:1000] + pool[:1000], starts=[150] * 1000 + [450] * 1000
    )  # two rows per code, chained
    for t in INSTANTS:
        assert _store_in_force(store, ["big"], t) == model.in_force(t), f"at {t}"
    assert _store_history(store, ["big"]) == model.history()
