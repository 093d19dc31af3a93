"""The C loops of batch pricing (tandem/rating/_fastrate.c, optional) against the numpy
path they replace and the scalar ``price_call``: every priced column equal, to the last
unit, on random decks and CDRs (deep prefixes, several accounts and deck versions, every
increment, fee, minimum, grace and rounding mode, amounts up to the money limits), and
the summary's counting of dictionary codes against the generic Arrow path."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal, localcontext

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rating_helpers import cdr_frame, rates_frame

from tandem.money import MAX_RATE, SCALE, Rounding, round_scaled
from tandem.rating import fastrate
from tandem.rating.amounts import AMOUNT_TYPE, amount_array, exact_total
from tandem.rating.book import MAX_DURATION, MAX_INSTANT
from tandem.rating.cdr import canonical_table
from tandem.rating.keys import e164_digits_array, number_keys
from tandem.rating.price import (
    Rater,
    RatingSummary,
    _rows_by_value,
    _value_counts,
    price_call,
)
from tandem.store import OPEN_END

needs_c = pytest.mark.skipif(not fastrate.BUILT, reason="C loops not built (setup.py build_ext)")

_EDGES = [0, 1000, 1_700_000_000, 1_700_050_000]
_YEAR_9999 = 253_402_300_799  # the last second of year 9999


@pytest.fixture
def numpy_path(monkeypatch):
    """Run the numpy path (as where the extension is not built)."""
    monkeypatch.setattr(fastrate, "NATIVE", False)


def _price_both_ways(rater: Rater, table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """The batch priced by the C loops and by the numpy path."""
    saved = fastrate.NATIVE
    try:
        fastrate.NATIVE = True
        native = rater.price(table)
        fastrate.NATIVE = False
        plain = rater.price(table)
    finally:
        fastrate.NATIVE = saved
    return native, plain


def _assert_same(native: pa.Table, plain: pa.Table) -> None:
    assert native.schema == plain.schema
    for name in native.column_names:
        assert native.column(name).to_pylist() == plain.column(name).to_pylist(), name


# -- random flat decks: what the C loop prices ----------------------------------------------


@st.composite
def flat_decks(draw, huge: bool = False):
    """Rows of customer decks c1, c2 and carrier decks v1, v2: nested prefixes of 1 to 15
    digits (a trie several node levels deep), versions with gaps, every billing rule."""
    rows = []
    stems = draw(st.lists(st.text("0123456789", min_size=1, max_size=15), min_size=1, max_size=4))
    rate_top = MAX_RATE if huge else 2 * 10**12  # above ~2.3e12 a book is not always_fast
    for kind, accounts in (("customer", ["c1", "c2"]), ("carrier", ["v1", "v2"])):
        for account in accounts:
            if draw(st.integers(0, 5)) == 0:
                continue  # an account with no deck on this side
            decimals = draw(st.integers(0, 9))
            rounding = draw(st.sampled_from([m.value for m in Rounding]))
            prefixes = set()
            for stem in stems:
                for cut in draw(st.sets(st.integers(1, len(stem)), max_size=4)):
                    prefixes.add(stem[:cut])
            prefixes |= draw(st.sets(st.text("0123456789", min_size=1, max_size=3), max_size=3))
            for p in sorted(prefixes):
                cuts = sorted(draw(st.sets(st.sampled_from(_EDGES), min_size=1, max_size=3)))
                cuts.append(OPEN_END)
                for a, b in zip(cuts, cuts[1:], strict=False):
                    if draw(st.integers(0, 5)) == 0:
                        continue  # a gap in the prefix's history
                    rows.append(
                        dict(
                            account=account,
                            kind=kind,
                            prefix=p,
                            destination=f"d{p}",
                            rate=draw(
                                st.one_of(
                                    st.integers(0, rate_top),
                                    st.sampled_from([0, 1, 6 * 10**6, rate_top]),
                                )
                            ),
                            connect_fee=draw(st.sampled_from([0, 0, 1, 10**7, 10**12, MAX_RATE]))
                            if huge
                            else draw(st.sampled_from([0, 0, 1, 10**7, 123456789, 10**12])),
                            initial_increment=draw(st.sampled_from([0, 1, 6, 30, 60, 999_999])),
                            next_increment=draw(st.sampled_from([0, 1, 6, 60, 7, 999_999])),
                            min_duration=draw(st.sampled_from([0, 0, 10, 90, 999_999])),
                            effective_from=a,
                            effective_until=b,
                            decimals=decimals,
                            rounding=rounding,
                            currency=draw(st.sampled_from(["USD", "USD", "EUR"])),
                        )
                    )
    return rows, stems


def _cdr_rows(stems: list[str]) -> st.SearchStrategy:
    numbers = st.one_of(
        st.tuples(st.sampled_from(stems), st.text("0123456789", max_size=6)).map(
            lambda t: (t[0] + t[1])[:15]
        ),
        st.text("0123456789", min_size=1, max_size=16),
        st.sampled_from(["+14", "0044", "01140", "", "4a", " 14 ", "1" * 16, "+", "9" * 15]),
        st.none(),
    )
    starts = st.one_of(
        st.sampled_from(_EDGES).flatmap(lambda e: st.sampled_from([e - 1, e, e + 1])),
        st.integers(1_699_990_000, 1_700_100_000),
        st.sampled_from([-1, MAX_INSTANT, MAX_INSTANT + 1]),
        st.none(),
    )
    durations = st.one_of(
        st.integers(-2, 400),
        st.none(),
        st.sampled_from([MAX_DURATION, MAX_DURATION + 1, 999_999, 1_000_000]),
    )
    return st.lists(
        st.tuples(
            starts,
            durations,
            numbers,
            st.sampled_from(["c1", "c2", "c9", None]),
            st.sampled_from(["v1", "v2", "v9", None]),
        ),
        min_size=1,
        max_size=20,
    )


def _scaled(amount: Decimal) -> int:
    """An amount as a scaled integer, exactly (whatever its size)."""
    with localcontext(prec=100):
        return int(amount * 10**SCALE)


def _assert_each_call_agrees(cdrs, rows, rates, grace) -> None:
    """Each batch-priced row equals ``price_call`` on its CDR, both sides, to the last unit."""
    for (start, duration, number, customer, carrier), row in zip(cdrs, rows, strict=True):
        if start is not None and start > _YEAR_9999:
            continue  # price_call reads instants up to year 9999 only (the batch: 36812)
        for side, kind, account in (("sell", "customer", customer), ("buy", "carrier", carrier)):
            one = price_call(
                number, start, duration, account=account, kind=kind, rates=rates, grace=grace
            )
            assert row[f"{side}_reason"] == one.reason, (side, row, one)
            if one.reason is None:
                assert _scaled(row[f"{side}_amount"]) == one.amount_scaled, (side, row, one)
                assert row[f"{side}_billed_seconds"] == one.billed_seconds
                assert row[f"{side}_prefix"] == one.prefix
            else:
                assert row[f"{side}_amount"] is None


@needs_c
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.booleans(), st.sampled_from([0, 0, 5, 60]))
def test_c_loop_numpy_path_and_price_call_agree(data, huge, grace):
    deck_rows, stems = data.draw(flat_decks(huge=huge))
    cdrs = data.draw(_cdr_rows(stems))
    rates = rates_frame(deck_rows) if deck_rows else rates_frame([])
    rater = Rater.from_rates(rates, grace=grace)
    table = canonical_table(pa.Table.from_pandas(cdr_frame(cdrs)))
    native, plain = _price_both_ways(rater, table)
    _assert_same(native, plain)
    _assert_each_call_agrees(cdrs, native.to_pylist(), rates, grace)


def _large_case(seed: int, n: int = 20_000) -> tuple[Rater, pa.Table]:
    """A deck of 3,000 prefixes up to 12 digits (two versions) and ``n`` CDRs, most of
    them matching: several blocks of the C loop, a deep trie, several root tables."""
    rng = np.random.default_rng(seed)
    stems = [str(x) for x in rng.integers(10**11, 9 * 10**11, 600)]  # none begins with 9
    prefixes = sorted({s[: int(k)] for s in stems for k in rng.integers(1, 13, 5)})
    rows = []
    for kind, account in (("customer", "c1"), ("carrier", "v1")):
        for p in prefixes:
            for a, b in ((0, 1_700_000_000), (1_700_000_000, OPEN_END)):
                rows.append(
                    dict(
                        account=account,
                        kind=kind,
                        prefix=p,
                        rate=int(rng.integers(0, 10**10)),
                        connect_fee=int(rng.choice([0, 10**7])),
                        initial_increment=int(rng.choice([1, 30, 60])),
                        next_increment=int(rng.choice([1, 6, 60])),
                        min_duration=int(rng.choice([0, 0, 30])),
                        rounding=str(rng.choice([m.value for m in Rounding])),
                        decimals=int(rng.integers(0, 10)),
                        effective_from=a,
                        effective_until=b,
                        currency="USD" if kind == "customer" else str(rng.choice(["USD", "EUR"])),
                    )
                )
    rater = Rater.from_rates(rates_frame(rows), grace=3)
    picks = rng.choice(stems, n)
    tails = rng.integers(0, 10**3, n).astype(str)
    numbers = np.char.add(picks.astype(str), tails).astype(object)
    numbers[rng.integers(0, n, n // 50)] = "999"  # some match nothing
    table = pa.table(
        {
            "start": rng.integers(1_699_000_000, 1_701_000_000, n),
            "duration": rng.integers(0, 4000, n),
            "number": pa.array(numbers.tolist(), pa.string()),
            "customer": pa.array(rng.choice(["c1", "c1", "c2"], n).tolist(), pa.string()),
            "carrier": ["v1"] * n,
        }
    )
    return rater, canonical_table(table)


@needs_c
@pytest.mark.parametrize("seed", [1, 2])
def test_c_loop_and_numpy_path_agree_on_a_large_batch(seed):
    rater, table = _large_case(seed)
    assert fastrate.flat_book(rater.sell) and fastrate.flat_book(rater.buy)
    assert len(rater.sell.seg_root) > 1  # several deck versions: several root tables
    native, plain = _price_both_ways(rater, table)
    _assert_same(native, plain)
    reasons = native.column("sell_reason").to_pylist()
    assert reasons.count(None) > len(reasons) // 2
    assert {"unknown_customer", "no_matching_prefix"} <= set(reasons)


@needs_c
def test_a_plan_with_tariffs_or_a_huge_rate_takes_the_numpy_path():
    # Interval tariffs, and rates so high that a long call passes int64, are not the C
    # loop's: it is not asked (and the numpy path prices them exactly).
    from tandem.rating.plan import parse_plan

    rows = [dict(account="c1", kind="customer", prefix="1", rate="0.01")]
    tiers = parse_plan({"customer": {"c1": {"tariffs": [{"prefix": "1", "rate": "0.5"}]}}})
    assert not fastrate.flat_book(Rater.from_rates(rates_frame(rows), tiers).sell)
    huge = [dict(account="c1", kind="customer", prefix="1", rate=MAX_RATE)]
    assert not fastrate.flat_book(Rater.from_rates(rates_frame(huge)).sell)
    assert fastrate.flat_book(Rater.from_rates(rates_frame(rows)).sell)


def test_the_numpy_path_prices_when_the_c_loop_is_off(numpy_path):
    rater, table = _large_case(3, n=2000)
    priced = rater.price(table)
    assert priced.column("sell_amount").null_count < 2000


def test_tandem_native_0_turns_the_c_loops_off():
    code = "from tandem.rating import fastrate; print(fastrate.BUILT, fastrate.NATIVE)"
    env = dict(os.environ, TANDEM_NATIVE="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == [str(fastrate.BUILT), "False"]
    env.pop("TANDEM_NATIVE")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == [str(fastrate.BUILT), str(fastrate.BUILT)]


# -- match keys of plain numbers ---------------------------------------------------------------


def _plain(value: str | None) -> bool:
    return value is None or (
        1 <= len(value) <= 15 and value.isascii() and value.isdigit() and value[0] != "0"
    )


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text("0123456789", min_size=1, max_size=16),
            st.text("0123456789+ -/:é", max_size=4),
            st.none(),
        ),
        max_size=40,
    ),
    st.integers(0, 5),
    st.booleans(),
)
def test_plain_keys_are_number_keys_of_the_normalised_digits(values, skip, padded):
    # padded: numbers after them, so that 16 bytes can be read from each of the values (the
    # C loop's 16-byte path; near the data's end it reads byte by byte)
    pad = ["123456789012345", "99999999999999"] if padded else []
    arr = pa.array(values + pad, pa.string()).slice(min(skip, len(values)))
    keys = fastrate.plain_keys(arr)
    if not all(_plain(v) for v in arr.to_pylist()):
        assert keys is None
        return
    assert keys is not None
    digits = e164_digits_array(arr)
    assert digits.to_pylist() == arr.to_pylist()  # plain numbers are their own digits
    assert keys.tolist() == number_keys(digits).tolist()


@needs_c
def test_plain_keys_of_the_longest_and_smallest_numbers():
    arr = pa.array(["999999999999999", "1", None, "100000000000000"], pa.string())
    assert fastrate.plain_keys(arr).tolist() == number_keys(e164_digits_array(arr)).tolist()
    assert fastrate.plain_keys(pa.array([], pa.string())).tolist() == []
    assert fastrate.plain_keys(pa.array(["1"], pa.large_string())) is None  # not its type


# -- the kernel refuses what it cannot price safely -----------------------------------------------


def _kernel_args(**change):
    """Arguments of ``_fastrate.price_side`` for one CDR on a one-row book."""
    one = np.ones(1, dtype=np.int64)
    args = dict(
        acct=np.zeros(1, np.int64),
        seg=np.zeros(1, np.int64),
        duration=one * 60,
        key=np.zeros(1, np.int64),
        reason=np.zeros(1, np.int64),
        roots=np.ones(11, np.int32),  # every key: row 0
        nodes=np.zeros(11, np.int32),
        root_digits=1,
        seg_root=None,
        seg_empty=np.zeros(1, bool),
        rate=one * 6 * 10**7,
        row_class=None,
        classes=np.array([[0, 60, 60, 0, 6 * 10**6, 0, 0, 0]], np.int64),
        grace=np.zeros(1, np.int64),
        codes=(5, 8, 7),
        row=np.empty(1, np.int64),
        amount=np.empty(1, np.int64),
        billed=np.empty(1, np.int64),
    )
    args.update(change)
    return args


@needs_c
def test_the_kernel_prices_one_call_and_refuses_bad_input():
    from tandem.rating import _fastrate

    args = _kernel_args()
    _fastrate.price_side(*args.values())
    assert (args["row"][0], args["billed"][0], args["amount"][0]) == (0, 60, 6 * 10**7)
    with pytest.raises(ValueError, match="out of the book"):
        _fastrate.price_side(*_kernel_args(seg=np.array([3], np.int64)).values())
    with pytest.raises(ValueError, match="out of the book"):
        _fastrate.price_side(*_kernel_args(roots=np.full(11, 5, np.int32)).values())
    with pytest.raises(ValueError, match="out of the book"):  # a node that is not there
        _fastrate.price_side(*_kernel_args(roots=np.full(11, -3, np.int32)).values())
    with pytest.raises(OverflowError):
        _fastrate.price_side(*_kernel_args(rate=np.array([2**62], np.int64)).values())
    bad_step = np.array([[0, 60, 60, 0, 7, 0, 0, 0]], np.int64)
    with pytest.raises(ValueError, match="step"):
        _fastrate.price_side(*_kernel_args(classes=bad_step).values())
    with pytest.raises(ValueError, match="mismatched"):
        _fastrate.price_side(*_kernel_args(duration=np.ones(2, np.int64)).values())
    with pytest.raises(TypeError, match="bytes"):
        _fastrate.price_side(*_kernel_args(key=np.zeros(1, np.int32)).values())
    with pytest.raises(TypeError):
        _fastrate.price_side(1, 2)


# -- the summary counts dictionary codes -----------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(["USD", "EUR", "IDR", None]), max_size=12),
        min_size=1,
        max_size=3,
    )
)
def test_dictionary_codes_count_as_the_values_do(chunks):
    col = pa.chunked_array(
        [pa.array(c, pa.string()).dictionary_encode() for c in chunks],
        pa.dictionary(pa.int32(), pa.string()),
    )
    plain = col.cast(pa.string())
    assert _value_counts(col) == _value_counts(plain)
    flat = plain.to_pylist()
    for found in (_rows_by_value(col), _rows_by_value(plain)):
        got = {
            value: list(range(len(flat))) if rows is None else np.flatnonzero(rows).tolist()
            for value, rows in found
        }
        want = {v: [i for i, x in enumerate(flat) if x == v] for v in set(flat) - {None}}
        assert got == want


def test_summary_of_a_batch_with_unrated_calls_and_two_currencies():
    rater, table = _large_case(4, n=3000)
    priced = rater.price(table)
    fast, generic = RatingSummary(), RatingSummary()
    fast.add(priced)
    decoded = pa.table(
        {
            name: col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col
            for name, col in zip(priced.column_names, priced.columns, strict=True)
        }
    )
    generic.add(decoded)
    assert fast == generic
    assert fast.unrated and fast.rated and sorted(fast.buy_total) == ["EUR", "USD"]


@needs_c
def test_the_c_loops_price_a_flat_book(monkeypatch):
    calls: list[str] = []
    real = fastrate._fastrate

    class Spy:
        def price_side(self, *args):
            calls.append("side")
            return real.price_side(*args)

        def plain_keys(self, *args):
            calls.append("keys")
            return real.plain_keys(*args)

        def decimal_words(self, *args):
            calls.append("words")
            return real.decimal_words(*args)

        def gather_codes(self, *args):
            calls.append("codes")
            return real.gather_codes(*args)

    monkeypatch.setattr(fastrate, "_fastrate", Spy())
    monkeypatch.setattr(fastrate, "NATIVE", True)
    rater, table = _large_case(5, n=500)
    rater.price(table)
    # both sides, the numbers once, the money columns (both sides' amounts and the margin)
    # and each side's prefix and destination codes
    assert sorted(calls) == ["codes", "codes", "keys", "side", "side", "words", "words", "words"]


def test_row_classes_built_by_several_threads_at_once():
    # The two threads pricing a batch's halves may both be first to ask a book for its
    # classes: each gets the whole answer (it is stored in one piece), never half of it.
    import threading
    from dataclasses import replace

    rater, _table = _large_case(6, n=10)
    for _ in range(20):
        book = replace(rater.sell, _native={})
        start = threading.Barrier(4)
        got: list = []

        def ask(book=book, start=start, got=got) -> None:
            start.wait()
            got.append(fastrate.row_classes(book))

        threads = [threading.Thread(target=ask) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(got) == 4
        for of_row, classes in got:
            assert of_row is not None and len(classes) > 1
            assert np.array_equal(of_row, got[0][0]) and np.array_equal(classes, got[0][1])


# -- the kernel against its reference, on every input (not only what a deck builds) ----------
#
# _fastrate.price_side works a tariff class out once per call: divisions by the next
# increment, the rounding step and 11**j as multiplications, the rounding mode as one
# comparison (2 * rem + tie > step), a class outside that domain (a step above 2**60, not a
# multiple of 60, a bad mode, next < 1) by the loop's first form. _reference_side is that
# first form in Python (int64 arithmetic wrapping as the C does, blocks of 256 CDRs, the
# first error of the first failing block raised), held to the kernel on random tries,
# classes and CDRs reaching every rounding mode, sign, tie and int64 edge.

_I64 = 2**63
_BLOCK = 256
_MODES = list(Rounding)  # the C's codes: HALF_UP 0, HALF_EVEN 1, UP 2, CEILING 3, DOWN 4, FLOOR 5


def _wrap(v: int) -> int:
    return (v + _I64) % (2 * _I64) - _I64


def _fits(v: int) -> bool:
    return -_I64 <= v < _I64


def _c_div(a: int, b: int) -> int:
    """C's division (towards 0)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


