"""Property tests: the deck reader never crashes on junk, generated decks read back exactly,
and parse_deck rejects and keeps what a row-by-row reference does."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.decks.parse import DeckOptions, parse_deck
from tandem.decks.values import read_money
from tandem.errors import DeckError, MoneyError
from tandem.money import MAX_RATE, parse_decimal, to_scaled

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
        if scaled > MAX_RATE:  # exact, but above the documented limit per minute
            assert i in errors and "limit" in errors[i], (cell, errors.get(i))
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


# -- parse_deck against a row-by-row reference ----------------------------------------------
#
# Every cell is drawn with the fault it carries (None for a good cell) and, for a good
# cell, what it means; the reference then walks the rows one by one, as the README
# describes validation, and names the rows parse_deck must reject and the codes it keeps.

DEC1 = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp())
DEC15 = int(datetime(2026, 12, 15, tzinfo=UTC).timestamp())
SCALE = 10**9

# (cell, fault: a word the reason holds, or None; meaning when good)
BAD_PREFIX = [
    ("44a", "is not digits"),
    ("", "prefix is empty"),
    ("4420-4419", "runs backwards"),
    ("1" * 17, "longer than 16 digits"),
]
BAD_RATE = [("abc", "is not a number"), ("-0.1", "negative rate"), ("1.2.3", "not a number")]
FEES = [("0", None, 0), ("0.01", None, SCALE // 100), ("", None, 0)]
BAD_FEE = [("-1", "negative connection fee"), ("free", "is not a number")]
INCREMENTS = [("60/60", None, (60, 60)), ("1/1", None, (1, 1)), ("30/6", None, (30, 6))]
INCREMENTS += [("60", None, (60, 60)), ("", None, (60, 60))]
BAD_INCREMENT = [("0/0", "must be positive"), ("x", "not a whole number of seconds")]
DATES = [("2026-12-01", None, DEC1), ("2026-12-15", None, DEC15), ("", None, None)]
BAD_DATE = [("2026-02-30", "is not a date"), ("soon", "is not a date")]
STATUSES = [("New", None, "New"), ("Increase", None, "Increase"), ("", None, None)]
STATUSES += [("Closed", None, "Closed"), ("deleted", None, "Closed")]
BAD_STATUS = [("Maybe", "is not one of")]
SECONDS = [("60", None, 60), ("30s", None, 30), ("6", None, 6), ("", None, None)]
BAD_SECONDS = [("0", "must be a positive number"), ("x", "not a whole number of seconds")]
MINIMUM = [("0", None, 0), ("30", None, 30), ("", None, 0)]
BAD_MINIMUM = [("1.5", "not a whole number of seconds")]
OPTIONAL = {  # header: (good cells, bad cells)
    "Destination": ([("UK", None, None), ("", None, None), ("Zone C", None, None)], []),
    "Connection Fee": (FEES, BAD_FEE),
    "Increment": (INCREMENTS, BAD_INCREMENT),
    "Initial Increment": (SECONDS, BAD_SECONDS),
    "Next Increment": (SECONDS, BAD_SECONDS),
    "Minimum Duration": (MINIMUM, BAD_MINIMUM),
    "Effective Date": (DATES, BAD_DATE),
    "Status": (STATUSES, BAD_STATUS),
}


@st.composite
def prefix_cells(draw):
    """A good prefix (a few codes repeat, some written +44 20) or a broken one."""
    if draw(st.integers(0, 9)) == 0:
        cell, fault = draw(st.sampled_from(BAD_PREFIX))
        return cell, fault, None
    code = draw(
        st.one_of(
            st.sampled_from(["44", "4420", "1", "880"]),
            st.from_regex(r"[1-9][0-9]{0,8}", fullmatch=True),
        )
    )
    style = draw(st.integers(0, 3))
    if style == 0:
        return "+" + code, None, code
    if style == 1 and len(code) > 2:
        return f"+{code[:2]} {code[2:]}", None, code
    return code, None, code


@st.composite
def rate_cells(draw):
    """A good rate (0.00000001 to 0.9999: some over 1000 times the median), or a broken one."""
    pick = draw(st.integers(0, 19))
    if pick == 0:
        cell, fault = draw(st.sampled_from(BAD_RATE))
        return cell, fault, None
    if pick == 1:
        return "", "rate is empty", None  # a fault unless the row is Closed
    if pick == 2:
        return "0", None, 0
    digits = draw(st.integers(1, 9999))
    decimals = draw(st.integers(4, 8))
    return format(Decimal(digits).scaleb(-decimals), "f"), None, digits * 10 ** (9 - decimals)


@st.composite
def optional_cells(draw, header):
    good, bad = OPTIONAL[header]
    if bad and draw(st.integers(0, 7)) == 0:
        cell, fault = draw(st.sampled_from(bad))
        return cell, fault, None
    return draw(st.sampled_from(good))


@st.composite
def decks_with_faults(draw):
    """``(headers, rows)``: Code and Rate and some optional columns in any order, 0-30 rows
    of ``{header: (cell, fault, meaning)}``, a few rows blank or a lone note."""
    headers = ["Code", "Rate"] + draw(st.lists(st.sampled_from(sorted(OPTIONAL)), unique=True))
    headers = draw(st.permutations(headers))
    rows = []
    for _ in range(draw(st.integers(0, 30))):
        kind = draw(st.integers(0, 19))
        if kind == 0:
            rows.append({h: ("", None, None) for h in headers})
            continue
        if kind == 1:
            row = {h: ("", None, None) for h in headers}
            note_in = draw(st.sampled_from([h for h in headers if h != "Rate"]))
            row[note_in] = ("Prices exclude VAT", None, None)
            rows.append(row)
            continue
        row = {"Code": draw(prefix_cells()), "Rate": draw(rate_cells())}
        for h in headers:
            if h not in row:
                row[h] = draw(optional_cells(h))
        rows.append(row)
    return headers, rows


TERMS = [
    "rate",
    "connect_fee",
    "initial_increment",
    "next_increment",
    "min_duration",
    "closed",
    "effective_from",
]


def increments(row):
    """Initial and next increment: the Increment pair, each overridden by its own column
    where that has a value; an Initial column alone gives both."""
    initial, nxt = row["Increment"][2] if "Increment" in row else (60, 60)
    if "Initial Increment" in row and row["Initial Increment"][2] is not None:
        initial = row["Initial Increment"][2]
    if "Next Increment" in row and row["Next Increment"][2] is not None:
        nxt = row["Next Increment"][2]
    if "Initial Increment" in row and "Next Increment" not in row and "Increment" not in row:
        nxt = initial
    return initial, nxt


def reference(headers, rows, allow_suspicious):
    """Row by row: ``(rejections as (line, column, reason word), {(prefix, line): terms})``.

    The terms of each code kept: rate, connection fee, initial and next increment,
    minimum duration, closed, effective date.
    """
    data = []  # (line, row) of the rows that hold data
    for i, row in enumerate(rows):
        filled = [h for h in headers if row[h][0].strip()]
        if not filled:
            continue  # a blank row
        if len(filled) == 1 and filled[0] != "Rate" and any(c.isalpha() for c in row[filled[0]][0]):
            continue  # a note line
        data.append((i + 2, row))
    dates = [row["Effective Date"][2] for _, row in data if "Effective Date" in row]
    counted = Counter(d for d in dates if d is not None)
    deck_from = max(counted, key=lambda d: (counted[d], d)) if counted else NOW

    rejected, candidates = [], []
    for line, row in data:
        status = row["Status"][2] if "Status" in row else None
        closed = status == "Closed"
        faults = []
        for h in headers:
            cell, fault, _ = row[h]
            if fault == "rate is empty" and closed:
                continue
            if fault is not None:
                faults.append((line, h, fault))
        rejected.extend(faults)
        if faults:
            continue
        fee = row["Connection Fee"][2] if "Connection Fee" in row else 0
        minimum = row["Minimum Duration"][2] if "Minimum Duration" in row else 0
        date = row["Effective Date"][2] if "Effective Date" in row else None
        rate = 0 if closed else row["Rate"][2]
        terms = (rate, fee, *increments(row), minimum, closed)
        candidates.append((row["Code"][2], date if date is not None else deck_from, line, terms))

    first: dict[tuple[str, int], tuple[int, tuple]] = {}
    kept = []
    for prefix, when, line, terms in candidates:
        seen = first.setdefault((prefix, when), (line, terms))
        if seen[0] == line:
            kept.append((prefix, line, (*terms, when)))
        elif seen[1] != terms:
            rejected.append((line, "Code", "duplicate code"))
            kept.append((prefix, line, (*terms, when)))  # still counted for the median
    live = sorted(t[0] for _, _, t in kept if not t[5] and t[0] > 0)
    if live:
        k = len(live)
        median = int(live[k // 2] if k % 2 else (live[k // 2 - 1] + live[k // 2]) / 2)
        over = {line for _, line, t in kept if not t[5] and t[0] > median * 1000}
        if not allow_suspicious:
            rejected.extend((line, "Rate", "suspicious") for line in over)
    bad_lines = {r[0] for r in rejected}
    return sorted(rejected), {(p, ln): t for p, ln, t in kept if ln not in bad_lines}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(decks_with_faults(), st.booleans())
def test_parse_deck_rejects_what_a_row_by_row_reference_rejects(deck, allow_suspicious):
    """Every rejection (line, column, reason) and every kept code as the reference finds them."""
    headers, rows = deck
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(headers)
    w.writerows([row[h][0] for h in headers] for row in rows)
    parsed = parse_deck(
        out.getvalue().encode("utf-8"),
        DeckOptions(allow_suspicious=allow_suspicious),
        now=NOW,
        source_name="ref.csv",
    )
    expected, kept = reference(headers, rows, allow_suspicious)
    got = [(r.line, r.column) for r in parsed.rejected]
    assert got == [(line, column) for line, column, _ in expected]
    for r, (_, _, word) in zip(parsed.rejected, expected, strict=True):
        assert word in r.reason, (r, word)
    columns = [parsed.rates[c].tolist() for c in ["prefix", "line", *TERMS]]
    got_terms = {(prefix, line): terms for prefix, line, *terms in zip(*columns, strict=True)}
    assert got_terms == {key: list(terms) for key, terms in kept.items()}
