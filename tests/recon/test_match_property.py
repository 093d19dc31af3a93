"""The matcher against brute-force references of its rules, and the reconciliation's
accounting on random sides (hypothesis)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rating_helpers import rates_frame

from tandem.errors import NumberError
from tandem.lcr.translate import translate
from tandem.rating.price import Rater
from tandem.recon.classify import CLASSES, Tolerances
from tandem.recon.match import duplicate_rows, match_by_time, match_sides
from tandem.recon.numbers import national_rules, vendor_digits
from tandem.recon.read import CdrSide
from tandem.recon.reconcile import reconcile

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def brute_match(ok, os_, od, of, tk, ts, td, tf, window):
    """The rule of :func:`match_by_time`, one record at a time: every free vendor record
    proposes to its best free candidate of ours (closest start, then duration, then the
    earlier record), every record of ours accepts its best proposal; repeat."""
    ours = {i for i in range(len(ok)) if of[i]}
    theirs = {j for j in range(len(tk)) if tf[j]}
    pairs = []
    while True:
        proposals: dict[int, list[int]] = {}
        for j in sorted(theirs):
            cands = [i for i in ours if ok[i] == tk[j] and abs(os_[i] - ts[j]) <= window]
            if cands:
                best = min(cands, key=lambda i: (abs(os_[i] - ts[j]), abs(od[i] - td[j]), i))
                proposals.setdefault(best, []).append(j)
        if not proposals:
            return sorted(pairs, key=lambda p: p[1])
        for i, js in proposals.items():
            j = min(js, key=lambda j: (abs(os_[i] - ts[j]), abs(od[i] - td[j]), j))
            pairs.append((i, j))
            ours.discard(i)
            theirs.discard(j)


def side_arrays(n):
    return st.tuples(
        st.lists(st.integers(1, 3), min_size=n, max_size=n),
        st.lists(st.integers(0, 40), min_size=n, max_size=n),
        st.lists(st.integers(0, 6), min_size=n, max_size=n),
        st.lists(st.booleans(), min_size=n, max_size=n).map(
            lambda f: [x or i % 3 != 0 for i, x in enumerate(f)]
        ),
    )


sides = st.integers(0, 14).flatmap(side_arrays)


@SETTINGS
@given(ours=sides, theirs=sides, window=st.integers(0, 8))
def test_match_by_time_equals_the_brute_force_reference(ours, theirs, window):
    o = [np.asarray(a, dtype=np.int64) for a in ours[:3]] + [np.asarray(ours[3], dtype=bool)]
    t = [np.asarray(a, dtype=np.int64) for a in theirs[:3]] + [np.asarray(theirs[3], dtype=bool)]
    oi, ti = match_by_time(*o, *t, window)
    got = list(zip(oi.tolist(), ti.tolist(), strict=True))
    assert got == brute_match(*ours, *theirs, window)
    # and what the rule promises, whatever its tie-breaks: one to one, compatible, maximal
    assert len(set(oi.tolist())) == len(oi) and len(set(ti.tolist())) == len(ti)
    for i, j in got:
        assert o[3][i] and t[3][j] and o[0][i] == t[0][j] and abs(o[1][i] - t[1][j]) <= window
    left_o = set(np.flatnonzero(o[3]).tolist()) - set(oi.tolist())
    left_t = set(np.flatnonzero(t[3]).tolist()) - set(ti.tolist())
    for i in left_o:
        for j in left_t:
            assert not (o[0][i] == t[0][j] and abs(o[1][i] - t[1][j]) <= window)


@SETTINGS
@given(
    rows=st.lists(
        st.tuples(
            st.integers(1, 2), st.integers(0, 3), st.integers(0, 2), st.integers(-1, 3),
            st.booleans(),
        ),
        max_size=25,
    )
)  # fmt: skip
def test_duplicate_rows_equal_the_brute_force_reference(rows):
    key, start, dur, code, usable = (np.asarray(c) for c in zip(*rows, strict=True)) if rows else (
        np.zeros(0, np.int64),) * 4 + (np.zeros(0, bool),)  # fmt: skip
    code = np.asarray(code, dtype=np.int64)
    copies, first = duplicate_rows(key, start, dur, code, np.asarray(usable, dtype=bool))
    expected = []
    for i, (k, s, d, c, u) in enumerate(rows):
        for j, (k2, s2, d2, c2, u2) in enumerate(rows[:i]):
            if (c >= 0 and c2 == c) or (
                c < 0 and c2 < 0 and u and u2 and (k, s, d) == (k2, s2, d2)
            ):
                expected.append((i, j))
                break
    assert list(zip(copies.tolist(), first.tolist(), strict=True)) == expected


numbers = st.text(alphabet="0123456789+ -()", min_size=0, max_size=18)


@SETTINGS
@given(batch=st.lists(numbers, max_size=20), cc=st.sampled_from(["44", "1", "33", "353"]))
def test_vendor_digits_equal_translate_with_national_rules(batch, cc):
    got = vendor_digits(pa.array(batch, pa.string()), cc).to_pylist()
    rules = national_rules(cc)
    for text, digits in zip(batch, got, strict=True):
        try:
            expected = translate(text, rules).normalized
        except NumberError:
            expected = None
        assert digits == expected, text


DECK = rates_frame(
    [
        {"account": "acme", "kind": "carrier", "prefix": p, "rate": r,
         "initial_increment": 6, "next_increment": 6}
        for p, r in (("1", "0.01"), ("12", "0.02"), ("3", "0.07"))
    ]
)  # fmt: skip
RATER = Rater.from_rates(DECK)


def cdr_side(name, rows):
    """A side from (number, start, duration, call_id, rate, amount) rows."""
    n = len(rows)
    cols = list(zip(*rows, strict=True)) if rows else [()] * 6
    digits = pa.array([str(x) for x in cols[0]], pa.string())
    rate = np.asarray([r if r is not None else 0 for r in cols[4]], dtype=np.int64)
    amount = np.asarray([a if a is not None else 0 for a in cols[5]], dtype=np.int64)
    return CdrSide(
        name=name,
        record=np.arange(1, n + 1, dtype=np.int64),
        line=np.arange(2, n + 2, dtype=np.int64),
        start=np.asarray(cols[1], dtype=np.int64) + 1_800_000_000,
        duration=np.asarray(cols[2], dtype=np.int64),
        number=digits,
        digits=digits,
        key=np.asarray(cols[0], dtype=np.int64),
        call_id=pa.array(cols[3], pa.string()),
        carrier=pa.nulls(n, pa.string()),
        rate=rate,
        has_rate=np.asarray([r is not None for r in cols[4]], dtype=bool),
        amount=amount,
        has_amount=np.asarray([a is not None for a in cols[5]], dtype=bool),
        problem=np.zeros(n, dtype=np.int8),
        rate_column=True,
        amount_column=True,
    )


record = st.tuples(
    st.sampled_from([12345, 1999, 3777, 4444]),
    st.integers(0, 200),
    st.integers(1, 130),
    st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"])),
    st.one_of(st.none(), st.sampled_from([10**7, 2 * 10**7, 7 * 10**7])),
    st.one_of(st.none(), st.integers(0, 10**8)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ours=st.lists(record, max_size=12),
    theirs=st.lists(record, max_size=12),
    window=st.integers(0, 30),
)
def test_every_record_is_accounted_for_and_disputes_add_up(ours, theirs, window):
    o = cdr_side("ours", [r[:4] + (None, None) for r in ours])
    t = cdr_side("theirs", theirs)
    recon = reconcile(o, t, "acme", RATER, Tolerances(window=window))
    counts = recon.counts()
    assert list(counts) == list(CLASSES)
    pairs = sum(counts[c] for c in CLASSES[:4])
    assert recon.ours + recon.theirs == (
        2 * pairs + counts["missing_ours"] + counts["missing_theirs"] + counts["duplicate"]
    )
    # every record of each side appears on exactly one line
    lines = recon.lines.to_pydict()
    assert sorted(r for r in lines["their_record"] if r is not None) == list(range(1, len(t) + 1))
    assert sorted(r for r in lines["our_record"] if r is not None) == list(range(1, len(o) + 1))
    # disputed amounts add up to the vendor's total minus ours
    from tandem.recon.deck import deck_view

    their_deck = deck_view(RATER, t, "acme")
    our_deck = deck_view(RATER, o, "acme")
    their_total = int(np.where(t.has_amount, t.amount, their_deck.amount).sum())
    our_total = int(our_deck.amount.sum())
    assert sum(recon.disputed_scaled().values()) == their_total - our_total
    assert recon.disputed_scaled()["exact"] == 0


def test_call_ids_win_over_times_and_copies_are_never_matched():
    key = np.asarray([5, 5, 5], dtype=np.int64)
    m = match_sides(
        key, np.asarray([100, 110, 500]), np.asarray([30, 30, 30]),
        pa.array(["x", "y", None]), np.ones(3, bool),
        np.full(4, 5, dtype=np.int64), np.asarray([111, 100, 500, 500]), np.full(4, 30),
        pa.array(["x", "y", None, None]), np.ones(4, bool),
        window=60,
    )  # fmt: skip
    assert sorted(zip(m.ours.tolist(), m.theirs.tolist(), strict=True)) == [(0, 0), (1, 1), (2, 2)]
    assert m.by_call_id.tolist() == [True, True, False]
    assert m.their_copies.tolist() == [3] and m.their_copy_of.tolist() == [2]