class _Refused(Exception):
    """The kernel's refusal: "index" (ValueError: an index out of the book's range), "step"
    (ValueError: a rounding step or mode out of range) or "overflow" (OverflowError)."""

    def __init__(self, kind: str):
        self.kind = kind


_REFUSALS = {
    "index": (ValueError, "an index out of the book's range"),
    "step": (ValueError, "a rounding step or mode out of range"),
    "overflow": (OverflowError, "a cost numerator beyond int64"),
}


def _reference_price(d: int, rate: int, tc: list[int]) -> tuple[int, int]:
    fee, first, nxt, mind, step, mode = tc[:6]
    seconds = max(d, mind)
    bill = first
    if seconds > first:
        rest = _wrap(seconds - first)
        bill = _wrap(bill + (rest if nxt == 1 else _wrap(_c_div(_wrap(rest + nxt - 1), nxt) * nxt)))
    numer = rate * bill
    if not _fits(numer) or not _fits(60 * fee) or not _fits(numer + 60 * fee):
        raise _Refused("overflow")
    numer += 60 * fee
    if step <= 0 or step % 60:
        raise _Refused("step")
    q, r = divmod(numer, step)
    up = False
    if r:
        if mode not in range(6):
            raise _Refused("step")
        twice = _wrap(2 * r)
        if _MODES[mode] in (Rounding.HALF_UP, Rounding.HALF_EVEN) and twice == step:
            up = numer >= 0 if _MODES[mode] is Rounding.HALF_UP else q % 2 == 1
        elif _MODES[mode] in (Rounding.HALF_UP, Rounding.HALF_EVEN):
            up = twice > step
        else:
            up = {
                Rounding.UP: numer >= 0,
                Rounding.CEILING: True,
                Rounding.DOWN: numer < 0,
                Rounding.FLOOR: False,
            }[_MODES[mode]]
    cost = (q + up) * (step // 60)
    if not _fits(cost):
        raise _Refused("overflow")
    return bill, cost


def _reference_side(a: dict) -> tuple[str | None, list, list, list, list]:
    """price_side's answer: (its refusal or None, reason, row, amount, billed)."""
    acct, seg, dur, key = (a[k].tolist() for k in ("acct", "seg", "duration", "key"))
    reason = a["reason"].tolist()
    roots, nodes, rate = a["roots"].tolist(), a["nodes"].tolist(), a["rate"].tolist()
    classes = a["classes"].tolist()
    row_class = None if a["row_class"] is None else a["row_class"].tolist()
    seg_root = None if a["seg_root"] is None else a["seg_root"].tolist()
    seg_empty, grace = a["seg_empty"].tolist(), a["grace"].tolist()
    unknown, nomatch, nodeck = a["codes"]
    level0 = 15 - a["root_digits"]
    n = len(acct)
    row, amount, billed = [-1] * n, [0] * n, [0] * n
    try:
        for base in range(0, n, _BLOCK):
            todo = []
            for i in range(base, min(base + _BLOCK, n)):
                if reason[i]:
                    continue
                if acct[i] < 0:
                    reason[i] = unknown
                    continue
                g, k = seg[i], key[i]
                if not (0 <= g < len(seg_empty) and acct[i] < len(grace) and 0 <= k < 11**15):
                    raise _Refused("index")
                if seg_empty[g]:
                    reason[i] = nodeck
                    continue
                p = k // 11**level0 + (seg_root[g] if seg_root else 0)
                if not 0 <= p < len(roots):
                    raise _Refused("index")
                todo.append([i, roots[p]])
            level = level0
            while any(e < 0 for _, e in todo):
                level -= 1
                for t in todo:
                    if t[1] < 0:
                        node = -1 - t[1]
                        if level < 0 or node >= len(nodes) // 11:
                            raise _Refused("index")
                        t[1] = nodes[node * 11 + key[t[0]] // 11**level % 11]
            if any(e > len(rate) for _, e in todo):
                raise _Refused("index")
            for i, e in todo:
                if e == 0:
                    reason[i] = nomatch
                    continue
                row[i] = e - 1
                if dur[i] <= 0 or dur[i] <= grace[acct[i]]:
                    continue
                cl = row_class[e - 1] if row_class else 0
                if not 0 <= cl < len(classes):
                    raise _Refused("index")
                billed[i], amount[i] = _reference_price(dur[i], rate[e - 1], classes[cl])
    except _Refused as refused:
        return refused.kind, reason, row, amount, billed
    return None, reason, row, amount, billed


def _kernel_side(a: dict) -> tuple[str | None, list, list, list, list]:
    from tandem.rating import _fastrate

    args = dict(a, reason=a["reason"].copy())
    n = len(a["acct"])
    args["row"], args["amount"], args["billed"] = (np.full(n, 77, np.int64) for _ in range(3))
    try:
        _fastrate.price_side(*args.values())
    except (ValueError, OverflowError) as exc:
        kind = [k for k, (cls, text) in _REFUSALS.items() if type(exc) is cls and text in str(exc)]
        assert len(kind) == 1, exc
        return kind[0], [], [], [], []
    return None, *(args[k].tolist() for k in ("reason", "row", "amount", "billed"))


_STEP_TOP = 2**60 - 2**60 % 60  # the largest step the kernel divides by multiplication
#: steps above it, up to int64's largest multiple of 60 (2 * step, 3 * step overflow)
_STEPS_ABOVE = [_STEP_TOP + 60, 2**61 - 2**61 % 60, 2**62 - 2**62 % 60, (_I64 - 1) // 60 * 60]
_EDGES64 = [_I64 - 1, -_I64, _I64 // 60, -(_I64 // 60) - 1, 2**62, -(2**62), 2**31, 10**18]


def _classes():
    """Tariff classes: what decks build (steps 60 * 10**k, increments 1 and 60, ...) and
    every edge of the kernel's fast domain and beyond it."""
    money = st.one_of(st.sampled_from([0, 1, -1, 10**7, 10**12]), st.integers(-_I64, _I64 - 1))
    return st.tuples(
        st.one_of(st.sampled_from([0, 0, 1, 10**7, 123456789, 10**12, -(10**7)]), money),  # fee
        st.sampled_from([1, 1, 6, 30, 60, 999_999, 0, -5, 2**62, _I64 - 1]),  # first
        st.one_of(
            st.sampled_from([1, 1, 60, 6, 7, 2, 3, 999_999, 2**62, 2**62 + 1, _I64 - 1, -3]),
            st.integers(1, 10**6),
        ),  # next
        st.sampled_from([0, 0, 10, 90, 999_999, -4, _I64 - 1]),  # minimum duration
        st.one_of(
            st.sampled_from([60, 120, 180, 420, 6 * 10**6, 60 * 10**9, 60 * 999_983]),
            st.sampled_from([_STEP_TOP, 2**62 - 4, *_STEPS_ABOVE]),
            st.sampled_from([7, 0, -60, 90]),
            st.integers(1, 10**7).map(lambda k: 60 * k),
        ),  # rounding step
        st.one_of(st.integers(0, 5), st.sampled_from([6, -1])),  # mode
    ).map(lambda t: [*t, 0, 0])


@st.composite
def kernel_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    sane = draw(st.booleans())  # a deck's values (few errors) or anything
    digits = draw(st.integers(1, 3))
    nsegs = draw(st.integers(1, 3))
    several = draw(st.booleans())
    nrows = draw(st.integers(1, 30))
    nnodes = draw(st.integers(0, 20))
    if sane:
        cls = draw(
            st.lists(
                st.tuples(
                    st.sampled_from([0, 0, 1, 10**7, -(10**7), 10**12]),
                    st.sampled_from([1, 6, 30, 60]),
                    st.sampled_from([1, 2, 6, 7, 60]),
                    st.sampled_from([0, 10, 90]),
                    st.sampled_from([60, 120, 180, 420, 6 * 10**6, 60 * 10**9, _STEP_TOP]),
                    st.integers(0, 5),
                ).map(lambda t: [*t, 0, 0]),
                min_size=1,
                max_size=4,
            )
        )
    else:
        cls = draw(st.lists(_classes(), min_size=1, max_size=4))
    # a trie: the root tables, then nodes; the deeper half of the nodes point to rows only
    # unless `cycles` (then a walk may run out of levels: an index out of range)
    table = 11**digits
    roots = rng.integers(-nnodes, nrows + 1, table * (nsegs if several else 1)).astype(np.int32)
    nodes = rng.integers(-nnodes, nrows + 1, 11 * nnodes).astype(np.int32)
    if nnodes and not draw(st.booleans()):  # cycles
        half = nnodes // 2
        nodes[11 * half :] = np.abs(nodes[11 * half :])
        top = nodes[: 11 * half]
        nodes[: 11 * half] = np.where(top < 0, -1 - half - (-1 - top) % max(1, nnodes - half), top)
    rate_top = draw(st.sampled_from([10**3, 10**9, 10**12] if sane else [10**9, 10**15, 2**62]))
    rate = rng.integers(-rate_top, rate_top, nrows).astype(np.int64)
    if draw(st.booleans()):
        rate = np.abs(rate)
    if not sane:
        rate[0] = draw(st.sampled_from([0, *_EDGES64]))
    naccts = draw(st.integers(1, 3))
    graces = st.sampled_from([0, 0, 5, 60, -3, _I64 - 1])
    grace = np.array(draw(st.lists(graces, min_size=naccts, max_size=naccts)), np.int64)
    n = draw(st.sampled_from([1, 7, 255, 256, 257, 600]))
    acct = rng.integers(-1, naccts, n)
    seg = rng.integers(0, nsegs, n)
    key = rng.integers(0, 11**15, n)
    if sane:
        duration = rng.integers(-2, 2000, n)
    else:
        edges = np.array([0, 1, 59, 60, 61, _I64 - 1, -_I64, 2**62, 10**12, 999_999])
        duration = np.where(rng.random(n) < 0.7, rng.integers(-2, 2000, n), rng.choice(edges, n))
    reason = np.where(rng.random(n) < 0.1, 3, 0)
    case = dict(
        acct=acct.astype(np.int64),
        seg=seg.astype(np.int64),
        duration=duration.astype(np.int64),
        key=key.astype(np.int64),
        reason=reason.astype(np.int64),
        roots=roots,
        nodes=nodes,
        root_digits=digits,
        seg_root=(np.arange(nsegs) * table).astype(np.int64) if several else None,
        seg_empty=rng.random(nsegs) < 0.2,
        rate=rate,
        row_class=rng.integers(0, len(cls), nrows).astype(np.int32) if len(cls) > 1 else None,
        classes=np.array(cls, np.int64),
        grace=grace,
        codes=(5, 8, 7),
    )
    # now and then one index out of range, where a CDR or the book can have it
    spoils = ["acct", "seg", "key", "root", "node", "class", "row"]
    spoil = draw(st.sampled_from([None] * 8 + spoils))
    at = int(rng.integers(0, n))
    if spoil == "acct":
        case["acct"][at] = naccts
    elif spoil == "seg":
        case["seg"][at] = nsegs
    elif spoil == "key":
        case["key"][at] = draw(st.sampled_from([11**15, -1]))
    elif spoil == "root":
        case["roots"][int(rng.integers(0, len(roots)))] = nrows + 1
    elif spoil == "node" and nnodes:
        case["nodes"][int(rng.integers(0, len(nodes)))] = -1 - nnodes
    elif spoil == "row" and nnodes:  # a row out of range in a node
        case["nodes"][int(rng.integers(0, len(nodes)))] = nrows + 1
    elif spoil == "class" and case["row_class"] is not None:
        case["row_class"][0] = len(cls)
    return case


@needs_c
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kernel_cases())
def test_the_kernel_gives_its_first_forms_answers(case):
    want = _reference_side(case)
    got = _kernel_side(case)
    assert got[0] == want[0]
    if want[0] is None:
        assert got[1:] == want[1:]


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    st.integers(-_I64, _I64 - 1),
    st.one_of(
        st.sampled_from([60, 120, 180, 6 * 10**6, 60 * 10**9, _STEP_TOP, *_STEPS_ABOVE]),
        st.integers(1, 2**56).map(lambda k: 60 * k),
    ),
    st.integers(0, 5),
    st.sampled_from([-1, 0, 1]),
)
def test_every_rounding_of_any_int64_numerator(numer, step, mode, nudge):
    # One call of 1 s at rate `numer` (fee 0, increments 1): the cost numerator is `numer`
    # itself, anywhere in int64, nudged onto a tie or a multiple of the step half the time.
    if nudge:
        q, off = numer // step, step // 2 if nudge > 0 else 0
        numer = next(v for v in ((q + j) * step + off for j in (0, -1, 1)) if _fits(v))
    case = _kernel_args(
        duration=np.array([1], np.int64),
        rate=np.array([numer], np.int64),
        classes=np.array([[0, 1, 1, 0, step, mode, 0, 0]], np.int64),
    )
    case["reason"] = np.zeros(1, np.int64)
    want = _reference_side(case)
    assert _kernel_side(case)[0] == want[0]
    if want[0] is None:
        assert _kernel_side(case)[1:] == want[1:]
        if step <= 2**62:  # above, 2 * remainder wraps in the C (as it always has)
            rounded = round_scaled(numer, step, _MODES[mode]) // 60  # the cost of a minute
            assert want[3] == [rounded] or not _fits(rounded)


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    st.integers(-(2**62), 2**62),
    st.sampled_from([1, 2, 6, 7, 60, 999_999, 2**31 - 1, 2**62, 2**62 + 1, _I64 - 1]),
    st.sampled_from([0, 1, 6, 30, 60, 999_999, 2**62, _I64 - 1, -5]),
    st.sampled_from([0, 10, 90, _I64 - 1]),
)
def test_increments_of_any_duration(duration, nxt, first, mind):
    # rate 0: only the billed seconds (and their wrap-around, as the C has always done it)
    case = _kernel_args(
        duration=np.array([duration], np.int64),
        rate=np.zeros(1, np.int64),
        classes=np.array([[0, first, nxt, mind, 60, 0, 0, 0]], np.int64),
    )
    want = _reference_side(case)
    assert _kernel_side(case) == want


@needs_c
@pytest.mark.parametrize(
    ("overflow_at", "index_at", "refusal"),
    [
        (10, 300, "overflow"),  # blocks of 256 fail in order: the first block's overflow
        (300, 10, "index"),
        (10, 200, "index"),  # within a block, every CDR's indexes before any price
        (300, 600, "overflow"),  # the last, short block
        (600, 300, "index"),
    ],
)
def test_the_first_failing_block_gives_the_error(overflow_at, index_at, refusal):
    n = 700
    case = _kernel_args(
        acct=np.zeros(n, np.int64),
        seg=np.zeros(n, np.int64),
        duration=np.full(n, 61, np.int64),
        key=np.arange(n, dtype=np.int64) * 10**11,
        reason=np.zeros(n, np.int64),
        row=np.empty(n, np.int64),
        amount=np.empty(n, np.int64),
        billed=np.empty(n, np.int64),
    )
    case["duration"][overflow_at] = 2**62
    case["seg"][index_at] = 1
    assert _reference_side(case)[0] == refusal
    assert _kernel_side(case)[0] == refusal


# -- the money columns' words and exact totals in C ----------------------------------------------

_int64s = st.integers(-(2**63), 2**63 - 1)


@needs_c
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_int64s, _int64s), max_size=40), st.booleans())
def test_decimal_words_are_numpys_words(pairs, difference):
    a = np.asarray([x for x, _ in pairs], dtype=np.int64)
    b = np.asarray([y for _, y in pairs], dtype=np.int64) if difference else None
    with np.errstate(over="ignore"):
        values = a - b if b is not None else a  # numpy's int64 subtraction wraps
    words = np.full((len(a), 2), 7, dtype=np.int64)
    valid = np.ones(len(a), dtype=bool)
    saved = fastrate.NATIVE
    try:
        fastrate.NATIVE = True
        assert fastrate.decimal_words(a, b, words) == sum(values.tolist())
        native = amount_array(a, valid, None, AMOUNT_TYPE, minus=b)
        assert exact_total(native) == sum(values.tolist())  # the total kept as it was written
        if len(a) > 1:
            assert exact_total(native.slice(1)) == sum(values.tolist()[1:])
        fastrate.NATIVE = False
        plain = amount_array(a, valid, None, AMOUNT_TYPE, minus=b)
    finally:
        fastrate.NATIVE = saved
    assert words[:, 0].tolist() == values.tolist()
    assert words[:, 1].tolist() == (values >> 63).tolist()
    assert native.equals(plain)


