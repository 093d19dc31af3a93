"""Property tests: the deck reader never crashes on junk, and generated decks read back exactly."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.decks.parse import DeckOptions, parse_deck
from tandem.decks.values import read_money
from tandem.errors import DeckError, MoneyError
from tandem.money import parse_decimal, to_scaled

NOW = int(datetime(2026, 11, 23, tzinfo=UTC).timestamp())
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def read_or_deck_error(data: bytes, **options) -> None:
    try:
        parsed = parse_deck(data, DeckOptions(**options), now=NOW, source_name="fuzz")
    except DeckError:
        return
    assert parsed.accepted == len(parsed.rates)
    for r in parsed.rejected:
        assert r.line >= 1 and r.reason


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_give_a_result_or_deck_error(data):
    read_or_deck_error(data)


HEADERISH = st.sampled_from(
    [
        "Code",
        "Rate",
        "Prefix",
        "Price",
        "Effective Date",
        "Increment",
        "Status",
        "Interval",
        "Connection",
        "Minimum Duration",
        "Initial",
        "Next",
        "USD/min",
        "Destination",
        "",
    ]
)
CELL = st.one_of(
    st.text(max_size=12),
    st.from_regex(r"[0-9+ ;,\-]{0,12}", fullmatch=True),
    st.from_regex(r"-?[0-9]{0,4}[.,]?[0-9]{0,10}(E-?[0-9])?", fullmatch=True),
    st.sampled_from(["60/60", "0/0", "2026-12-01", "31/02/2026", "Closed", "New", "1e999"]),
)


@FUZZ
@given(
    st.lists(HEADERISH, min_size=2, max_size=6),
    st.lists(st.lists(CELL, max_size=7), max_size=8),
    st.sampled_from([",", ";", "\t", "|"]),
    st.booleans(),
)
def test_random_text_decks_give_a_result_or_deck_error(header, rows, delimiter, comma):
    out = io.StringIO()
    w = csv.writer(out, delimiter=delimiter)
    w.writerow(header)
    w.writerows(rows)
    read_or_deck_error(out.getvalue().encode("utf-8"), decimal_comma=comma)


@FUZZ
@given(st.text(max_size=300))
def test_random_text_gives_a_result_or_deck_error(text):
    read_or_deck_error(text.encode("utf-8"))
    read_or_deck_error(("Code,Rate\n" + text).encode("utf-8"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(CELL, st.text(max_size=8)), min_size=1, max_size=20), st.booleans())
def test_vectorised_money_agrees_with_parse_decimal(cells, comma):
    """The Arrow fast path and tandem.money.parse_decimal read every cell alike."""
    values, present, errors = read_money(
        pa.array(cells, type=pa.string()), decimal_comma=comma, what="rate"
    )
    for i, cell in enumerate(cells):
        if not cell.strip():
            assert not present[i]
            continue
        try:
            expected = parse_decimal(cell.strip(), decimal_comma=comma, field="rate")
            if expected < 0:
                assert i in errors and "negative" in errors[i]
                continue
            scaled = to_scaled(expected, field="rate")
        except MoneyError:
            assert i in errors, (cell, values[i])
            continue
        assert i not in errors, (cell, errors.get(i))
        assert values[i] == scaled, cell


PREFIX_HEADERS = ["Code", "Prefix", "Dial Code", "Dialcode"]
RATE_HEADERS = ["Rate", "Price", "Rate per min", "USD/min"]
DEST_HEADERS = ["Destination", "Country", "Description"]


@st.composite
def generated_decks(draw):
    prefixes = draw(
        st.lists(
            st.from_regex(r"[1-9][0-9]{0,9}", fullmatch=True), min_size=1, max_size=40, unique=True
        )
    )
    rates = [
        Decimal(draw(st.integers(min_value=0, max_value=10**9))).scaleb(
            -draw(st.integers(min_value=0, max_value=9))
        )
        for _ in prefixes
    ]
    return (
        prefixes,
        rates,
        draw(st.sampled_from(PREFIX_HEADERS)),
        draw(st.sampled_from(RATE_HEADERS)),
        draw(st.sampled_from(DEST_HEADERS)),
        draw(st.sampled_from([",", ";", "\t", "|"])),
        draw(st.booleans()),
        draw(st.integers(min_value=0, max_value=5)),
    )


@settings(max_examples=50, deadline=None)
@given(generated_decks())
def test_generated_deck_reads_back_exactly(deck):
    prefixes, rates, code_h, rate_h, dest_h, delimiter, comma, title_lines = deck
    out = io.StringIO()
    for i in range(title_lines):
        out.write(f"Vendor rate sheet page {i}\n")
    w = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    w.writerow([dest_h, code_h, rate_h])
    for prefix, rate in zip(prefixes, rates, strict=True):
        text = format(rate, "f")
        if comma:
            text = text.replace(".", ",")
        w.writerow([f"Destination {prefix}", prefix, text])
    parsed = parse_deck(out.getvalue().encode("utf-8"), DeckOptions(decimal_comma=comma), now=NOW)
    assert parsed.rejected == [] or any("suspicious" in r.reason for r in parsed.rejected)
    got = dict(zip(parsed.rates["prefix"], parsed.rates["rate"], strict=True))
    expected = {p: to_scaled(r) for p, r in zip(prefixes, rates, strict=True)}
    suspicious = {r.line for r in parsed.rejected}
    lines = {p: title_lines + 2 + i for i, p in enumerate(prefixes)}
    assert got == {p: v for p, v in expected.items() if lines[p] not in suspicious}
    assert parsed.header_line == title_lines + 1


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["4", "44", "440", "45"]),
            st.integers(0, 20),
            st.integers(0, 25),
            st.integers(1, 99),
            st.integers(1, 3),
        ),
        max_size=12,
        # the store never holds two rows of one prefix starting together in one version
        unique_by=lambda h: (h[0], h[1], h[4]),
    ),
    st.lists(
        st.tuples(st.sampled_from(["4", "44", "440", "45", "46"]), st.integers(0, 30)), max_size=12
    ),
    st.booleans(),
)
def test_previous_rate_lookup_matches_brute_force(history, queries, inclusive):
    """The vectorised as-of lookup against a loop over every stored row."""
    import numpy as np
    import pandas as pd

    from tandem.decks.diff import _previous_at

    previous = pd.DataFrame(
        history, columns=["prefix", "effective_from", "effective_until", "rate", "version"]
    )
    prefixes = np.array([q[0] for q in queries], dtype=object)
    times = np.array([q[1] for q in queries], dtype=np.int64)
    got = _previous_at(previous, prefixes, times, inclusive_until=inclusive)
    for (prefix, t), value in zip(queries, got.tolist(), strict=True):
        rows = [h for h in history if h[0] == prefix and h[1] <= t]
        best = max(rows, key=lambda h: (h[1], h[4]), default=None)
        if best is None:
            assert value == -1
            continue
        # Rows tied on (start, version) may be taken in either order: each tied row
        # gives its rate when it is still in force at t, else -1.
        tied = [h for h in rows if (h[1], h[4]) == (best[1], best[4])]
        allowed = {h[3] if (h[2] >= t if inclusive else h[2] > t) else -1 for h in tied}
        assert value in allowed
