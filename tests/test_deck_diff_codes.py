"""The deck diff's prefix codes: fast paths (integer keys, same codes) agree with plain ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.decks import diff as deck_diff
from tandem.decks.diff import diff_rates
from tandem.store import OPEN_END

#: Leading zeros, a 19-digit code (no int64 key) and a non-digit one (fallback paths).
POOL = ("0", "00", "01", "1", "10", "12", "44", "4420", "1234567890123456789", "x1")
TIMES = (100, 200, 300)


def _naive_codes(history, incoming):
    seen: dict[str, int] = {}
    codes = [seen.setdefault(p, len(seen)) for p in [*history.tolist(), *incoming.tolist()]]
    arr = np.asarray(codes, dtype=np.int64)
    return arr[: len(history)], arr[len(history) :], len(seen)


def _history(rows):
    return pd.DataFrame(
        {
            "prefix": pd.Series([r[0] for r in rows], dtype=object),
            "rate": np.asarray([r[1] for r in rows], dtype=np.int64),
            "effective_from": np.asarray([r[2] for r in rows], dtype=np.int64),
            "effective_until": np.asarray([r[3] for r in rows], dtype=np.int64),
        }
    )


def _as_tuple(diff, changes):
    return diff.to_dict(), changes.tolist()


@st.composite
def cases(draw):
    digits_only = draw(st.booleans())
    pool = [p for p in POOL if p.isdigit() and len(p) < 19] if digits_only else list(POOL)
    codes = sorted(draw(st.sets(st.sampled_from(pool), min_size=1)))
    history = []
    for p in draw(st.lists(st.sampled_from(codes), max_size=12)):
        start = draw(st.sampled_from(TIMES))
        until = draw(st.sampled_from((*TIMES, OPEN_END)))
        history.append((p, draw(st.integers(1, 9)), start, max(until, start + 1)))
    if draw(st.booleans()):  # the weekly case: the same codes, once each, in order
        incoming = [(p, draw(st.integers(1, 9)), 200, False) for p in codes]
        history = [(p, draw(st.integers(1, 9)), 100, OPEN_END) for p in codes]
    else:
        incoming = draw(
            st.lists(
                st.tuples(
                    st.sampled_from(pool),
                    st.integers(1, 9),
                    st.sampled_from(TIMES),
                    st.booleans(),
                ),
                max_size=12,
            )
        )
        incoming.sort(key=lambda r: (r[0], r[2]))
    return history, incoming, draw(st.sampled_from(("full", "delta")))


@settings(max_examples=200, deadline=None)
@given(case=cases())
def test_fast_codes_give_the_same_diff(case):
    history, incoming, mode = case
    previous = _history(history)
    frame = pd.DataFrame(
        {
            "prefix": pd.Series([r[0] for r in incoming], dtype=object),
            "rate": np.asarray([r[1] for r in incoming], dtype=np.int64),
            "effective_from": np.asarray([r[2] for r in incoming], dtype=np.int64),
            "closed": np.asarray([r[3] for r in incoming], dtype=bool),
        }
    )
    args = {"mode": mode, "deck_from": 200, "now": 0}
    fast = _as_tuple(*diff_rates(previous, frame, **args))
    original = deck_diff._prefix_codes
    deck_diff._prefix_codes = _naive_codes
    try:
        plain = _as_tuple(*diff_rates(previous, frame, **args))
    finally:
        deck_diff._prefix_codes = original
    assert fast == plain


def test_digit_keys_keep_leading_zeros_apart():
    keys = deck_diff._digit_keys(np.asarray(["0", "00", "1", "01", "1"], dtype=object))
    assert keys is not None and len(set(keys.tolist())) == 4 and keys[2] == keys[4]
    assert deck_diff._digit_keys(np.asarray(["1", "x"], dtype=object)) is None
    assert deck_diff._digit_keys(np.asarray(["1" * 19], dtype=object)) is None
