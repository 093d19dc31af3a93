"""The scan's vectorised shortcuts answer exactly what the simple way answers, on random
small inputs:

* the high-risk prefix of every number, looked up in sorted number ranges
  (``_risk_ranges``), against :meth:`HighRiskMatcher.match` number by number;
* E.164 numbers checked on the bytes of an all-digit column (``_plain_numbers``), against
  the regular expression the general path matches;
* decimal money read from its 16-byte words (``_decimal_words``), against the cast to
  ``decimal128(38, SCALE)``;

and a CDR the scan cannot read is counted and reported, never dropped."""

from __future__ import annotations

import importlib
import re
from decimal import Decimal
from typing import Any
from unittest import mock

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from fraud_helpers import cdr_table
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fraud_scan_chunks import rows_strategy

from tandem.fraud import fraud_config_from_mapping, scan
from tandem.fraud.highrisk import HighRiskMatcher
from tandem.fraud.rows import (
    _decimal_words,
    _every_one_named,
    _names,
    _names_text,
    _plain_numbers,
)
from tandem.money import SCALE
from tandem.rating.cdr import canonical_table

scan_module = importlib.import_module("tandem.fraud.scanner")

_digits = st.text(alphabet="0123456789", min_size=1, max_size=6)


def _ranges_lookup(matcher: HighRiskMatcher, numbers: list[str]) -> list[int]:
    bounds, answers = scan_module._risk_ranges(matcher)
    keys = np.asarray([len(x) * scan_module._RANGE_BASE + int(x) for x in numbers], np.int64)
    return answers[np.searchsorted(bounds, keys, side="right") - 1].tolist()


@settings(max_examples=300, deadline=None)
@given(
    prefixes=st.lists(_digits, max_size=8),
    allow=st.lists(_digits, max_size=4),
    deny=st.lists(_digits, max_size=4),
    numbers=st.lists(
        st.one_of(
            st.from_regex(r"[1-9][0-9]{0,14}", fullmatch=True),
            st.sampled_from(["8", "88", "881", "8812", "88123", "1" * 15, "9" * 15, "1"]),
        ),
        min_size=1,
        max_size=30,
    ),
)
def test_ranges_equal_the_matcher(
    prefixes: list[str], allow: list[str], deny: list[str], numbers: list[str]
) -> None:
    matcher = HighRiskMatcher(prefixes, allow=allow, deny=deny)
    # numbers under the prefixes (and just around them) as well as random ones
    near = [p.lstrip("0") + tail for p in prefixes + allow + deny for tail in ("", "0", "99")]
    numbers = numbers + [x for x in near if x and x[0] != "0" and len(x) <= 15]
    expected = [-1 if (hit := matcher.match(x)) is None else int(hit) for x in numbers]
    assert _ranges_lookup(matcher, numbers) == expected