@needs_c
@settings(max_examples=200, deadline=None)
@given(
    # the numpy path's high limb is one int64 per row (tandem.rating.amounts): sums up to
    # 2**63 * 2**64 (a few values near 10**38 pass it); the C loop's is split in two
    st.lists(st.integers(-(10**30), 10**30), max_size=40),
    st.lists(st.booleans(), max_size=40),
    st.integers(0, 6),
)
def test_decimal_total_is_the_exact_sum(values, nulls, offset):
    n = len(values)
    valid = ~np.asarray((nulls + [False] * n)[:n], dtype=bool)
    arr = amount_array(np.zeros(n, np.int64), valid, (np.arange(n), values)).slice(offset)
    want = sum(v for v, ok in list(zip(values, valid, strict=True))[offset:] if ok)
    saved = fastrate.NATIVE
    try:
        fastrate.NATIVE = True
        assert fastrate.decimal_total(arr) == want
        fastrate.NATIVE = False
        assert fastrate.decimal_total(arr) is None
        assert exact_total(arr) == want  # the numpy path
    finally:
        fastrate.NATIVE = saved


@needs_c
def test_the_money_kernels_refuse_bad_input():
    from tandem.rating import _fastrate

    with pytest.raises(ValueError, match="mismatched"):
        _fastrate.decimal_words(np.zeros(3, np.int64), None, np.zeros(5, np.int64))
    with pytest.raises(ValueError, match="mismatched"):
        _fastrate.decimal_words(np.zeros(3, np.int64), np.zeros(2, np.int64), np.zeros(6, np.int64))
    with pytest.raises(TypeError, match="bytes"):
        _fastrate.decimal_words(np.zeros(3, np.int32), None, np.zeros(6, np.int64))
    with pytest.raises(ValueError, match="shorter"):
        _fastrate.decimal_total(bytes(32), 1, 2, None)
    with pytest.raises(ValueError, match="shorter"):
        _fastrate.decimal_total(bytes(16 * 20), 0, 20, bytes(2))
    with pytest.raises(ValueError, match="range"):
        _fastrate.decimal_total(bytes(16), -1, 1, None)
    assert _fastrate.decimal_total(bytes(16 * 9), 0, 9, bytes([0xFF, 0x01])) == (0, 0, 0, 0)


