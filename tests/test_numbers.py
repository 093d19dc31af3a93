"""One set of E.164 rules: tandem.numbers, and every caller held to the same answer.

The callers: translation with the default rules (``normalize`` and ``translate``), the
rater's single call (``price_call``) and batch (``e164_digits_array``, ``Rater.price``),
and the ENUM resolver (which builds the RFC 6116 domain with ``dns.e164``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import dns.e164
import dns.name
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rating_helpers import rates_frame

from tandem.enum.resolver import EnumResolver, Server
from tandem.errors import ConfigError, NumberError
from tandem.lcr.translate import DEFAULT_RULES, TranslationRules, normalize, translate
from tandem.numbers import (
    INTERNATIONAL_PREFIXES,
    MAX_DIGITS,
    SEPARATORS,
    check_digits,
    compact,
    e164_digits,
)
from tandem.rating.cdr import canonical_table
from tandem.rating.keys import e164_digits_array
from tandem.rating.price import Rater, price_call

T0 = int(datetime(2026, 11, 2, 12, 0, tzinfo=UTC).timestamp())
#: One prefix per possible first digit: every E.164 number is rated, on its first digit.
RATES = rates_frame(
    [
        dict(account="c1", kind="customer", prefix=str(d), rate="0.01", effective_from=0)
        for d in range(1, 10)
    ]
)
RATER = Rater.from_rates(RATES)
ORIGIN = dns.name.from_text("e164.arpa.")
#: Port 9 (discard) on loopback: nothing answers, so a lookup ends quickly as a failure;
#: what matters here is whether the number was accepted and which domain was asked.
RESOLVER = EnumResolver([Server("127.0.0.1", 9)], budget_ms=5)


# -- the edge cases -------------------------------------------------------------------------

ACCEPTED = [
    ("442079460000", "442079460000"),
    ("+442079460000", "442079460000"),
    ("00442079460000", "442079460000"),
    ("011442079460000", "442079460000"),
    ("+44 20 7946 0000", "442079460000"),
    ("+1 (212) 555-0100", "12125550100"),
    ("44.20.7946.0000", "442079460000"),
    (" 442079460000\r\n", "442079460000"),
    ("\t+44\t20", "4420"),
    ("0 0 44 20", "4420"),  # separators go first, then the international prefix
    ("( +44 ) 20", "4420"),
    ("+-44", "44"),
    ("1", "1"),  # one digit: a country code alone is still a number
    ("1" * MAX_DIGITS, "1" * MAX_DIGITS),
    ("+" + "9" * MAX_DIGITS, "9" * MAX_DIGITS),
    ("0011", "11"),  # 00 then 11, not 0 then 011
]

REFUSED = [
    ("", "empty number"),
    ("   ", "empty number"),
    ("-().", "empty number"),
    ("+", "no digits left"),
    ("00", "no digits left"),
    ("011", "no digits left"),
    ("+ -", "no digits left"),
    ("02079460000", "starts with 0"),  # a national number
    ("0", "starts with 0"),
    ("+0442079460000", "starts with 0"),
    ("000442079460000", "starts with 0"),
    ("0110", "starts with 0"),  # 011 then 0
    ("(0)20 7946 0000", "starts with 0"),
    ("1" * (MAX_DIGITS + 1), "16 digits; E.164 allows at most 15"),
    ("+44 " + "1" * 14, "16 digits"),
    ("++44", "contains '\\+'"),
    ("44+20", "contains '\\+'"),
    ("44a", "contains 'a'"),
    ("44*20", "contains '\\*'"),
    ("#12344", "contains '#'"),
    ("44/20", "contains '/'"),
    ("44_20", "contains '_'"),
    ("sip:+44@example.com", "contains 's'"),
    ("٤٤٢٠", "contains"),  # Arabic-Indic digits are digits, but not E.164's
    ("４４", "contains"),  # full-width digits
    ("44\u00a020", "contains '\\\\xa0'"),  # no-break space: only ASCII whitespace is dropped
    ("4420\x00", "contains"),
]


@pytest.mark.parametrize(("text", "digits"), ACCEPTED)
def test_accepted(text, digits):
    assert e164_digits(text) == digits
    assert callers(text) == digits


@pytest.mark.parametrize(("text", "message"), REFUSED)
def test_refused(text, message):
    with pytest.raises(NumberError, match=message) as caught:
        e164_digits(text)
    assert repr(text) in str(caught.value)  # the message names the number as given
    assert callers(text) is None


@pytest.mark.parametrize("value", [None, 442079460000, b"442079460000", 4.4e11])
def test_not_text(value):
    with pytest.raises(NumberError, match="must be text"):
        e164_digits(value)
    with pytest.raises(NumberError, match="must be text"):
        translate(value)  # type: ignore[arg-type]
    assert price_call(value, T0, 60, account="c1", rates=RATES).reason == "bad_number"


def test_the_rules_as_data():
    assert MAX_DIGITS == 15
    # No international prefix begins another, and none can begin an E.164 number.
    for a in INTERNATIONAL_PREFIXES:
        assert a[0] in "+0"
        assert not any(b != a and b.startswith(a) for b in INTERNATIONAL_PREFIXES)
    assert not any(ch.isdigit() or ch == "+" for ch in SEPARATORS)
    assert DEFAULT_RULES.international_prefixes == INTERNATIONAL_PREFIXES


def test_the_pieces_translation_uses():
    assert compact(" +44 (20) 7946-0000 ") == "+442079460000"
    assert check_digits("442079460000", "+44 20 7946 0000") == "442079460000"
    with pytest.raises(NumberError, match="'0207' normalises to '0207'"):
        check_digits("0207", "0207")


# -- every caller agrees --------------------------------------------------------------------


def callers(text: str) -> str | None:
    """What each caller makes of ``text`` (the digits, or None when refused), checked to be
    the same everywhere; ``e164_digits`` itself is the reference."""
    try:
        expected: str | None = e164_digits(text)
    except NumberError:
        expected = None
    # translation with the default rules, both entry points
    try:
        got = normalize(text)
    except NumberError:
        got = None
    assert got == (None if expected is None else (expected, "")), ("normalize", text)
    try:
        translated = translate(text).normalized
    except NumberError:
        translated = None
    assert translated == expected, ("translate", text)
    # rating: the single call is rated on the first digit, or bad_number
    one = price_call(text, T0, 60, account="c1", rates=RATES)
    if expected is None:
        assert one.reason == "bad_number", ("price_call", text, one)
    else:
        assert (one.reason, one.prefix) == (None, expected[0]), ("price_call", text, one)
    # rating: the batch, on its own and inside Rater.price
    assert e164_digits_array(pa.array([text])).to_pylist() == [expected], ("array", text)
    priced = RATER.price(
        canonical_table(
            pa.table(
                {
                    "start": [T0],
                    "duration": [60],
                    "number": pa.array([text], pa.string()),
                    "customer": ["c1"],
                    "carrier": ["v1"],
                }
            )
        )
    ).to_pylist()[0]
    assert priced["rated_number"] == expected, ("Rater.price", text)
    assert priced["sell_reason"] == (None if expected is not None else "bad_number")
    # ENUM: accepted numbers are asked for under the RFC 6116 domain dns.e164 builds
    result = RESOLVER.resolve(text)
    if expected is None:
        assert result.cache == "none" and result.info.failed, ("enum", text, result)
    else:
        assert result.info.number == expected, ("enum", text, result)
        domain = dns.name.from_text(result.domain)
        assert dns.e164.to_e164(domain, origin=ORIGIN) == "+" + expected
    return expected


#: Text that is close to a number: digits, prefixes, separators and a few intruders.
_near_numbers = st.text(alphabet="+0011234567899 -.()\t\n#*ax\u00a0٤", max_size=20)
_anything = st.text(max_size=20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_near_numbers, _anything))
def test_every_caller_agrees_on_random_text(text):
    callers(text)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(_near_numbers, _anything, st.none()), max_size=40),
    st.integers(0, 5),
)
def test_batch_agrees_with_the_scalar_rules(texts, offset):
    """Whatever the mix of a batch (all plain, some with separators, nulls), and on sliced
    and chunked arrays, each row gets what e164_digits gives it alone."""

    def scalar(text):
        try:
            return e164_digits(text)
        except NumberError:
            return None

    expected = [scalar(t) for t in texts]
    assert e164_digits_array(pa.array(texts, pa.string())).to_pylist() == expected
    padded = pa.array(["+1"] * offset + texts, pa.string()).slice(offset)
    assert e164_digits_array(padded).to_pylist() == expected
    half = len(texts) // 2
    chunked = pa.chunked_array([texts[:half], texts[half:]], pa.string())
    assert e164_digits_array(chunked).to_pylist() == expected


# -- translation: a national prefix needs the customer's own international prefixes ---------


def test_national_prefix_clashing_with_a_default_international_prefix():
    with pytest.raises(ConfigError, match="begins the default international prefix"):
        TranslationRules.from_mapping({"national_prefix": "0", "country_code": "44"})
    uk = TranslationRules.from_mapping(
        {"national_prefix": "0", "country_code": "44", "international_prefixes": ["+", "00"]}
    )
    assert translate("01132123456", uk).normalized == "441132123456"  # Leeds, not Belgium
    nanp = TranslationRules.from_mapping({"national_prefix": "1", "country_code": "1"})
    assert translate("011442079460000", nanp).normalized == "442079460000"