_number_texts = st.lists(
    st.one_of(
        st.none(),
        st.text(alphabet="0123456789", max_size=17),
        st.text(alphabet="0123456789+ x", max_size=17),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(texts=_number_texts, offset=st.integers(0, 3))
def test_plain_numbers_equal_the_regular_expression(texts: list[str | None], offset: int) -> None:
    col = pa.array(["x"] * offset + texts, pa.string()).slice(offset)  # a sliced array too
    found = _plain_numbers(col)
    if found is None:  # not every byte a digit: the general path reads it
        assert any(t is not None and not t.isdigit() for t in texts) or not any(texts)
        return
    expected = [t is not None and re.fullmatch(r"[1-9][0-9]{0,14}", t) is not None for t in texts]
    assert found.tolist() == expected


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.none(),
            st.integers(-(10**20), 10**20),
            st.sampled_from([0, 1, -1, 2**63 // 10**5, -(2**63 // 10**5) - 1, 10**18]),
        ),
        max_size=20,
    ),
    scale=st.integers(0, SCALE),
    offset=st.integers(0, 2),
)
def test_decimal_words_equal_the_cast(values: list[int | None], scale: int, offset: int) -> None:
    typ = pa.decimal128(38 - SCALE + scale, scale)
    raw = [None if v is None else Decimal(v).scaleb(-scale) for v in values]
    col = pa.array([Decimal(0)] * offset + raw, typ).slice(offset)
    got, good = _decimal_words(col, SCALE - scale)
    cast = pc.cast(col, pa.decimal128(38, SCALE))
    for i, v in enumerate(cast.to_pylist()):
        unscaled = None if v is None else int(v.scaleb(SCALE))
        fits = unscaled is not None and -(2**63) <= unscaled < 2**63
        assert bool(good[i]) == fits
        assert int(got[i]) == (unscaled if fits else 0)


def _config() -> Any:
    return fraud_config_from_mapping({"high_risk": {"prefixes": ["881"]}})


def test_unreadable_cdrs_are_counted_and_reported() -> None:
    """Unreadable CDRs among readable ones, in a column read by the all-digit shortcut
    and in one that is not: each counted under its reason, none alerted on, and the
    readable ones still scanned."""
    numbers = ["8812345", "0441234", "1" * 16, "", None, "4420001", "8812346"]
    table = canonical_table(
        pa.table(
            {
                "start": pa.array([10, 11, 12, 13, 14, None, 16], pa.int64()),
                "duration": pa.array([5, 5, 5, 5, 5, 5, -1], pa.int64()),
                "number": pa.array(numbers, pa.string()),
                "customer": pa.array(["a"] * 7, pa.string()),
                "carrier": pa.array(["c"] * 7, pa.string()),
            }
        )
    )
    result = scan(table, _config())
    assert result.rows_in == 7
    assert result.unreadable == 6
    assert result.unreadable_reasons == {"no_start": 1, "bad_duration": 1, "bad_number": 4}
    assert [e.calls for e in result.alerts if e.rule == "high_risk"] == [1]
    assert result.to_json()["unreadable"] == 6
    # the same CDRs with a '+' (the general path): the same counts
    plus = table.set_column(
        table.column_names.index("number"),
        "number",
        pa.array([None if x is None else "+" + x for x in numbers], pa.string()),
    )
    again = scan(plus, _config())
    assert (again.unreadable, again.unreadable_reasons) == (6, result.unreadable_reasons)


rows_module = importlib.import_module("tandem.fraud.rows")


@settings(max_examples=100, deadline=None)
@given(rows=rows_strategy)
def test_side_columns_in_a_thread_change_nothing(rows: list[tuple[Any, ...]]) -> None:
    """The name and money columns read in a second thread (at any size): the same rows."""
    table = cdr_table(rows)
    one, notes_one = rows_module.scan_rows(table, group_prefix_length=3, workers=1)
    with mock.patch.object(rows_module, "_PARALLEL_ROWS", 0):
        two, notes_two = rows_module.scan_rows(table, group_prefix_length=3, workers=2)
    assert notes_one == notes_two
    for name in ("record", "start", "number", "customer", "trunk", "source_ip", "cost", "rate"):
        a, b = getattr(one, name), getattr(two, name)
        assert (a is None and b is None) or np.array_equal(a, b)
    assert (one.trunk_names, one.ip_names) == (two.trunk_names, two.ip_names)


_WINDOW_ROWS = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 40), st.integers(0, 12), st.booleans()),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(rows=_WINDOW_ROWS, chunk=st.integers(1, 20), span=st.sampled_from([1, 2, 3, 50]))
def test_keyed_windows_over_parts_equal_brute_force(
    rows: list[tuple[int, int, int, bool]], chunk: int, span: int
) -> None:
    """Window counts and calls in progress per key, over parts of whole keys whose
    groupings order the whole scan's rows (``_keyed``), against counting by hand."""
    rows = sorted(rows, key=lambda r: r[1])  # replay order: by start (stable)
    key = np.asarray([r[0] for r in rows], np.int64)
    start = np.asarray([r[1] for r in rows], np.int64)
    end = start + np.asarray([r[2] for r in rows], np.int64)
    holds = np.asarray([r[3] for r in rows], bool)
    (count,) = scan_module._keyed(key, chunk, scan_module._windows((span,)), start // 2, holds)
    (busy,) = scan_module._keyed(key, chunk, scan_module._in_progress, start, end, holds)
    for i in range(len(rows)):
        same = [j for j in range(len(rows)) if key[j] == key[i]]
        b = start[i] // 2
        assert count[i] == sum(1 for j in same if j <= i and holds[j] and b - span < start[j] // 2)
        assert busy[i] == sum(1 for j in same if j < i and holds[j] and end[j] > start[i])


# Every code point Python's str.strip removes (str.isspace), and a few that it keeps.
_SPACES = [chr(c) for c in range(0x3001) if chr(c).isspace()]
_NAME_TEXTS = st.lists(
    st.one_of(
        st.none(),
        st.builds(
            lambda left, core, right: left + core + right,
            st.text(st.sampled_from(_SPACES), max_size=2),
            st.sampled_from(["", "acme", "beta", "a b", "\u200b", "x\x00"]),
            st.text(st.sampled_from(_SPACES), max_size=2),
        ),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(texts=_NAME_TEXTS)
def test_name_columns_are_trimmed_alike_on_both_paths(texts: list[str | None]) -> None:
    """The two readers of a dictionary name column, ``_names`` (Python's ``str.strip`` of
    each distinct value) and the scan's all-named fast path (``_every_one_named`` over
    ``_names_text``, Arrow's ``utf8_trim_whitespace``), trim the same characters: the
    same names, and the same rows named, as ``str.strip`` gives."""
    col = pc.dictionary_encode(pa.array(texts, pa.string()))
    codes, names = _names(col, len(texts))
    stripped = [None if t is None else t.strip() for t in texts]
    assert [names[c] if c >= 0 else None for c in codes] == [s or None for s in stripped]
    fast = _every_one_named(_names_text(col))
    if all(stripped):
        assert fast is not None
        fast_codes, fast_names = fast
        assert [fast_names[c] for c in fast_codes] == stripped
    else:
        assert fast is None