@needs_c
def test_a_money_arrays_total_is_kept_while_it_lives(monkeypatch):
    from tandem.rating import amounts

    monkeypatch.setattr(fastrate, "NATIVE", True)
    values = np.asarray([5, -7, 2**62, 11], dtype=np.int64)
    arr = amount_array(values, np.ones(4, dtype=bool), None, AMOUNT_TYPE)
    address = arr.buffers()[1].address
    assert amounts._TOTALS[address][2] == 2**62 + 9
    # exact_total reads it (not the buffer): a kept total that differed would be returned
    ref, rows, _total = amounts._TOTALS[address]
    amounts._TOTALS[address] = (ref, rows, 1)
    assert exact_total(arr) == 1
    amounts._TOTALS[address] = (ref, rows, 2**62 + 9)
    nulls = amount_array(values, np.asarray([True, False, True, True]), None, AMOUNT_TYPE)
    assert exact_total(nulls) == 2**62 + 16  # with a null (-7): another array, summed in C
    del arr
    import gc

    gc.collect()
    assert address not in amounts._TOTALS  # gone with its words


@needs_c
@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-3, 9), max_size=40),
    st.lists(st.integers(-(2**31), 2**31 - 1), min_size=10, max_size=10),
    st.booleans(),
    st.booleans(),
)
def test_gather_codes_reads_both_tables_as_numpy_does(rows, table, with_a, with_b):
    row = np.asarray(rows, dtype=np.int64)
    a = np.asarray(table, dtype=np.int32)
    b = a[::-1].copy()
    saved = fastrate.NATIVE
    try:
        fastrate.NATIVE = True
        got = fastrate.gather_codes(row, a if with_a else None, b if with_b else None)
        fastrate.NATIVE = False
        assert fastrate.gather_codes(row, a, b) is None
    finally:
        fastrate.NATIVE = saved
    assert got is not None
    out_a, out_b, missing = got
    safe = np.maximum(row, 0)
    assert missing == int((row < 0).sum())
    assert (out_a is None) == (not with_a) and (out_b is None) == (not with_b)
    if with_a:
        assert out_a.tolist() == a[safe].tolist()
    if with_b:
        assert out_b.tolist() == b[safe].tolist()


@needs_c
def test_gather_codes_refuses_a_row_past_the_tables(monkeypatch):
    monkeypatch.setattr(fastrate, "NATIVE", True)
    with pytest.raises(ValueError, match="past"):
        fastrate.gather_codes(np.asarray([0, 5]), np.zeros(5, np.int32), None)
    with pytest.raises(ValueError, match="past"):
        fastrate.gather_codes(np.asarray([3]), np.zeros(5, np.int32), np.zeros(3, np.int32))
    assert fastrate.gather_codes(np.asarray([-1, 7]), None, None)[2] == 1  # only counted
